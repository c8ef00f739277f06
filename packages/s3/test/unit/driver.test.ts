/**
 * What the driver sends, checked on the wire under a real S3Client (fake HTTP layer, see
 * support/fake-s3.ts). Server behaviour is proven in s3.conformance / s3.integration, not here.
 */
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { fileURLToPath } from "node:url";
import { inspect, promisify } from "node:util";
import { S3Client } from "@aws-sdk/client-s3";
import { type DriverWriteOptions, Storage, StorageError } from "@storages/core";
import { describe, expect, it } from "vitest";
import { S3Driver, type S3DriverOptions } from "../../src/index.js";
import { FAKE_SECRET, type FakeResponse, fakeS3, type Responder, xmlError } from "../support/fake-s3.js";

const MiB = 1024 * 1024;
const run = promisify(execFile);

function setup(responder?: Responder, options: Partial<S3DriverOptions> = {}) {
  const fake = fakeS3(responder);
  const driver = new S3Driver({
    bucket: "media",
    prefix: "app",
    client: fake.client,
    profile: "ceph",
    ...options,
  });
  return { driver, requests: fake.requests, client: fake.client };
}

function writeOptions(overrides: Partial<DriverWriteOptions> = {}): DriverWriteOptions {
  return {
    signal: new AbortController().signal,
    contentType: "text/plain",
    visibility: "private",
    ifNotExists: false,
    ...overrides,
  };
}

function bytesWrite(
  text: string,
  overrides: Partial<DriverWriteOptions> = {},
): [Readable, DriverWriteOptions] {
  const bytes = Buffer.from(text);
  return [Readable.from([bytes]), writeOptions({ bytes, size: bytes.length, ...overrides })];
}

