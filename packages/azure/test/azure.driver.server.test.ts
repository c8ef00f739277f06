/**
 * What only the Azure driver does, checked against the real server (Azurite in CI): staged blocks,
 * batch deletes past 256, both copy paths, SAS-token and ContainerClient setups, container
 * visibility guard, configuration errors that need the service.
 */
import { Readable } from "node:stream";
import { inspect } from "node:util";
import {
  AnonymousCredential,
  BlobServiceClient,
  type ContainerClient,
  ContainerSASPermissions,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { inspectStorageUrl, Storage, StorageError } from "@storages/core";
import { DeterministicBody, findSecretLeak, hashStream, slowBody, streamOf } from "@storages/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AzureDriver, type AzureDriverOptions, backend, SYNC_COPY_MAX_BYTES } from "../src/index.js";
import { connectionString, freshContainer, removeContainers, serverLabel } from "./server.js";

const MiB = 1024 * 1024;

function parseConnectionString(): { accountName: string; accountKey: string; endpoint: string } {
  const parts = new Map(
    connectionString()
      .split(";")
      .filter(Boolean)
      .map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)] as const),
  );
  const get = (key: string) => {
    const value = parts.get(key);
    if (!value) throw new Error(`these tests need ${key}= in STORAGES_TEST_AZURE_CONNECTION_STRING`);
    return value;
  };
  return { accountName: get("AccountName"), accountKey: get("AccountKey"), endpoint: get("BlobEndpoint") };
}

async function expectCode(action: Promise<unknown>, code: string): Promise<StorageError> {
  const error = await action.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(StorageError.isInstance(error), `expected a StorageError ${code}, got ${inspect(error)}`).toBe(true);
  const storageError = error as StorageError;
  expect(storageError.code, storageError.message).toBe(code);
  for (const text of [
    storageError.message,
    inspect(storageError, { depth: 5 }),
    JSON.stringify(storageError),
  ]) {
    expect(findSecretLeak(text)).toBeUndefined();
    expect(text).not.toContain(parseConnectionString().accountKey);
  }
  return storageError;
}

