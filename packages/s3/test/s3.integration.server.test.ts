/**
 * S3-specific behaviour the shared suite does not reach, against the same real server (RGW in CI):
 * no multipart upload left behind after a failure or an abort, create-exclusive multipart writes,
 * part-by-part server-side copy, what signed URLs bind, batch deletes past 1,000 keys, ACL
 * detection and visibility-preserving copies, and credentials kept out of errors.
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import {
  CopyObjectCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import { type DriverWriteOptions, Storage, StorageError } from "@storages/core";
import { dispositionFilename, findSecretLeak } from "@storages/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3Driver, type S3DriverOptions } from "../src/index.js";
import { multipartCopy } from "../src/multipart-copy.js";
import {
  adminClient,
  connectionOf,
  createBucket,
  emptyBucket,
  failWithoutServer,
  findTestServer,
  openUploads,
  removeBucket,
  type S3TestServer,
  uniqueBucketName,
} from "./support/server.js";

const MiB = 1024 * 1024;
const server = findTestServer();

function md5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

/** Yields `parts` chunks of `chunkSize` random bytes, then fails (or waits for `gate`). */
async function* failingBody(chunkSize: number, parts: number, failWith?: Error): AsyncGenerator<Buffer> {
  for (let i = 0; i < parts; i++) yield randomBytes(chunkSize);
  if (failWith) throw failWith;
}

/** Open uploads once the driver's background cleanup had a moment (polls up to 10 s). */
async function openUploadsAfterCleanup(client: S3Client, bucket: string, prefix: string): Promise<string[]> {
  let open = await openUploads(client, bucket, prefix);
  for (let waited = 0; open.length > 0 && waited < 10_000; waited += 250) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    open = await openUploads(client, bucket, prefix);
  }
  return open;
}

function writeOptions(overrides: Partial<DriverWriteOptions> = {}): DriverWriteOptions {
  return {
    signal: new AbortController().signal,
    contentType: "application/octet-stream",
    visibility: "private",
    ifNotExists: false,
    ...overrides,
  };
}

if (!server) {
  failWithoutServer("s3 integration");
} else {
  runIntegration(server);
}