describe("writes", () => {
  it("a small in-memory body is one PutObject under the prefix, with If-None-Match for create-exclusive writes", async () => {
    const { driver, requests } = setup(() => ({ headers: { etag: '"5d41402abc4b2a76b9719d911017c592"' } }));
    const result = await driver.write(
      "a/b.txt",
      ...bytesWrite("hello", { ifNotExists: true, cacheControl: "max-age=60", metadata: { owner: "me" } }),
    );
    expect(result).toEqual({
      key: "a/b.txt",
      size: 5,
      etag: '"5d41402abc4b2a76b9719d911017c592"',
      checksums: { md5: "5d41402abc4b2a76b9719d911017c592" },
    });
    expect(requests).toHaveLength(1);
    const [put] = requests;
    expect(put!.method).toBe("PUT");
    expect(put!.path).toBe("/media/app/a/b.txt");
    expect(put!.headers["if-none-match"]).toBe("*");
    expect(put!.headers["cache-control"]).toBe("max-age=60");
    expect(put!.headers["x-amz-meta-owner"]).toBe("me");
    expect(put!.headers["content-type"]).toBe("text/plain");
    expect(put!.body).toBe("hello");
    // Checked by the server's MD5 of the body (signed header), not by a SHA-256 of the payload.
    expect(put!.headers["content-md5"]).toBe(
      Buffer.from("5d41402abc4b2a76b9719d911017c592", "hex").toString("base64"),
    );
    expect(put!.headers["x-amz-content-sha256"]).toBe("UNSIGNED-PAYLOAD");
    expect(put!.headers.authorization).toMatch(/SignedHeaders=[^,]*content-md5/);
  });

  it("a client computing checksums (WHEN_SUPPORTED) keeps the SDK's own: its CRC32 and a signed payload SHA-256, no Content-MD5", async () => {
    const fake = fakeS3(() => ({ headers: { etag: '"5d41402abc4b2a76b9719d911017c592"' } }), {
      checksums: "WHEN_SUPPORTED",
    });
    const driver = new S3Driver({ bucket: "media", client: fake.client, profile: "ceph" });
    const result = await driver.write("a.txt", ...bytesWrite("hello"));
    expect(result.checksums).toBeUndefined();
    const [put] = fake.requests;
    expect(put!.headers["content-md5"]).toBeUndefined();
    expect(put!.headers["x-amz-checksum-crc32"]).toBeDefined();
    expect(put!.headers["x-amz-content-sha256"]).toBe(createHash("sha256").update("hello").digest("hex"));
  });

  it("a 412 on a create-exclusive write is E_ALREADY_EXISTS; without ifNotExists it is E_PRECONDITION_FAILED", async () => {
    const { driver } = setup(() => xmlError("PreconditionFailed", 412));
    const taken = await driver
      .write("x.txt", ...bytesWrite("x", { ifNotExists: true }))
      .catch((e: unknown) => e);
    expect(StorageError.hasCode(taken, "E_ALREADY_EXISTS")).toBe(true);
    const other = await driver.write("x.txt", ...bytesWrite("x")).catch((e: unknown) => e);
    expect(StorageError.hasCode(other, "E_PRECONDITION_FAILED")).toBe(true);
  });

  it("public files get a public-read ACL with acl true or auto, never with false; private files need none", async () => {
    const sent = async (acl: boolean | "auto", visibility: "public" | "private") => {
      const { driver, requests } = setup(
        (r) => (r.query.ownershipControls !== undefined ? { body: "<OwnershipControls/>" } : undefined),
        { acl },
      );
      await driver.write("f.txt", ...bytesWrite("x", { visibility }));
      return requests.find((r) => r.method === "PUT")!.headers["x-amz-acl"];
    };
    expect(await sent(true, "public")).toBe("public-read");
    expect(await sent(true, "private")).toBeUndefined(); // new objects are private: no header needed
    expect(await sent("auto", "public")).toBe("public-read");
    expect(await sent("auto", "private")).toBeUndefined();
    expect(await sent(false, "public")).toBeUndefined();
  });

  it('acl "auto" sends no ACL to a bucket whose ownership controls disable them, and refuses per-file visibility', async () => {
    const enforced =
      "<OwnershipControls><Rule><ObjectOwnership>BucketOwnerEnforced</ObjectOwnership></Rule></OwnershipControls>";
    const { driver, requests } = setup(
      (r) => (r.query.ownershipControls !== undefined ? { body: enforced } : undefined),
      { acl: "auto" },
    );
    await driver.write("f.txt", ...bytesWrite("x", { visibility: "public" }));
    await driver.write("g.txt", ...bytesWrite("x", { visibility: "public" }));
    expect(requests.filter((r) => r.query.ownershipControls !== undefined)).toHaveLength(1); // asked once
    expect(requests.filter((r) => r.method === "PUT").map((r) => r.headers["x-amz-acl"])).toEqual([
      undefined,
      undefined,
    ]);
    const error = await driver
      .setVisibility("f.txt", "public", { signal: new AbortController().signal })
      .catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_UNSUPPORTED")).toBe(true);
  });

  it("a multipart upload whose part fails sends AbortMultipartUpload, and the error is retryable", async () => {
    const { driver, requests } = setup(
      (r): FakeResponse | undefined => {
        if (r.method === "POST" && r.query.uploads !== undefined) {
          return {
            body: "<InitiateMultipartUploadResult><Bucket>media</Bucket><Key>app/big.bin</Key><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
          };
        }
        if (r.method === "PUT" && r.query.partNumber === "2") return xmlError("InternalError", 500);
        if (r.method === "PUT") return { headers: { etag: '"p"' } };
        return undefined;
      },
      { queueSize: 1 },
    );
    const body = Readable.from(Array.from({ length: 6 }, () => Buffer.alloc(4 * MiB, 1)));
    const error = await driver
      .write("big.bin", body, writeOptions({ contentType: "application/octet-stream" }))
      .catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_BACKEND")).toBe(true);
    expect((error as StorageError).retryable).toBe(true);
    const aborts = requests.filter((r) => r.method === "DELETE" && r.query.uploadId === "U1");
    expect(aborts.length).toBeGreaterThanOrEqual(1);
    expect(requests.some((r) => r.method === "POST" && r.query.uploadId === "U1")).toBe(false); // never completed
  });

  it("a profile without conditional writes refuses create-exclusive writes instead of overwriting", async () => {
    const { driver, requests } = setup(undefined, { profile: "gcs-interop" });
    const error = await driver
      .write("x.txt", ...bytesWrite("x", { ifNotExists: true }))
      .catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_UNSUPPORTED")).toBe(true);
    expect(requests).toHaveLength(0);
  });
});

