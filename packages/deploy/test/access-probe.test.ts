/**
 * The permission probe of `storages check` is a child process: one that cannot start (node gone
 * with an upgrade, a sandbox refusing to spawn) or that gets no answer from a slow mount within
 * its 60 s must become a finding, not a crash that loses the whole report. The probe's real
 * `execFile` runs, only pointed at a binary that is not there, or at a child that never answers
 * with a timeout of a few milliseconds (so no test waits a minute).
 */
import type * as ChildProcess from "node:child_process";
import { execFileSync } from "node:child_process";
import { rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { checkDeployment } from "../src/index.js";
import { makeSite, type Site } from "./support/site.js";

const sabotage = vi.hoisted(() => ({ mode: "none" as "none" | "no-binary" | "no-answer" }));

vi.mock("node:child_process", async (importOriginal) => {
  const real = await importOriginal<typeof ChildProcess>();
  const execFile = (file: string, args: string[], options: object, callback: never) => {
    if (file !== process.execPath || sabotage.mode === "none")
      return real.execFile(file, args, options, callback);
    if (sabotage.mode === "no-binary") return real.execFile("/nonexistent/node", args, options, callback);
    return real.execFile(file, ["-e", "setInterval(() => {}, 1000)"], { ...options, timeout: 50 }, callback);
  };
  return { ...real, execFile };
});

let site: Site;
beforeEach(async () => {
  site = await makeSite();
});
afterEach(async () => {
  sabotage.mode = "none";
  await site.cleanup();
});

const check = () =>
  checkDeployment({ env: site.env, cwd: site.root, configFile: false, network: false, mountInfo: "" });

describe("storages check: a permission probe that gives no result", () => {
  it("runs, and passes, when the probe works (the sabotage is off)", async () => {
    const report = await check();
    expect(report.findings).toEqual([]);
  });

  for (const [mode, reason] of [
    ["no-binary", "could not be started (ENOENT)"],
    ["no-answer", "no answer within 60 s (stopped)"],
  ] as const) {
    it(`${mode}: an error finding naming what was not checked and how to check it by hand; the rest of the report stays`, async () => {
      // A second problem, that a later check finds: the report must still hold it.
      await rm(join(site.staticDir, "staticfiles.json"));
      sabotage.mode = mode;
      const report = await check();
      expect(report.ok).toBe(false);
      expect(report.findings.map((f) => [f.id, f.severity])).toEqual([
        ["access-probe-failed", "error"],
        ["manifest-missing", "error"],
      ]);
      const finding = report.findings[0]!;
      expect(finding.message).toContain(reason);
      expect(finding.message).toContain(site.mediaDir);
      expect(finding.fix).toContain(`find '${site.mediaDir}' -type l`);
      expect(report.notes.some((n) => n.startsWith("permissions:"))).toBe(false);
    });
  }

  it("the commands to check by hand run as printed for a media folder named with a space and a quote", async () => {
    const tricky = join(site.shared, "it's my media");
    await rename(site.mediaDir, tricky);
    sabotage.mode = "no-binary";
    const report = await checkDeployment({
      env: { ...site.env, STORAGES_DEFAULT: `${pathToFileURL(tricky).href}?publicUrl=/media/` },
      cwd: site.root,
      configFile: false,
      network: false,
      mountInfo: "",
    });
    const fix = report.findings.find((f) => f.id === "access-probe-failed")!.fix;
    const commands = [...fix.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
    expect(commands).toContain(`find '${join(site.shared, "it'\\''s my media")}' -type l`);
    // Each runs (sh exits 0: the folders are there, and root may write them); no link leads out.
    for (const command of commands) {
      const output = execFileSync("sh", ["-c", command]).toString();
      if (command.endsWith("-type l")) expect(output).toBe("");
    }
  });
});