function runIntegration(server: S3TestServer): void {
  describe(`s3 driver on ${server.label}`, () => {
    let admin: S3Client;
    const bucket = server.bucket ?? uniqueBucketName("integration");
    const prefix = `integration-${randomBytes(4).toString("hex")}`;
    const drivers: S3Driver[] = [];

    function makeDriver(options: Partial<S3DriverOptions> = {}): S3Driver {
      const driver = new S3Driver({
        bucket,
        prefix,
        ...connectionOf(server),
        partSize: 5 * MiB,
        ...options,
      });
      drivers.push(driver);
      return driver;
    }

    beforeAll(async () => {
      admin = adminClient(server);
      if (!server.bucket) await createBucket(admin, bucket);
    });

    afterAll(async () => {
      for (const driver of drivers) await driver.close();
      if (server.bucket) await emptyBucket(admin, bucket, `${prefix}/`);
      else await removeBucket(admin, bucket);
      admin.destroy();
    });

    describe("multipart uploads never leave parts behind", () => {
      it("a body that fails after two parts aborts the multipart upload and stores nothing", async () => {
        const driver = makeDriver();
        const body = Readable.from(failingBody(5 * MiB, 3, new Error("source disk went away")));
        const error = await driver.write("mp/failing.bin", body, writeOptions()).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(String((error as Error).message)).toContain("source disk went away");
        expect(await openUploads(admin, bucket, `${prefix}/mp/`)).toEqual([]);
        expect(await driver.exists("mp/failing.bin", { signal: AbortSignal.timeout(10_000) })).toBe(false);
      });

      it("an abort in the middle of a multipart upload aborts it and stores nothing", async () => {
        const driver = makeDriver();
        const storage = new Storage(driver);
        const controller = new AbortController();
        let sent = 0;
        async function* body() {
          for (;;) {
            sent += 1;
            if (sent === 4) controller.abort(); // after ~15 MiB: at least two parts are in flight or done
            yield randomBytes(5 * MiB);
            if (sent > 20) throw new Error("the abort did not stop the upload");
          }
        }
        const error = await storage
          .save("mp/aborted.bin", body(), { signal: controller.signal })
          .catch((e: unknown) => e);
        expect(StorageError.hasCode(error, "E_ABORTED")).toBe(true);
        // save() settles as soon as the signal fires (the facade does not wait for a driver's
        // cleanup); the driver aborts the multipart upload right after.
        expect(await openUploadsAfterCleanup(admin, bucket, `${prefix}/mp/`)).toEqual([]);
        expect(await storage.exists("mp/aborted.bin")).toBe(false);
      });

      it("a stream of unknown length goes through multipart with the right size and bounded parts", async () => {
        const driver = makeDriver();
        const storage = new Storage(driver, { overwrite: true });
        const data = randomBytes(17 * MiB + 123);
        const chunks = Array.from({ length: Math.ceil(data.length / (64 * 1024)) }, (_, i) =>
          data.subarray(i * 64 * 1024, (i + 1) * 64 * 1024),
        );
        const result = await storage.save("mp/streamed.bin", Readable.from(chunks), {
          cacheControl: "max-age=5",
          metadata: { owner: "tests" },
        });
        expect(result.size).toBe(data.length);
        const head = await admin.send(
          new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}/mp/streamed.bin` }),
        );
        expect(head.ETag).toMatch(/-4"$/); // 5 MiB parts: 4 of them
        expect(md5(await storage.readBytes("mp/streamed.bin"))).toBe(md5(data));
        // RGW answers CompleteMultipartUpload with an empty ETag: the driver's is computed from the
        // parts, and is the one stat and the listing report.
        const stat = await storage.stat("mp/streamed.bin");
        expect(result.etag).toBe(head.ETag);
        expect(stat.etag).toBe(head.ETag);
        // A multipart ETag is not an MD5: the MD5 hashed while streaming is in the metadata, under
        // rclone's key, and stat reports it; the headers and metadata of the save survived the copy.
        expect(head.Metadata?.md5chksum).toBe(Buffer.from(md5(data), "hex").toString("base64"));
        expect(stat.checksums).toEqual({ md5: md5(data) });
        expect(stat.metadata).toEqual({ owner: "tests" });
        expect(stat.cacheControl).toBe("max-age=5");
        expect(stat.contentType).toBe("application/octet-stream");
        // The listing has no metadata: it carries the ETag and no checksum, never a wrong one.
        const [entry] = (await storage.listPage("mp/")).entries.filter((e) => e.name === "mp/streamed.bin");
        expect(entry).toMatchObject({ etag: head.ETag, checksums: undefined });
        expect(await openUploads(admin, bucket, `${prefix}/mp/`)).toEqual([]);
      });

      it("RGW ignores the copy's source-ETag guard, but keeps the ETag through the copy: what the driver checks instead", async () => {
        // The MD5 of a streamed multipart save is recorded by a copy onto itself guarded by the
        // completed ETag; RGW does not honour that guard, so the driver compares the ETag of what
        // was copied with its own and takes the MD5 back from another writer's object.
        const storage = new Storage(makeDriver(), { overwrite: true });
        const data = randomBytes(11 * MiB);
        await storage.save("mp/guarded.bin", Readable.from([data]));
        const key = `${prefix}/mp/guarded.bin`;
        const head = await admin.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
        expect(head.ETag).toMatch(/-3"$/);
        const out = await admin.send(
          new CopyObjectCommand({
            Bucket: bucket,
            Key: key,
            CopySource: `${bucket}/${key}`,
            CopySourceIfMatch: `"${md5(Buffer.from("another version"))}"`,
            MetadataDirective: "REPLACE",
            Metadata: head.Metadata,
          }),
        );
        expect(`"${out.CopyObjectResult?.ETag?.replace(/"/g, "")}"`).toBe(head.ETag);
      });

      it("on a versioned bucket a streamed multipart save leaves one version, not two", async () => {
        const versioned = uniqueBucketName("versioned");
        await createBucket(admin, versioned);
        try {
          await admin.send(
            new PutBucketVersioningCommand({
              Bucket: versioned,
              VersioningConfiguration: { Status: "Enabled" },
            }),
          );
          const storage = new Storage(makeDriver({ bucket: versioned }), { overwrite: true });
          const data = randomBytes(11 * MiB);
          await storage.save(
            "v/streamed.bin",
            Readable.from([data.subarray(0, 6 * MiB), data.subarray(6 * MiB)]),
          );
          expect((await storage.stat("v/streamed.bin")).checksums).toEqual({ md5: md5(data) });
          const versions = await admin.send(
            new ListObjectVersionsCommand({ Bucket: versioned, Prefix: prefix }),
          );
          expect(versions.Versions?.map((v) => v.Key)).toEqual([`${prefix}/v/streamed.bin`]);
        } finally {
          const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: versioned }));
          for (const v of [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])]) {
            await admin.send(
              new DeleteObjectCommand({ Bucket: versioned, Key: v.Key, VersionId: v.VersionId }),
            );
          }
          await admin.send(new DeleteBucketCommand({ Bucket: versioned }));
        }
      });
    });

    describe("a body of up to two parts goes in one PutObject", () => {
      /** A client that flips one byte of every PutObject body after the request was signed. */
      function corruptingClient(): S3Client {
        const client = adminClient(server);
        client.middlewareStack.add(
          (next) => async (args) => {
            const request = args.request as {
              method?: string;
              query?: Record<string, unknown>;
              body?: unknown;
            };
            if (request.method === "PUT" && request.query?.partNumber === undefined) {
              const flip = (chunk: Uint8Array, at: number) => {
                const copy = Buffer.from(chunk);
                if (copy.length > at) copy[at]! ^= 1;
                return copy;
              };
              const body = request.body;
              if (body instanceof Uint8Array) request.body = flip(body, 0);
              else if (body instanceof Readable) {
                let first = true;
                request.body = body.map((chunk: Uint8Array) => {
                  const out = first ? flip(chunk, 0) : chunk;
                  first = false;
                  return out;
                });
              }
            }
            return next(args);
          },
          { step: "deserialize", name: "corruptBody" },
        );
        return client;
      }

      it("its bytes are checked by the server (Content-MD5; a stream of two parts and a body in memory have no payload SHA-256): a changed body is refused and nothing stored", async () => {
        const client = corruptingClient();
        try {
          const driver = new S3Driver({ bucket, prefix, client, profile: server.profile, partSize: 5 * MiB });
          drivers.push(driver);
          for (const size of [MiB, 7 * MiB]) {
            const data = randomBytes(size);
            const error = await driver
              .write(`whole/corrupted-${size}.bin`, Readable.from([data]), writeOptions())
              .catch((e: unknown) => e);
            expect(StorageError.hasCode(error, "E_BACKEND")).toBe(true);
            // One part is a Buffer, signed with its SHA-256 as well: either check may catch it.
            expect(String((error as Error).message)).toMatch(
              size > 5 * MiB ? /BadDigest/ : /BadDigest|SHA256Mismatch/,
            );
            expect(
              await driver.exists(`whole/corrupted-${size}.bin`, { signal: AbortSignal.timeout(10_000) }),
            ).toBe(false);
          }
          // A body in memory goes as UNSIGNED-PAYLOAD: its signed Content-MD5 is what catches it.
          const small = randomBytes(64 * 1024);
          const refused = await driver
            .write("whole/corrupted-bytes.bin", Readable.from([small]), writeOptions({ bytes: small }))
            .catch((e: unknown) => e);
          expect(StorageError.hasCode(refused, "E_BACKEND")).toBe(true);
          expect(String((refused as Error).message)).toMatch(/BadDigest/);
          expect(
            await driver.exists("whole/corrupted-bytes.bin", { signal: AbortSignal.timeout(10_000) }),
          ).toBe(false);
        } finally {
          client.destroy();
        }
        // The same bodies through an honest client: one request each, the MD5 as ETag.
        const storage = new Storage(makeDriver(), { overwrite: true });
        const data = randomBytes(7 * MiB);
        await storage.save(
          "whole/fine.bin",
          Readable.from([data.subarray(0, 3 * MiB), data.subarray(3 * MiB)]),
        );
        const head = await admin.send(
          new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}/whole/fine.bin` }),
        );
        expect(head.ETag).toBe(`"${md5(data)}"`);
        expect((await storage.stat("whole/fine.bin")).checksums).toEqual({ md5: md5(data) });
        expect(await openUploads(admin, bucket, `${prefix}/whole/`)).toEqual([]);
      });
    });

    describe("create-exclusive writes", () => {
      it("a multipart write loses to a file created while it uploaded (RGW ignores If-None-Match on completion)", async () => {
        const driver = makeDriver();
        const key = "exclusive/raced.bin";
        let created = false;
        async function* body() {
          yield randomBytes(6 * MiB);
          // Another writer takes the name while this upload is in flight.
          await admin.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: `${prefix}/${key}`,
              Body: "the other writer's file",
            }),
          );
          created = true;
          yield randomBytes(6 * MiB);
        }
        const error = await driver
          .write(key, Readable.from(body()), writeOptions({ ifNotExists: true }))
          .catch((e: unknown) => e);
        expect(created).toBe(true);
        expect(StorageError.hasCode(error, "E_ALREADY_EXISTS")).toBe(true);
        const kept = await admin.send(new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/${key}` }));
        expect(await kept.Body!.transformToString()).toBe("the other writer's file");
        expect(await openUploads(admin, bucket, `${prefix}/exclusive/`)).toEqual([]);
      });

      it("a single-request write with If-None-Match is refused atomically by the server", async () => {
        const driver = makeDriver();
        await admin.send(
          new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/exclusive/small.txt`, Body: "first" }),
        );
        const bytes = Buffer.from("second");
        const error = await driver
          .write("exclusive/small.txt", Readable.from([bytes]), writeOptions({ ifNotExists: true, bytes }))
          .catch((e: unknown) => e);
        expect(StorageError.hasCode(error, "E_ALREADY_EXISTS")).toBe(true);
        const kept = await admin.send(
          new GetObjectCommand({ Bucket: bucket, Key: `${prefix}/exclusive/small.txt` }),
        );
        expect(await kept.Body!.transformToString()).toBe("first");
      });
    });

    describe("server-side copy", () => {
      it("copies part by part (UploadPartCopy) with content, type, cache-control and metadata intact", async () => {
        const driver = makeDriver();
        const storage = new Storage(driver, { overwrite: true });
        const data = randomBytes(12 * MiB + 7);
        await storage.save("copy/source.bin", data, {
          contentType: "application/x-test",
          cacheControl: "max-age=60",
          metadata: { owner: "tests" },
        });
        const head = await admin.send(
          new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}/copy/source.bin` }),
        );
        await multipartCopy(driver.client, {
          Bucket: bucket,
          Key: `${prefix}/copy/target.bin`,
          sourceBucket: bucket,
          sourceKey: `${prefix}/copy/source.bin`,
          head,
          partSize: 5 * MiB,
          concurrency: 2,
          signal: AbortSignal.timeout(60_000),
        });
        const stat = await storage.stat("copy/target.bin");
        expect(stat.size).toBe(data.length);
        expect(stat.contentType).toBe("application/x-test");
        expect(stat.cacheControl).toBe("max-age=60");
        expect(stat.metadata).toEqual({ owner: "tests" });
        expect(stat.etag).toMatch(/-3"$/);
        // The source's recorded MD5 came with its metadata: the copy reports it too.
        expect(stat.checksums).toEqual({ md5: md5(data) });
        expect(md5(await storage.readBytes("copy/target.bin"))).toBe(md5(data));
        expect(await openUploads(admin, bucket, `${prefix}/copy/`)).toEqual([]);
      });

      it("a failing part copy aborts the multipart upload", async () => {
        const driver = makeDriver();
        await admin.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: `${prefix}/copy/small-source.bin`,
            Body: randomBytes(11 * MiB),
          }),
        );
        const head = await admin.send(
          new HeadObjectCommand({ Bucket: bucket, Key: `${prefix}/copy/small-source.bin` }),
        );
        const error = await multipartCopy(driver.client, {
          Bucket: bucket,
          Key: `${prefix}/copy/broken.bin`,
          sourceBucket: bucket,
          // The source vanished after the HeadObject: every UploadPartCopy fails with NoSuchKey.
          // (RGW 16 ignores x-amz-copy-source-if-match, so a changed source cannot be simulated.)
          sourceKey: `${prefix}/copy/vanished.bin`,
          head,
          partSize: 5 * MiB,
          concurrency: 2,
          signal: AbortSignal.timeout(60_000),
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(Error);
        expect(await openUploads(admin, bucket, `${prefix}/copy/`)).toEqual([]);
      });

      it("a copy keeps its source's visibility (CopyObject alone would make it private)", async () => {
        const storage = new Storage(makeDriver({ visibility: "public" }), {
          visibility: "public",
          overwrite: true,
        });
        await storage.save("copy/public.txt", "public bytes");
        await storage.save("copy/private.txt", "private bytes", { visibility: "private" });
        await storage.copy("copy/public.txt", "copy/public-copy.txt");
        await storage.copy("copy/private.txt", "copy/private-copy.txt");
        expect((await fetch(storage.publicUrl("copy/public-copy.txt"))).status).toBe(200);
        expect((await fetch(storage.publicUrl("copy/private-copy.txt"))).status).toBe(403);
      });
    });

    describe("signed URLs", () => {
      it("a signed PUT binds the content type: another type is refused", async () => {
        const storage = new Storage(makeDriver(), { overwrite: true });
        const upload = await storage.signedUpload("signed/typed.txt", {
          contentType: "text/plain",
          method: "put",
        });
        expect(new URL(upload.url).searchParams.get("X-Amz-SignedHeaders")).toContain("content-type");
        const wrong = await fetch(upload.url, {
          method: "PUT",
          body: "x",
          headers: { "content-type": "text/html" },
        });
        expect(wrong.status).toBe(403);
        const right = await fetch(upload.url, { method: "PUT", body: "typed", headers: upload.headers });
        expect(right.status).toBe(200);
        expect(await storage.readText("signed/typed.txt")).toBe("typed");
      });

      it("a download name with non-ASCII characters arrives as RFC 5987 filename* plus an ASCII fallback", async () => {
        const storage = new Storage(makeDriver(), { overwrite: true });
        await storage.save("signed/report.pdf", "pdf bytes");
        const url = await storage.signedUrl("signed/report.pdf", { download: "Relevé d'été €.pdf" });
        const response = await fetch(url);
        expect(response.status).toBe(200);
        const header = response.headers.get("content-disposition") ?? "";
        expect(header).toMatch(/^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''/);
        expect(dispositionFilename(header)).toBe("Relevé d'été €.pdf");
      });
    });

    describe("batch delete", () => {
      it("deleteMany removes 1,005 files through DeleteObjects batches of 1,000", async () => {
        const driver = makeDriver();
        const storage = new Storage(driver, { overwrite: true });
        const names = Array.from({ length: 1005 }, (_, i) => `many/${String(i).padStart(4, "0")}.txt`);
        const queue = [...names];
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
              await admin.send(
                new PutObjectCommand({ Bucket: bucket, Key: `${prefix}/${name}`, Body: name }),
              );
            }
          }),
        );
        // Every page, not the first: S3 returns *up to* MaxKeys, and RGW under load returns fewer.
        const listed = async () => {
          const found: string[] = [];
          for await (const entry of storage.list("many/", { recursive: true })) found.push(entry.name);
          return found;
        };
        expect(await listed()).toHaveLength(1005);
        await storage.deleteMany([...names, "many/never-existed.txt"]);
        expect(await listed()).toEqual([]);
      }, 120_000);
    });

    describe("ACLs and credentials", () => {
      it('acl "auto" asks the bucket and keeps per-file visibility where ACLs are enabled', async () => {
        const storage = new Storage(makeDriver({ acl: "auto" }), { overwrite: true });
        await storage.save("acl/auto.txt", "visible", { visibility: "private" });
        await storage.setVisibility("acl/auto.txt", "public");
        expect(await storage.getVisibility("acl/auto.txt")).toBe("public");
        expect((await fetch(storage.publicUrl("acl/auto.txt"))).status).toBe(200);
      });

      it("a wrong secret is E_PERMISSION_DENIED and the secret appears nowhere", async () => {
        const secret = `wrong-${randomBytes(12).toString("hex")}`;
        const driver = makeDriver({
          credentials: { accessKeyId: server.accessKeyId, secretAccessKey: secret },
        });
        const storage = new Storage(driver);
        const error = await storage.readBytes("acl/auto.txt").catch((e: unknown) => e);
        expect(StorageError.hasCode(error, "E_PERMISSION_DENIED")).toBe(true);
        const texts = [
          String(error),
          JSON.stringify(error),
          (error as Error).stack ?? "",
          JSON.stringify(driver),
          String(driver),
        ];
        for (const text of texts) {
          expect(text).not.toContain(secret);
          expect(findSecretLeak(text)).toBeUndefined();
        }
      });
    });
  });
}