describe("reads, listing, deletes", () => {
  it("ranges go out as bytes=start-end; 416 is E_RANGE_NOT_SATISFIABLE; 404 is E_NOT_FOUND", async () => {
    const { driver, requests } = setup((r) => {
      if (r.path.endsWith("/past-end")) return xmlError("InvalidRange", 416);
      if (r.path.endsWith("/missing")) return xmlError("NoSuchKey", 404);
      return { body: "ell" };
    });
    const signal = new AbortController().signal;
    await driver.read("f", { signal, range: { start: 1, end: 3 } });
    await driver.read("f", { signal, range: { start: 5 } });
    expect(requests.map((r) => r.headers.range)).toEqual(["bytes=1-3", "bytes=5-"]);
    expect(
      StorageError.hasCode(
        await driver.read("past-end", { signal, range: { start: 99 } }).catch((e) => e),
        "E_RANGE_NOT_SATISFIABLE",
      ),
    ).toBe(true);
    expect(
      StorageError.hasCode(await driver.read("missing", { signal }).catch((e) => e), "E_NOT_FOUND"),
    ).toBe(true);
  });

  it("a listing strips the prefix, turns common prefixes into directories and skips folder markers", async () => {
    const body = `<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>next-1</NextContinuationToken>
      <Contents><Key>app/docs/a.txt</Key><Size>3</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"abc"</ETag></Contents>
      <Contents><Key>app/docs/</Key><Size>0</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified></Contents>
      <CommonPrefixes><Prefix>app/docs/sub/</Prefix></CommonPrefixes></ListBucketResult>`;
    const { driver, requests } = setup(() => ({ body }));
    const page = await driver.listPage("docs/", {
      signal: new AbortController().signal,
      recursive: false,
      pageSize: 10,
      cursor: "prev",
    });
    expect(requests[0]!.query).toMatchObject({
      "list-type": "2",
      prefix: "app/docs/",
      delimiter: "/",
      "max-keys": "10",
      "continuation-token": "prev",
    });
    expect(page.cursor).toBe("next-1");
    expect(page.entries).toEqual([
      {
        type: "file",
        name: "docs/a.txt",
        size: 3,
        lastModified: new Date("2024-01-01T00:00:00.000Z"),
        etag: '"abc"',
        checksums: undefined,
      },
      { type: "directory", name: "docs/sub" },
    ]);
  });

  it("deleteMany sends DeleteObjects in batches of 1,000 and reports per-key failures (missing keys are not failures)", async () => {
    const { driver, requests } = setup((r) =>
      r.query.delete !== undefined && r.body.includes("<Key>app/k0001</Key>")
        ? {
            body: "<DeleteResult><Error><Key>app/k0001</Key><Code>AccessDenied</Code><Message>no</Message></Error><Error><Key>app/k0002</Key><Code>NoSuchKey</Code><Message>gone</Message></Error></DeleteResult>",
          }
        : { body: "<DeleteResult/>" },
    );
    const keys = Array.from({ length: 2500 }, (_, i) => `k${String(i).padStart(4, "0")}`);
    const result = await driver.deleteMany!(keys, { signal: new AbortController().signal });
    const batches = requests.filter((r) => r.method === "POST" && r.query.delete !== undefined);
    expect(batches.map((r) => (r.body.match(/<Key>/g) ?? []).length)).toEqual([1000, 1000, 500]);
    expect(batches[0]!.body).toContain("<Quiet>true</Quiet>");
    expect(result.failures.map((f) => [f.key, f.error.code])).toEqual([["k0001", "E_PERMISSION_DENIED"]]);
  });

  it("deleteMany is left to the facade where the service has no batch delete", () => {
    const { driver } = setup(undefined, { profile: "gcs-interop" });
    expect(driver.deleteMany).toBeUndefined();
  });

  it("copy sends an encoded CopySource and keeps the source's public ACL", async () => {
    const publicAcl =
      '<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>';
    const { driver, requests } = setup((r) =>
      r.query.acl !== undefined ? { body: publicAcl } : { body: "<CopyObjectResult/>" },
    );
    await driver.copy("dir/é 1.txt", "dir/b.txt", { signal: new AbortController().signal, overwrite: true });
    const copy = requests.find((r) => r.headers["x-amz-copy-source"] !== undefined)!;
    expect(copy.headers["x-amz-copy-source"]).toBe("media/app/dir/%C3%A9%201.txt");
    expect(copy.headers["x-amz-acl"]).toBe("public-read");
    expect(copy.headers["x-amz-metadata-directive"]).toBe("COPY");
  });
});

