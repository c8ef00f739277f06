/**
 * What the driver sends for copies, with a stub ContainerClient: Azurite finishes every async copy
 * at once, so polling, abort and failure of a pending copy can only be driven this way.
 */
import { type ContainerClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { AzureDriver, SYNC_COPY_MAX_BYTES } from "../../src/index.js";

interface Call {
  blob: string;
  method: string;
  args: unknown[];
}

function stubContainer(options: { sourceSize: number; statuses?: string[] }) {
  const calls: Call[] = [];
  const statuses = [...(options.statuses ?? [])];
  const blob = (name: string) => {
    const url = `https://acct.blob.core.windows.net/media/${encodeURIComponent(name)}`;
    const record = (method: string, ...args: unknown[]) => calls.push({ blob: name, method, args });
    return {
      url,
      async getProperties(...args: unknown[]) {
        record("getProperties", ...args);
        if (name.endsWith("src.bin")) return { contentLength: options.sourceSize, etag: '"0x1"' };
        return { copyStatus: statuses.shift() ?? "success" };
      },
      async syncCopyFromURL(...args: unknown[]) {
        record("syncCopyFromURL", ...args);
        return {};
      },
      async beginCopyFromURL(...args: unknown[]) {
        record("beginCopyFromURL", ...args);
        return { stopPolling() {}, getOperationState: () => ({ copyId: "copy-1", isCompleted: false }) };
      },
      async abortCopyFromURL(...args: unknown[]) {
        record("abortCopyFromURL", ...args);
        return {};
      },
      async deleteIfExists(...args: unknown[]) {
        record("deleteIfExists", ...args);
        return { succeeded: true };
      },
    };
  };
  const container = {
    containerName: "media",
    accountName: "acct",
    url: "https://acct.blob.core.windows.net/media",
    credential: new StorageSharedKeyCredential("acct", Buffer.alloc(64, 1).toString("base64")),
    getBlockBlobClient: blob,
  } as unknown as ContainerClient;
  return { container, calls };
}

const signal = () => new AbortController().signal;

describe("copy", () => {
  it("up to 256 MiB: one synchronous copy from a short-lived read SAS, pinned to the source's ETag", async () => {
    const { container, calls } = stubContainer({ sourceSize: SYNC_COPY_MAX_BYTES });
    const driver = new AzureDriver({ containerClient: container, prefix: "p" });
    await driver.copy("src.bin", "dst.bin", { signal: signal(), overwrite: false });
    const copy = calls.find((c) => c.method === "syncCopyFromURL");
    expect(copy?.blob).toBe("p/dst.bin");
    const source = new URL(copy?.args[0] as string);
    expect(`${source.origin}${source.pathname}`).toBe(container.getBlockBlobClient("p/src.bin").url);
    expect(source.searchParams.get("sp")).toBe("r");
    const expires = Date.parse(source.searchParams.get("se") ?? "");
    expect(expires - Date.now()).toBeLessThanOrEqual(15 * 60_000 + 1000);
    expect(copy?.args[1]).toMatchObject({
      conditions: { ifNoneMatch: "*" },
      sourceConditions: { ifMatch: '"0x1"' },
    });
  });

  it("overwrite:true sends no destination condition", async () => {
    const { container, calls } = stubContainer({ sourceSize: 10 });
    await new AzureDriver({ containerClient: container }).copy("src.bin", "dst.bin", {
      signal: signal(),
      overwrite: true,
    });
    expect(
      (calls.find((c) => c.method === "syncCopyFromURL")?.args[1] as { conditions?: unknown } | undefined)
        ?.conditions,
    ).toBeUndefined();
  });

  it("over 256 MiB: asynchronous copy, polled until it succeeds", async () => {
    const { container, calls } = stubContainer({
      sourceSize: SYNC_COPY_MAX_BYTES + 1,
      statuses: ["pending", "success"],
    });
    await new AzureDriver({ containerClient: container }).copy("src.bin", "dst.bin", {
      signal: signal(),
      overwrite: true,
    });
    expect(calls.filter((c) => c.method === "beginCopyFromURL")).toHaveLength(1);
    expect(calls.filter((c) => c.blob === "dst.bin" && c.method === "getProperties")).toHaveLength(2);
    expect(calls.some((c) => c.method === "deleteIfExists")).toBe(false);
  });

  it("aborting a pending copy aborts it on the service and removes the empty destination it leaves", async () => {
    const { container, calls } = stubContainer({
      sourceSize: SYNC_COPY_MAX_BYTES + 1,
      statuses: ["pending", "pending", "pending"],
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const error = await new AzureDriver({ containerClient: container })
      .copy("src.bin", "dst.bin", { signal: controller.signal, overwrite: true })
      .catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_ABORTED")).toBe(true);
    expect(calls.find((c) => c.method === "abortCopyFromURL")?.args[0]).toBe("copy-1");
    expect(calls.some((c) => c.blob === "dst.bin" && c.method === "deleteIfExists")).toBe(true);
  });

  it("a copy that ends failed is a retryable error and leaves no destination", async () => {
    const { container, calls } = stubContainer({ sourceSize: SYNC_COPY_MAX_BYTES + 1, statuses: ["failed"] });
    const error = await new AzureDriver({ containerClient: container })
      .copy("src.bin", "dst.bin", { signal: signal(), overwrite: true })
      .catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_BACKEND")).toBe(true);
    expect((error as StorageError).retryable).toBe(true);
    expect(calls.some((c) => c.blob === "dst.bin" && c.method === "deleteIfExists")).toBe(true);
  });
});
