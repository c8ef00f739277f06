/**
 * `storages check --base-url` writes a probe file into every media storage: a write that fails (a
 * folder on a read-only mount, a file where the folder should be, a backend that refuses, no
 * answer in time) is a finding about that storage, never a crash that loses the report, and no
 * probe is left behind. The site is a loopback port nobody listens on: nothing leaves the machine.
 */
import { execFileSync } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import {
  type DriverWriteOptions,
  type DriverWriteResult,
  MemoryDriver,
  PermissionDeniedError,
  Storage,
} from "@storages/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type CheckOptions, checkDeployment } from "../src/index.js";
import { freePort, makeSite, type Site } from "./support/site.js";

let site: Site;
let baseUrl: string;
beforeEach(async () => {
  site = await makeSite();
  baseUrl = `http://127.0.0.1:${await freePort()}/`;
});
afterEach(async () => {
  await site.cleanup();
});

const check = (extra: Partial<CheckOptions> = {}) =>
  checkDeployment({
    env: site.env,
    cwd: site.root,
    configFile: false,
    mountInfo: "",
    network: true,
    baseUrl,
    timeout: 2_000,
    ...extra,
  });

/** A media storage in memory whose writes `refuse` turns down: a bucket that says no, or never answers. */
class RefusingDriver extends MemoryDriver {
  constructor(readonly refuse: (key: string, options: DriverWriteOptions) => Promise<void>) {
    super({ baseUrl: "/uploads/" });
  }
  override async writeBytes(
    key: string,
    bytes: Uint8Array,
    options: DriverWriteOptions,
  ): Promise<DriverWriteResult> {
    await this.refuse(key, options);
    return super.writeBytes(key, bytes, options);
  }
}

describe("storages check --base-url: a media probe that cannot be written", () => {
  it.runIf(process.getuid?.() === 0)(
    "a media folder on a read-only mount: an error naming it; the other storages are still checked",
    async (context) => {
      try {
        execFileSync("mount", ["--bind", site.mediaDir, site.mediaDir]);
      } catch {
        context.skip(); // no CAP_SYS_ADMIN (an unprivileged container)
      }
      try {
        execFileSync("mount", ["-o", "remount,bind,ro", site.mediaDir]);
        const report = await check();
        expect(report.ok).toBe(false);
        const media = report.findings.filter((f) => f.storage === "default");
        expect(media.map((f) => [f.id, f.severity])).toEqual([["media-not-writable", "error"]]);
        expect(media[0]!.message).toContain(`could not write a test file to ${site.mediaDir}`);
        expect(media[0]!.message).toContain("read-only");
        expect(media[0]!.fix).toContain("mounted read-write");
        expect(report.notes).toContain("media default: not probed (the test file could not be written)");
        // The rest of the report: the private storage probed, the static URLs requested.
        expect(report.notes).toContain("media private (private): 0 of 1 unsigned URL(s) answered");
        const unreachable = report.findings.filter((f) => f.id === "url-unreachable").map((f) => f.storage);
        expect(unreachable.sort()).toEqual(["private", "staticfiles"]);
      } finally {
        execFileSync("umount", [site.mediaDir]);
      }
      expect(await readdir(site.mediaDir)).not.toContain("_storages-check");
    },
  );

  it("a file where the media folder should be: said once (the permission probe says it), and the report goes on", async () => {
    const file = join(site.shared, "media.tar");
    await writeFile(file, "");
    const report = await check({
      env: { ...site.env, STORAGES_DEFAULT: `file://${file}?publicUrl=/media/` },
    });
    const media = report.findings.filter((f) => f.storage === "default");
    expect(media.map((f) => f.id)).toEqual(["media-not-writable"]);
    expect(media[0]!.message).toContain(`${file} is not a folder`);
    expect(report.notes).toContain("media default: not probed (the test file could not be written)");
    expect(report.notes).toContain("media private (private): 0 of 1 unsigned URL(s) answered");
  });

  it("a backend that refuses the second probe: an error naming the storage, and the first probe removed", async () => {
    const driver = new RefusingDriver(async (key) => {
      if (key.endsWith(".html")) throw new PermissionDeniedError("The bucket policy denies s3:PutObject.");
    });
    const report = await check({ storages: { uploads: new Storage(driver, { visibility: "public" }) } });
    const uploads = report.findings.filter((f) => f.storage === "uploads");
    expect(uploads.map((f) => [f.id, f.severity])).toEqual([
      ["media-in-memory", "error"],
      ["bucket-credentials", "error"],
    ]);
    expect(uploads[1]!.message).toContain(
      "writing a test file was refused: The bucket policy denies s3:PutObject.",
    );
    expect(driver.keys()).toEqual([]);
    expect(report.notes).toContain("media private (private): 0 of 1 unsigned URL(s) answered");
  });

  it("a backend that does not answer in time, whose write lands after: an error, and the probe removed all the same", async () => {
    const driver = new RefusingDriver(
      (key, options) =>
        new Promise((_resolve, reject) => {
          options.signal.addEventListener("abort", () => {
            // The service got the object after the client gave up.
            void MemoryDriver.prototype.writeBytes.call(driver, key, new Uint8Array(), {
              ...options,
              signal: new AbortController().signal,
            });
            reject(options.signal.reason);
          });
        }),
    );
    const report = await check({
      storages: { uploads: new Storage(driver, { visibility: "private" }) },
      timeout: 200,
    });
    const uploads = report.findings.filter((f) => f.storage === "uploads");
    expect(uploads.map((f) => f.id)).toEqual(["media-in-memory", "bucket-unreachable"]);
    expect(uploads[1]!.message).toContain("E_TIMEOUT");
    expect(driver.keys()).toEqual([]);
  });

  it("Ctrl-C while the probes are written: the check stops, and removes them on its way out", async () => {
    const controller = new AbortController();
    const driver = new RefusingDriver(async (key) => {
      if (key.endsWith(".html")) controller.abort(new Error("SIGINT"));
    });
    await expect(
      check({
        storages: { uploads: new Storage(driver, { visibility: "public" }) },
        signal: controller.signal,
      }),
    ).rejects.toThrow();
    expect(driver.keys()).toEqual([]);
  });
});