describe("copies above 5 GiB", () => {
  it("fall back from CopyObject to UploadPartCopy ranges with the source's headers, then complete", async () => {
    const size = 6 * 1024 * MiB + 5;
    const { driver, requests } = setup(
      (r): FakeResponse | undefined => {
        if (r.headers["x-amz-copy-source"] && !r.query.partNumber) {
          return {
            status: 400,
            headers: { "content-type": "application/xml" },
            body: "<Error><Code>InvalidRequest</Code><Message>The specified copy source is larger than the maximum allowable size for a copy source: 5368709120</Message></Error>",
          };
        }
        if (r.method === "HEAD") {
          return {
            headers: {
              "content-length": String(size),
              "content-type": "video/mp4",
              "cache-control": "max-age=60",
              "x-amz-meta-owner": "me",
              etag: '"abc-700"',
            },
          };
        }
        if (r.query.uploads !== undefined)
          return {
            body: "<InitiateMultipartUploadResult><UploadId>C1</UploadId></InitiateMultipartUploadResult>",
          };
        if (r.query.partNumber)
          return { body: `<CopyPartResult><ETag>"part-${r.query.partNumber}"</ETag></CopyPartResult>` };
        if (r.method === "POST" && r.query.uploadId) return { body: "<CompleteMultipartUploadResult/>" };
        return undefined;
      },
      { acl: false },
    );
    await driver.copy("big.mp4", "copy.mp4", { signal: new AbortController().signal, overwrite: true });
    const create = requests.find((r) => r.query.uploads !== undefined)!;
    expect(create.path).toBe("/media/app/copy.mp4");
    expect(create.headers).toMatchObject({
      "content-type": "video/mp4",
      "cache-control": "max-age=60",
      "x-amz-meta-owner": "me",
    });
    const ranges = requests
      .filter((r) => r.query.partNumber)
      .sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber))
      .map((r) => r.headers["x-amz-copy-source-range"]);
    const part = 512 * MiB;
    expect(ranges).toHaveLength(13);
    expect(ranges[0]).toBe(`bytes=0-${part - 1}`);
    expect(ranges[12]).toBe(`bytes=${12 * part}-${size - 1}`);
    const complete = requests.find((r) => r.method === "POST" && r.query.uploadId === "C1")!;
    expect((complete.body.match(/<Part>/g) ?? []).length).toBe(13);
  });
});