describe(`azure driver on ${serverLabel()}`, () => {
  let container: ContainerClient;
  let storage: Storage;
  const make = (options: Partial<AzureDriverOptions> = {}) =>
    new Storage(
      new AzureDriver({
        connectionString: connectionString(),
        container: container.containerName,
        ...options,
      }),
      {
        overwrite: true,
      },
    );

  beforeAll(async () => {
    container = await freshContainer("driver");
    storage = make({ prefix: "t" });
  });
  afterAll(removeContainers);

  describe("staged uploads", () => {
    it("a stream longer than one block is staged in blocks of the planned size and reads back intact", async () => {
      const s = make({ prefix: "staged", blockSize: MiB, concurrency: 2 });
      const body = new DeterministicBody(5 * MiB + 123, 11);
      const { size } = await s.save("big.bin", body.stream(300_000));
      expect(size).toBe(body.size);
      const blocks = await container.getBlockBlobClient("staged/big.bin").getBlockList("committed");
      expect(blocks.committedBlocks?.map((b) => b.size)).toEqual([MiB, MiB, MiB, MiB, MiB, 123]);
      expect((await hashStream(await s.open("big.bin"))).sha256).toBe(body.sha256());
      // Azure keeps no MD5 of staged blocks: the driver's, computed while reading, is the blob's
      // Content-MD5, in stat and in listings alike.
      const { md5 } = body.digests();
      expect((await s.stat("big.bin")).checksums).toEqual({ md5 });
      const [entry] = (await s.listPage("")).entries;
      expect(entry).toMatchObject({ name: "big.bin", checksums: { md5 } });
      const properties = await container.getBlockBlobClient("staged/big.bin").getProperties();
      expect(Buffer.from(properties.contentMD5!).toString("hex")).toBe(md5);
    });

    it("a stream that ends inside the first block goes up in one Put Blob, which stores its MD5", async () => {
      const s = make({ prefix: "single", blockSize: MiB });
      await s.save("small.txt", streamOf("hello ", "world"));
      const blocks = await container.getBlockBlobClient("single/small.txt").getBlockList("all");
      expect(blocks.committedBlocks ?? []).toHaveLength(0);
      expect((await s.stat("small.txt")).checksums?.md5).toBe("5eb63bbbe01eeed093cb22bb8f5acdc3");
    });

    it("the block size grows with the declared size, so 50,000 blocks always suffice", async () => {
      const s = make({ prefix: "sized", blockSize: MiB });
      const body = new DeterministicBody(3 * MiB, 12);
      // 3 MiB declared as ~60 GiB: the plan asks for 2 MiB blocks (60 GiB / 50,000 rounded up to MiB).
      const driver = s.driver as AzureDriver;
      const written = await driver.write("declared.bin", body.stream(), {
        signal: new AbortController().signal,
        contentType: "application/octet-stream",
        visibility: "private",
        ifNotExists: false,
        size: 60 * 1024 * MiB,
      });
      expect(written.size).toBe(body.size);
      const blocks = await container.getBlockBlobClient("sized/declared.bin").getBlockList("committed");
      expect(blocks.committedBlocks?.map((b) => b.size)).toEqual([2 * MiB, MiB]);
    });

    it("overwrite:false with a multi-block stream onto a taken name lands under a fresh name; the old blob is untouched", async () => {
      const s = new Storage(
        new AzureDriver({
          connectionString: connectionString(),
          container: container.containerName,
          prefix: "cond",
          blockSize: MiB,
        }),
      );
      await s.save("taken.bin", "original", { overwrite: true });
      const body = new DeterministicBody(2 * MiB + 5, 13);
      const { name } = await s.save("taken.bin", body.stream());
      expect(name).not.toBe("taken.bin");
      expect(name).toMatch(/^taken.*\.bin$/);
      expect(await s.readText("taken.bin")).toBe("original");
      expect((await hashStream(await s.open(name))).sha256).toBe(body.sha256());
    });

    it("a conditional commit that loses the race is refused (AlreadyExists) and never overwrites", async () => {
      const driver = new AzureDriver({
        connectionString: connectionString(),
        container: container.containerName,
        prefix: "race",
        blockSize: MiB,
      });
      const target = container.getBlockBlobClient("race/r.bin");
      const source = new DeterministicBody(3 * MiB, 14);
      let pulled = 0;
      // A competing writer creates the blob after our first block was cut, so while blocks are being
      // staged. (Not a "data" listener on the body: that would make it flow, and lose its chunks,
      // before the driver reads it.)
      const body = Readable.from(
        (async function* () {
          for (let offset = 0; offset < source.size; offset += MiB) {
            if (offset === MiB) await target.upload("winner", 6);
            pulled += 1;
            yield source.slice(offset, offset + MiB);
          }
        })(),
        { objectMode: false },
      );
      await expectCode(
        driver.write("r.bin", body, {
          signal: new AbortController().signal,
          contentType: "application/octet-stream",
          visibility: "private",
          ifNotExists: true,
        }),
        "E_ALREADY_EXISTS",
      );
      expect((await target.downloadToBuffer()).toString()).toBe("winner");
      expect(pulled).toBe(3); // the whole body was staged: the refusal came from the conditional commit
    });

    it("aborting a staged upload stops it and commits nothing", async () => {
      const s = make({ prefix: "abort", blockSize: MiB, concurrency: 2 });
      const controller = new AbortController();
      const body = slowBody({
        chunkSize: 256 * 1024,
        onChunk: (count) => {
          if (count === 12) controller.abort();
        },
      });
      await expectCode(s.save("aborted.bin", body, { signal: controller.signal }), "E_ABORTED");
      expect(await s.exists("aborted.bin")).toBe(false);
    });
  });

  describe("delete and copy", () => {
    it("deleteMany removes 300 blobs in two batches, and missing names are not failures", async () => {
      const s = make({ prefix: "many" });
      const names = Array.from({ length: 300 }, (_, i) => `d/${String(i).padStart(3, "0")}.txt`);
      for (let i = 0; i < names.length; i += 50) {
        await Promise.all(names.slice(i, i + 50).map((name) => s.save(name, name)));
      }
      await s.deleteMany([...names, "d/missing-1.txt", "d/missing-2.txt"]);
      const left = [];
      for await (const entry of s.list("d/", { recursive: true })) left.push(entry.name);
      expect(left).toEqual([]);
    });

    it("copy keeps content type, cache control and metadata; overwrite:false refuses a taken target", async () => {
      await storage.save("copy/src.txt", "source", {
        contentType: "text/x-source",
        cacheControl: "max-age=60",
        metadata: { "trace-id": "t-1", owner: "bob" },
      });
      await storage.copy("copy/src.txt", "copy/dst.txt");
      const stat = await storage.stat("copy/dst.txt");
      expect(stat.contentType).toBe("text/x-source");
      expect(stat.cacheControl).toBe("max-age=60");
      expect(stat.metadata).toEqual({ "trace-id": "t-1", owner: "bob" });
      await storage.save("copy/other.txt", "other");
      await expectCode(
        storage.copy("copy/src.txt", "copy/other.txt", { overwrite: false }),
        "E_ALREADY_EXISTS",
      );
      expect(await storage.readText("copy/other.txt")).toBe("other");
      const missing = await expectCode(storage.copy("copy/nope.txt", "copy/x.txt"), "E_NOT_FOUND");
      expect(missing.path).toBe("copy/nope.txt");
    });

    it(`a blob over ${SYNC_COPY_MAX_BYTES / MiB} MiB is copied with the asynchronous Copy Blob, polled to completion`, async () => {
      const s = make({ prefix: "bigcopy", blockSize: 32 * MiB });
      const body = new DeterministicBody(SYNC_COPY_MAX_BYTES + MiB, 15);
      await s.save("src.bin", body.stream(4 * MiB), { size: body.size });
      await s.copy("src.bin", "dst.bin");
      expect((await s.stat("dst.bin")).size).toBe(body.size);
      const tail = await s.readBytes("dst.bin", { range: { start: body.size - 1000 } });
      expect(tail.equals(body.slice(body.size - 1000, body.size))).toBe(true);
      await s.deleteMany(["src.bin", "dst.bin"]);
    }, 180_000);
  });

  describe("configurations", () => {
    it("a SAS-token storage reads and writes, cannot sign, and never puts its SAS in a public URL", async () => {
      const sas = await container.generateSasUrl({
        permissions: ContainerSASPermissions.parse("racwdl"),
        expiresOn: new Date(Date.now() + 3600_000),
      });
      const token = new URL(sas).search.slice(1);
      const { endpoint } = parseConnectionString();
      const s = new Storage(
        new AzureDriver({ sasToken: token, endpoint, container: container.containerName, prefix: "sas" }),
        { overwrite: true },
      );
      expect(s.capabilities.signedUrl).toBe(false);
      expect(s.capabilities.signedUpload).toEqual([]);
      await s.save("a.txt", "via sas", { contentType: "text/plain" });
      expect(await s.readText("a.txt")).toBe("via sas");
      await s.copy("a.txt", "b.txt");
      expect(await s.readText("b.txt")).toBe("via sas");
      expect(s.publicUrl("a.txt")).not.toContain("?");
      await expectCode(s.signedUrl("a.txt"), "E_UNSUPPORTED");
      await s.deleteMany(["a.txt", "b.txt"]);
    });

    it("a caller-built ContainerClient is used as is (shared key: it signs)", async () => {
      const { accountName, accountKey, endpoint } = parseConnectionString();
      const client = new BlobServiceClient(
        endpoint,
        new StorageSharedKeyCredential(accountName, accountKey),
      ).getContainerClient(container.containerName);
      const s = new Storage(new AzureDriver({ containerClient: client, prefix: "cc" }), { overwrite: true });
      await s.save("x.txt", "cc");
      const response = await fetch(await s.signedUrl("x.txt"));
      expect(await response.text()).toBe("cc");
      const anonymous = new AzureDriver({
        containerClient: new BlobServiceClient(endpoint, new AnonymousCredential()).getContainerClient(
          container.containerName,
        ),
      });
      expect(anonymous.credentialKind).toBe("anonymous");
      expect(anonymous.capabilities.signedUrl).toBe(false);
    });

    it("a private storage on a container open to anonymous reads refuses to write (ConfigError)", async () => {
      const open = await freshContainer("open", "blob");
      const s = new Storage(
        new AzureDriver({ connectionString: connectionString(), container: open.containerName }),
      );
      const error = await expectCode(s.save("leak.txt", "secret"), "E_CONFIG");
      expect(error.message).toMatch(/anonymous read access/);
      expect(await open.getBlockBlobClient("leak.txt").exists()).toBe(false);
      // Configured public, the same container is fine, and stat reports the container's real access.
      const pub = new Storage(
        new AzureDriver({
          connectionString: connectionString(),
          container: open.containerName,
          visibility: "public",
        }),
      );
      await pub.save("ok.txt", "public");
      expect(await pub.getVisibility("ok.txt")).toBe("public");
    });

    it("a missing container is a ConfigError that says to create it, for writes, reads and exists", async () => {
      const s = new Storage(
        new AzureDriver({ connectionString: connectionString(), container: "no-such-container-x1" }),
      );
      const error = await expectCode(s.save("a.txt", "x"), "E_CONFIG");
      expect(error.message).toMatch(/does not exist: create it/);
      await expectCode(s.stat("a.txt"), "E_CONFIG");
      await expectCode(s.exists("a.txt"), "E_CONFIG");
      await expectCode(s.readBytes("a.txt"), "E_CONFIG");
    });

    it("a wrong account key is E_PERMISSION_DENIED, with no key or signature in the error or its inspect output", async () => {
      const { accountName, endpoint } = parseConnectionString();
      const wrongKey = Buffer.alloc(64, 1).toString("base64");
      const s = new Storage(
        new AzureDriver({ accountName, accountKey: wrongKey, endpoint, container: container.containerName }),
      );
      const error = await expectCode(s.save("a.txt", "x"), "E_PERMISSION_DENIED");
      await expectCode(s.stat("a.txt"), "E_PERMISSION_DENIED");
      const text = inspect(error, { depth: 10 });
      expect(text).not.toContain(wrongKey);
      expect(text).not.toMatch(/SharedKey [^ ]+:[A-Za-z0-9+/=]{20,}/);
    });

    it("an azure:// URL with the key in STORAGES_<NAME>_ACCOUNT_KEY builds a working storage", async () => {
      const { accountName, accountKey, endpoint } = parseConnectionString();
      const url = `azure://${accountName}/${container.containerName}/from-url?endpoint=${encodeURIComponent(endpoint)}`;
      const { options } = await inspectStorageUrl(backend, url, {
        storageName: "media",
        env: { STORAGES_MEDIA_ACCOUNT_KEY: accountKey },
      });
      const s = new Storage(backend.create(options), { overwrite: true });
      await s.save("u.txt", "from url");
      expect(await container.getBlockBlobClient("from-url/u.txt").downloadToBuffer()).toEqual(
        Buffer.from("from url"),
      );
      expect(await (await fetch(await s.signedUrl("u.txt"))).text()).toBe("from url");
    });
  });

  describe("names and listing", () => {
    it('directory placeholder blobs ("dir/") are not listed as files', async () => {
      await container.getBlockBlobClient("t/markers/").upload("", 0);
      await container.getBlockBlobClient("t/markers/sub/").upload("", 0);
      await storage.save("markers/file.txt", "f");
      const flat = [];
      for await (const entry of storage.list("markers/", { recursive: true })) flat.push(entry);
      expect(flat.map((e) => e.name)).toEqual(["markers/file.txt"]);
      const shallow = [];
      for await (const entry of storage.list("markers/")) shallow.push(`${entry.type}:${entry.name}`);
      expect(shallow).toEqual(["file:markers/file.txt", "directory:markers/sub"]);
    });

    it("metadata keys Azure cannot take verbatim are stored escaped and read back as given", async () => {
      await storage.save("meta.txt", "m", { metadata: { "trace-id": "1", "2fa": "yes", plain_key: "p" } });
      const raw = await container.getBlockBlobClient("t/meta.txt").getProperties();
      expect(raw.metadata).toEqual({ _trace_hid: "1", _2fa: "yes", plain_key: "p" });
      expect((await storage.stat("meta.txt")).metadata).toEqual({
        "trace-id": "1",
        "2fa": "yes",
        plain_key: "p",
      });
    });

    it("a signed upload URL creates the blob with the content type, and cannot read it back", async () => {
      const upload = await storage.signedUpload("up/a.json", {
        contentType: "application/json",
        expiresIn: 300,
      });
      const put = await fetch(upload.url, { method: "PUT", headers: upload.headers, body: '{"a":1}' });
      expect(put.status).toBe(201);
      expect((await storage.stat(upload.name)).contentType).toBe("application/json");
      const get = await fetch(upload.url);
      expect(get.status).toBe(403);
      await get.arrayBuffer();
    });
  });
});
