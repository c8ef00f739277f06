import { MemoryDriver, Storage } from "@storages/core";
import { describe, expect, it } from "vitest";
import { gapTable } from "../src/conformance.js";
import { SuiteContext } from "../src/context.js";
import { describeConformance } from "../src/index.js";

describe("server gaps", () => {
  const ctx = new SuiteContext({
    name: "fake",
    server: "Fake Server 1.0",
    createStorage: async () => new Storage(new MemoryDriver()),
    serverGaps: { signatureTamper: "the server never checks signatures" },
  });
  let ran = false;
  ctx.verify("a check the server performs", ["signatureExpiry"], async () => {
    ran = true;
  });
  ctx.verify("a check the server cannot perform", ["signatureTamper", "signatureExpiry"], async () => {
    throw new Error("a gap's test body must never run");
  });

  it("runs checks without a gap, and registers gaps as skipped NOT VERIFIABLE tests with the reason", ({
    task,
  }) => {
    expect(ran).toBe(true);
    const registered = (task.suite?.tasks ?? []).map((t) => ({ name: t.name, mode: t.mode }));
    expect(registered).toContainEqual({ name: "a check the server performs", mode: "run" });
    expect(registered).toContainEqual({
      name: "NOT VERIFIABLE on Fake Server 1.0: signatureTamper: the server never checks signatures — a check the server cannot perform",
      mode: "skip",
    });
    expect(ctx.gapRows).toEqual([{ gaps: ["signatureTamper"], test: "a check the server cannot perform" }]);
  });

  // Two more skipped NOT VERIFIABLE tests: one prevented by two gaps, one by one.
  const two = new SuiteContext({
    name: "fake",
    server: "Fake Server 1.0",
    createStorage: async () => new Storage(new MemoryDriver()),
    serverGaps: { signedUploadPut: "no PUT uploads", uploadSizeLimit: "no size limit" },
  });
  two.verify("PUT over maxBytes is refused", ["signedUploadPut", "uploadSizeLimit"], async () => {});
  two.verify("POST over maxBytes is refused", ["uploadSizeLimit"], async () => {});

  it("counts a check that several gaps prevent once: the banner agrees with the skipped tests", () => {
    const table = gapTable(two).split("\n");
    expect(table[0]).toMatch(/^@storages\/testing: 2 check\(s\) NOT VERIFIABLE on Fake Server 1\.0/);
    expect(table.slice(1, 3)).toEqual([
      "  signedUploadPut, uploadSizeLimit PUT over maxBytes is refused",
      "  uploadSizeLimit   POST over maxBytes is refused",
    ]);
    expect(table.slice(3)).toEqual([
      "Reasons:",
      "  signedUploadPut   no PUT uploads",
      "  uploadSizeLimit   no size limit",
    ]);
  });

  it("describeConformance refuses unknown gap names and gaps without a reason", () => {
    const base = { name: "x", server: "y", createStorage: async () => new Storage(new MemoryDriver()) };
    expect(() =>
      describeConformance({ ...base, serverGaps: { signatureTampering: "typo" } as never }),
    ).toThrow(/unknown serverGaps key "signatureTampering"/);
    expect(() => describeConformance({ ...base, serverGaps: { anonymousAccess: " " } })).toThrow(
      /needs a reason/,
    );
    expect(() => describeConformance({ ...base, largeFileSize: -1 })).toThrow(/largeFileSize/);
  });

  it("prefixes are unique, short and valid as bucket names", () => {
    const prefixes = Array.from({ length: 50 }, () => ctx.nextPrefix());
    expect(new Set(prefixes).size).toBe(50);
    for (const prefix of prefixes) expect(prefix).toMatch(/^[a-z0-9][a-z0-9-]{2,39}$/);
  });
});