describe("signed URLs", () => {
  it("a signed PUT signs the content type, and an AWS-profile driver never signs an empty-body checksum", async () => {
    const { client } = fakeS3();
    const driver = new S3Driver({
      bucket: "media",
      region: "eu-west-1",
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: FAKE_SECRET },
    });
    void client;
    const upload = await driver.signedUpload("a.txt", {
      signal: new AbortController().signal,
      expiresIn: 60,
      method: "put",
      contentType: "text/plain",
      visibility: "private",
    });
    const url = new URL(upload.url);
    expect(url.host).toBe("media.s3.eu-west-1.amazonaws.com");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("content-type;host");
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    expect(upload.headers).toEqual({ "content-type": "text/plain" });
    await driver.close();
  });

  it("a caller-built client signs with its own endpoint and region, but never an empty-body checksum", async () => {
    const client = new S3Client({
      region: "eu-central-1",
      endpoint: "https://s3.internal.example:9000",
      forcePathStyle: true,
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: FAKE_SECRET },
      // the SDK default, which would break presigned PUTs
      requestChecksumCalculation: "WHEN_SUPPORTED",
    });
    const driver = new S3Driver({ bucket: "media", client });
    const upload = await driver.signedUpload("a.txt", {
      signal: new AbortController().signal,
      expiresIn: 60,
      method: "put",
      contentType: "text/plain",
      visibility: "private",
    });
    const url = new URL(upload.url);
    expect(url.origin).toBe("https://s3.internal.example:9000");
    expect(url.pathname).toBe("/media/a.txt");
    expect(url.searchParams.get("X-Amz-Credential")).toContain("/eu-central-1/s3/");
    expect([...url.searchParams.keys()].filter((k) => /checksum/i.test(k))).toEqual([]);
    await driver.close();
    client.destroy();
  });

  it("loads the presigner packages on the first signature, not with the driver (idle memory)", async () => {
    // A fresh process, so that no other test has loaded them; the built package, as an app runs it.
    const script = `
      import { createRequire } from "node:module";
      const { S3Driver } = await import("@storages/s3");
      const presigners = () => Object.keys(createRequire(import.meta.url).cache)
        .filter((path) => /s3-(request-presigner|presigned-post)/.test(path)).length;
      const driver = new S3Driver({ bucket: "media", endpoint: "http://127.0.0.1:9", region: "us-east-1",
        credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: "fake" } });
      const before = presigners();
      await driver.signedUrl("a.txt", { signal: new AbortController().signal, expiresIn: 60 });
      console.log(JSON.stringify({ before, after: presigners() }));
      await driver.close();`;
    const { stdout } = await run(process.execPath, ["--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("../..", import.meta.url)),
    });
    const { before, after } = JSON.parse(stdout) as { before: number; after: number };
    expect(before).toBe(0);
    expect(after).toBeGreaterThan(0);
  });

  it("signed URLs use signingEndpoint (the browsers' hostname) while requests use endpoint", async () => {
    const driver = new S3Driver({
      bucket: "media",
      profile: "minio",
      endpoint: "http://minio:9000",
      signingEndpoint: "https://files.example.com",
      credentials: { accessKeyId: "AKIAFAKE", secretAccessKey: FAKE_SECRET },
    });
    const url = await driver.signedUrl("a b.txt", {
      signal: new AbortController().signal,
      expiresIn: 60,
      responseContentDisposition: 'attachment; filename="a.txt"',
    });
    expect(url.startsWith("https://files.example.com/media/a%20b.txt?")).toBe(true);
    expect(new URL(url).searchParams.get("response-content-disposition")).toBe(
      'attachment; filename="a.txt"',
    );
    await driver.close();
  });

  it("a signed POST carries the size range and content type in its policy, and the ACL as a field", async () => {
    const { driver } = setup(undefined, { acl: true });
    const post = await driver.signedUpload("up.png", {
      signal: new AbortController().signal,
      expiresIn: 60,
      method: "post",
      contentType: "image/png",
      maxBytes: 1000,
      visibility: "public",
    });
    expect(post.method).toBe("POST");
    expect(post.fields.key).toBe("app/up.png");
    expect(post.fields.acl).toBe("public-read");
    const policy = JSON.parse(Buffer.from(post.fields.Policy!, "base64").toString("utf8")) as {
      conditions: unknown[];
    };
    expect(policy.conditions).toContainEqual(["content-length-range", 0, 1000]);
    expect(policy.conditions).toContainEqual({ "Content-Type": "image/png" });
    expect(post.maxBytes).toBe(1000);
  });
});

describe("credentials stay secret", () => {
  it("JSON, toString and inspect of the driver and of a Storage show no credentials", async () => {
    const driver = new S3Driver({
      bucket: "media",
      profile: "minio",
      endpoint: "http://127.0.0.1:9000",
      credentials: {
        accessKeyId: "AKIAFAKE",
        secretAccessKey: FAKE_SECRET,
        sessionToken: "SESSIONTOKENSECRET",
      },
    });
    const storage = new Storage(driver);
    for (const text of [
      JSON.stringify(driver),
      String(driver),
      inspect(driver, { depth: 10 }),
      inspect(storage, { depth: 10 }),
      JSON.stringify(storage),
    ]) {
      expect(text).not.toContain(FAKE_SECRET);
      expect(text).not.toContain("SESSIONTOKENSECRET");
    }
    expect(JSON.parse(JSON.stringify(driver))).toEqual({
      backend: "s3",
      profile: "minio",
      bucket: "media",
      prefix: "",
      region: "us-east-1",
      endpoint: "http://127.0.0.1:9000",
    });
    await driver.close();
  });

  it("errors from the service carry no credentials", async () => {
    const { driver } = setup(() => xmlError("SignatureDoesNotMatch", 403));
    const error = await driver.stat("x", { signal: new AbortController().signal }).catch((e: unknown) => e);
    expect(StorageError.hasCode(error, "E_PERMISSION_DENIED")).toBe(true);
    for (const text of [String(error), JSON.stringify(error), (error as Error).stack ?? ""])
      expect(text).not.toContain(FAKE_SECRET);
  });
});

