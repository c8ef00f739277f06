import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { crc32cUpdate } from "@storages/core";
import { describe, expect, it } from "vitest";
import {
  collect,
  crc32c,
  DeterministicBody,
  dispositionFilename,
  findSecretLeak,
  hashStream,
  randomBytes,
  slowBody,
  streamOf,
  tamperSignature,
} from "../src/index.js";

describe("helpers", () => {
  it("randomBytes gives n fresh bytes", () => {
    const a = randomBytes(64);
    expect(a.byteLength).toBe(64);
    expect(a.equals(randomBytes(64))).toBe(false);
  });

  it("streamOf and collect round-trip strings and bytes, split multi-byte characters included", async () => {
    const euro = Buffer.from("€");
    const stream = streamOf("a", euro.subarray(0, 1), euro.subarray(1), new Uint8Array([0x62]));
    expect(stream).toBeInstanceOf(Readable);
    expect((await collect(stream)).toString()).toBe("a€b");
    const web = new Blob(["web ", "stream"]).stream();
    expect((await collect(web)).toString()).toBe("web stream");
    expect(
      (
        await collect(
          (async function* () {
            yield "x";
            yield new Uint8Array([0x79]);
          })(),
        )
      ).toString(),
    ).toBe("xy");
  });

  it("crc32c matches the standard check value and core's implementation", () => {
    expect(crc32c(Buffer.from("123456789"))).toBe("e3069283");
    expect(crc32c(new Uint8Array(0))).toBe("00000000");
    const data = randomBytes(10_000);
    expect(crc32c(data)).toBe(crc32cUpdate(0, data).toString(16).padStart(8, "0"));
  });

  it("DeterministicBody: any slice equals the same bytes of the whole stream", async () => {
    const body = new DeterministicBody(3 * 1024 * 1024 + 5, 9);
    const whole = await collect(body.stream(100_000));
    expect(whole.byteLength).toBe(body.size);
    expect(createHash("sha256").update(whole).digest("hex")).toBe(body.sha256());
    for (const [start, end] of [
      [0, 1],
      [15, 17],
      [1_048_570, 1_048_590],
      [body.size - 3, body.size + 10],
    ] as const) {
      expect(body.slice(start, end).equals(whole.subarray(start, end))).toBe(true);
    }
    expect(new DeterministicBody(32, 1).slice(0, 32).equals(new DeterministicBody(32, 2).slice(0, 32))).toBe(
      false,
    );
    expect(await hashStream(body.stream())).toEqual({ sha256: body.sha256(), size: body.size });
  });

  it("slowBody counts chunks, stops at its limit, and answers return() while stalled", async () => {
    const counts: number[] = [];
    const all = await collect(slowBody({ chunkSize: 10, limit: 30, onChunk: (n) => counts.push(n) }));
    expect(all.byteLength).toBe(30);
    expect(counts).toEqual([1, 2, 3]);
    const iterator = slowBody({ chunkSize: 4, stallAfter: 1 })[Symbol.asyncIterator]();
    expect((await iterator.next()).done).toBe(false);
    const stalled = iterator.next();
    await iterator.return?.();
    expect((await stalled).done).toBe(true);
  });
});

describe("URL helpers", () => {
  it("tamperSignature changes one character of a known signature parameter", () => {
    const url =
      "http://127.0.0.1:7480/b/k.txt?X-Amz-Date=20240101T000000Z&X-Amz-Signature=abcdef0123456789&x-id=GetObject";
    const tampered = new URL(tamperSignature(url));
    const original = new URL(url);
    const a = original.searchParams.get("X-Amz-Signature") ?? "";
    const b = tampered.searchParams.get("X-Amz-Signature") ?? "";
    expect(b).not.toBe(a);
    expect(b.length).toBe(a.length);
    expect([...a].filter((c, i) => c !== b[i])).toHaveLength(1);
    expect(tampered.searchParams.get("X-Amz-Date")).toBe("20240101T000000Z");
    expect(tampered.pathname).toBe(original.pathname);
  });

  it("tamperSignature falls back to the longest parameter, and keeps base64 in its alphabet", () => {
    const url = "http://127.0.0.1:10000/acct/c/k?sv=2024&sp=r&sig=Zz9%2Babc%3D&se=2030";
    const value = new URL(tamperSignature(url)).searchParams.get("sig") ?? "";
    expect(value).not.toBe("Zz9+abc=");
    expect(value).toMatch(/^[A-Za-z0-9+/=]+$/);
    const unknown = new URL(tamperSignature("http://127.0.0.1/f?e=1&opaque=XXXXXXXXXXXX")).searchParams;
    expect(unknown.get("opaque")).not.toBe("XXXXXXXXXXXX");
    expect(unknown.get("e")).toBe("1");
    expect(() => tamperSignature("http://127.0.0.1/no-query")).toThrow(/no query parameter/);
  });

  it("dispositionFilename prefers filename* and unescapes quoted names", () => {
    expect(dispositionFilename(`attachment; filename="a_.pdf"; filename*=UTF-8''%C3%A9t%C3%A9%20x.pdf`)).toBe(
      "été x.pdf",
    );
    expect(dispositionFilename('attachment; filename="say \\"hi\\".txt"')).toBe('say "hi".txt');
    expect(dispositionFilename("attachment; filename=plain.txt")).toBe("plain.txt");
    expect(dispositionFilename("attachment")).toBeUndefined();
    expect(dispositionFilename(null)).toBeUndefined();
  });

  it("findSecretLeak spots live signatures and keys, and accepts redacted ones", () => {
    expect(findSecretLeak("GET https://b.s3/k?X-Amz-Signature=deadbeef failed")).toMatch(
      /X-Amz-Signature=deadbeef/,
    );
    expect(findSecretLeak("https://a.blob/c/k?sv=1&sig=abc%3D")).toBeDefined();
    expect(
      findSecretLeak("DefaultEndpointsProtocol=http;AccountName=a;AccountKey=Eby8vdM02x==;"),
    ).toBeDefined();
    expect(findSecretLeak("-----BEGIN PRIVATE KEY-----\nMII")).toBeDefined();
    expect(findSecretLeak("https://b.s3/k?X-Amz-Signature=[redacted]&sig=[redacted]")).toBeUndefined();
    expect(findSecretLeak('Invalid name "design=final.txt"')).toBeUndefined();
  });
});

describe("dispositionFilename strictness", () => {
  it("ignores a filename* without its charset prefix (browsers do too)", () => {
    expect(dispositionFilename("attachment; filename*=Relev%C3%A9%20de%20compte.pdf")).toBeUndefined();
    expect(dispositionFilename("attachment; filename*=utf-8'en'a%20b.txt")).toBe("a b.txt");
  });
});
