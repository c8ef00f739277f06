/**
 * The GCS driver through the fault proxy to the real server (the Cloud Storage emulator in CI):
 * retries, timeouts, cut uploads and downloads, secrets, and the concurrency soak
 * (@storages/testing describeFaults), plus the SDK defects this driver must not inherit.
 */
import { randomBytes } from "node:crypto";
import { Storage, StorageError } from "@storages/core";
import { describeFaults, expectNoSecretIn, FaultProxy } from "@storages/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GcsDriver, type GcsDriverOptions } from "../src/index.js";
import { NO_SERVER_MESSAGE, testServer, throwawayKey } from "./server.js";

const server = testServer();

if (server?.endpoint === undefined) {
  describe("gcs faults", () => {
    it("needs a GCS test server with an endpoint (the emulator)", () => {
      throw new Error(NO_SERVER_MESSAGE);
    });
  });
} else {
  const upstream = server.endpoint;
  const bucket = server.bucket ?? `storages-faults-${randomBytes(5).toString("hex")}`;
  const key = throwawayKey();
  const drivers: GcsDriver[] = [];
  let bucketReady: Promise<void> | undefined;
  const options = (endpoint: string, prefix: string): GcsDriverOptions => ({
    bucket,
    prefix: `${prefix}/`,
    projectId: server.projectId,
    endpoint,
    credentials: key,
    uniformAccess: true,
  });
  const create = async (driverOptions: GcsDriverOptions) => {
    const driver = new GcsDriver(driverOptions);
    drivers.push(driver);
    bucketReady ??= server.bucket
      ? Promise.resolve()
      : driver.client.createBucket(bucket).then(
          () => undefined,
          () => undefined,
        );
    await bucketReady;
    return driver;
  };

  describeFaults({
    name: "gcs",
    server: server.label,
    dialect: "gcs",
    upstream,
    createDriver: ({ endpoint, prefix }) => create(options(endpoint, prefix)),
    leftoversGap:
      "GCS has no API that lists resumable upload sessions; an unfinalised session stores nothing visible and expires after a week",
    secrets: [key.private_key, JSON.stringify(key)],
    badCredentialsGap: "the Cloud Storage emulator checks no credentials",
    conditionalWriteGap:
      server.kind === "firebase-emulator"
        ? "the Cloud Storage emulator ignores ifGenerationMatch: 0 and overwrites"
        : undefined,
    async teardown() {
      if (!server.bucket && drivers.length > 0) await drivers[0]!.bucket.delete().catch(() => undefined);
    },
  });

  describe("gcs: SDK defects the driver must not inherit", () => {
    let proxy: FaultProxy;
    beforeAll(async () => {
      proxy = await FaultProxy.start({ upstream, dialect: "gcs" });
    });
    afterAll(() => proxy.close());

    it("a 503 answer to a media download is retried by the storage, on a client that never retried anything before", async () => {
      const prefix = `defects-${randomBytes(4).toString("hex")}`;
      const setup = new Storage(await create(options(upstream, prefix)));
      await setup.save("x.txt", "hello");
      // A fresh driver: the SDK's own retried download (on a client whose retries were still on)
      // piped the retried response into a destroyed stream and crashed the process.
      const storage = new Storage(await create(options(proxy.url, prefix)), { retry: { baseDelay: 1 } });
      const handle = proxy.inject({ kind: "download", times: 2, fault: { type: "status", status: 503 } });
      expect((await storage.readBytes("x.txt")).toString()).toBe("hello");
      expect(handle.injected).toBe(2);
      await new Promise((resolve) => setTimeout(resolve, 1_000)); // a late crash would land here
      await setup.delete("x.txt");
    });

    it("a save that replaces a file leaves the client's retries as they were: off, the storage's policy decides", async () => {
      // The SDK's simple upload without a precondition set the shared client's autoRetry to false
      // and never restored it: retries then depended on whether such a save had happened yet.
      const prefix = `defects-${randomBytes(4).toString("hex")}`;
      const driver = await create(options(upstream, prefix));
      const storage = new Storage(driver);
      const before = driver.client.retryOptions.autoRetry;
      await storage.save("small.txt", "a", { overwrite: true });
      await storage.save("large.bin", Buffer.alloc(9 * 1024 * 1024, 1), { overwrite: true });
      await storage.save("created.txt", "b");
      expect(driver.client.retryOptions.autoRetry).toBe(before);
      expect(before).toBe(false);
      await storage.deleteMany(["small.txt", "large.bin", "created.txt"]);
    });

    it("a key the signer cannot use: refused when the driver is made, a typed error that quotes no key material", async () => {
      const body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7notakeyatall";
      const broken = {
        ...key,
        private_key: `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`,
      };
      let error: unknown;
      try {
        new GcsDriver({ ...options(upstream, "signing"), credentials: broken });
      } catch (thrown) {
        error = thrown;
      }
      expect(StorageError.isInstance(error), String(error)).toBe(true);
      expect((error as StorageError).code).toBe("E_CONFIG");
      expect((error as Error).message).toContain("not a readable PEM key");
      expectNoSecretIn(error, [body, broken.private_key, JSON.stringify(broken)], "the configuration error");
    });

    it("an object whose metadata has no size is never reported with a made-up size", async () => {
      const prefix = `defects-${randomBytes(4).toString("hex")}`;
      const setup = new Storage(await create(options(upstream, prefix)));
      await setup.save("x.txt", "hello");
      const storage = new Storage(await create(options(proxy.url, prefix)), { retry: false });
      const withoutSize = (body: Buffer) => {
        const json = JSON.parse(body.toString()) as { size?: unknown; items?: Array<{ size?: unknown }> };
        delete json.size;
        for (const item of json.items ?? []) delete item.size;
        return Buffer.from(JSON.stringify(json));
      };
      proxy.inject({
        kind: ["metadata", "list"],
        times: Number.POSITIVE_INFINITY,
        fault: { type: "rewrite", transform: withoutSize },
      });
      try {
        const stat = await storage.stat("x.txt").catch((error: unknown) => error);
        expect((stat as { size?: number }).size, "stat reported a size the server never gave").not.toBe(0);
        expect(Number.isNaN((stat as { size?: number }).size)).toBe(false);
        if (!(stat instanceof Error)) expect((stat as { size: number }).size).toBe(5);
        const listed = await storage.listPage("").catch((error: unknown) => error);
        if (!(listed instanceof Error)) {
          for (const entry of (listed as { entries: Array<{ size?: number }> }).entries)
            expect(entry.size === undefined || entry.size === 5).toBe(true);
        }
      } finally {
        proxy.clear();
        await setup.delete("x.txt");
      }
    });
  });
}