describe("checksums and etags", () => {
  const md5 = "5d41402abc4b2a76b9719d911017c592"; // of "hello"
  const md5Base64 = Buffer.from(md5, "hex").toString("base64");
  const signal = new AbortController().signal;
  const head =
    (headers: Record<string, string>): Responder =>
    () => ({
      headers: { "content-length": "5", "last-modified": "Mon, 01 Jan 2024 00:00:00 GMT", ...headers },
    });

  it("stat: an MD5 ETag is the MD5; a multipart one is not, and the recorded MD5 (hidden from metadata) is", async () => {
    const single = setup(head({ etag: `"${md5}"`, "x-amz-meta-owner": "me" }));
    expect(await single.driver.stat("f", { signal })).toMatchObject({
      etag: `"${md5}"`,
      checksums: { md5 },
      metadata: { owner: "me" },
    });
    const multi = setup(
      head({
        etag: '"0123456789abcdef0123456789abcdef-3"',
        "x-amz-meta-md5chksum": md5Base64,
        "x-amz-meta-owner": "me",
      }),
    );
    const stat = await multi.driver.stat("f", { signal });
    expect(stat.checksums).toEqual({ md5 });
    expect(stat.metadata).toEqual({ owner: "me" });
    const none = setup(head({ etag: '"0123456789abcdef0123456789abcdef-3"' }));
    expect((await none.driver.stat("f", { signal })).checksums).toBeUndefined();
  });

  it("stat: under KMS the ETag is not an MD5; S3's whole-object checksums are read, composite ones are not", async () => {
    const kms = setup(head({ etag: `"${"a".repeat(32)}"`, "x-amz-server-side-encryption": "aws:kms" }));
    expect((await kms.driver.stat("f", { signal })).checksums).toBeUndefined();
    const sha = Buffer.alloc(32, 1).toString("base64");
    const full = setup(
      head({
        etag: '"x-2"',
        "x-amz-checksum-sha256": sha,
        "x-amz-checksum-crc32c": "yZRlqg==",
        "x-amz-checksum-type": "FULL_OBJECT",
      }),
    );
    expect((await full.driver.stat("f", { signal })).checksums).toEqual({
      sha256: "01".repeat(32),
      crc32c: "c99465aa",
    });
    const composite = setup(
      head({ etag: '"x-2"', "x-amz-checksum-sha256": `${sha}-2`, "x-amz-checksum-type": "COMPOSITE" }),
    );
    expect((await composite.driver.stat("f", { signal })).checksums).toBeUndefined();
    expect(full.requests[0]!.headers["x-amz-checksum-mode"]).toBe("ENABLED");
  });

  it("listings give the MD5 of single-request ETags only, and none on a storage configured for KMS", async () => {
    const body = `<ListBucketResult><IsTruncated>false</IsTruncated>
      <Contents><Key>app/one.txt</Key><Size>5</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"${md5}"</ETag></Contents>
      <Contents><Key>app/parts.bin</Key><Size>9</Size><LastModified>2024-01-01T00:00:00.000Z</LastModified><ETag>"${md5}-2"</ETag></Contents>
      </ListBucketResult>`;
    const options = { signal, recursive: true, pageSize: 10 };
    const plain = setup(() => ({ body }));
    expect((await plain.driver.listPage("", options)).entries).toMatchObject([
      { name: "one.txt", etag: `"${md5}"`, checksums: { md5 } },
      { name: "parts.bin", etag: `"${md5}-2"`, checksums: undefined },
    ]);
    const kms = setup(() => ({ body }), { serverSideEncryption: "aws:kms" });
    for (const entry of (await kms.driver.listPage("", options)).entries) {
      expect(entry.type === "file" && entry.checksums).toBeFalsy();
    }
  });

  it("a caller's md5chksum metadata is never sent: the key is the driver's; under KMS the MD5 goes with the object", async () => {
    const plain = setup(() => ({ headers: { etag: `"${md5}"` } }));
    await plain.driver.write(
      "a.txt",
      ...bytesWrite("hello", { metadata: { md5chksum: "forged", owner: "me" } }),
    );
    expect(plain.requests[0]!.headers["x-amz-meta-md5chksum"]).toBeUndefined();
    expect(plain.requests[0]!.headers["x-amz-meta-owner"]).toBe("me");
    const kms = setup(() => ({ headers: { etag: '"opaque"' } }), { serverSideEncryption: "aws:kms" });
    await kms.driver.write("a.txt", ...bytesWrite("hello"));
    expect(kms.requests[0]!.headers["x-amz-meta-md5chksum"]).toBe(md5Base64);
  });
});
