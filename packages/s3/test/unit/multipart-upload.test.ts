/**
 * The bounded-memory uploader: parts cut in stream order from reused buffers, with the bytes
 * intact (the fake answers late, so a buffer reused before its request finished would show), the
 * single-request shortcut, and the abort on failure. Wire-level only (see support/fake-s3.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { uploadBody } from "../../src/multipart-upload.js";
import { PartBuffers } from "../../src/parts.js";
import { fakeS3, type RecordedRequest, type Responder, xmlError } from "../support/fake-s3.js";

const MiB = 1024 * 1024;
const params = { Bucket: "media", Key: "big.bin", ContentType: "application/octet-stream" };
/** Where uploadBody records the MD5 (the driver passes its own key and its encryption's answer). */
const record = { md5Metadata: "md5chksum", etagIsMd5: true };

function server(extra?: Responder): Responder {
  return (request) => {
    const override = extra?.(request);
    if (override) return override;
    if (request.method === "POST" && request.query.uploads !== undefined) {
      return {
        body: "<InitiateMultipartUploadResult><UploadId>U1</UploadId></InitiateMultipartUploadResult>",
      };
    }
    if (request.method === "PUT" && request.query.partNumber) {
      const md5 = createHash("md5").update(request.bytes).digest("hex");
      return { headers: { etag: `"${md5}"` } };
    }
    if (request.method === "POST" && request.query.uploadId)
      return {
        body: '<CompleteMultipartUploadResult><ETag>"final-3"</ETag></CompleteMultipartUploadResult>',
      };
    // RGW keeps the multipart ETag through a copy (AWS would give the MD5).
    if (request.method === "PUT" && request.headers["x-amz-copy-source"])
      return { body: '<CopyObjectResult><ETag>"final-3"</ETag></CopyObjectResult>' };
    return { headers: { etag: '"single"' } };
  };
}

/** `data` as a stream of uneven chunks, so parts straddle chunk boundaries. */
function unevenStream(data: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let offset = 0, i = 0; offset < data.length; i++) {
    const size = [65_536, 1_000_003, 17, 300_000, 2 * MiB + 1][i % 5]!;
    chunks.push(data.subarray(offset, offset + size));
    offset += size;
  }
  return Readable.from(chunks, { objectMode: false });
}

/** uploadBody's options for 5 MiB parts, two in flight, from `buffers`. */
const pooled = (client: import("@aws-sdk/client-s3").S3Client, buffers: PartBuffers) => ({
  client,
  params,
  ...record,
  partSize: 5 * MiB,
  queueSize: 2,
  buffers,
  signal: new AbortController().signal,
});

const parts = (requests: RecordedRequest[]) =>
  requests.filter((r) => r.method === "PUT" && r.query.partNumber);

describe("uploadBody", () => {
  it("reads a stream announced smaller than a part into a buffer of its size, and copes with one that holds more", async () => {
    for (const [announced, actual, expectedParts] of [
      [30_000, 30_000, 1],
      [10, 30_000, 1],
      [10, 12 * MiB + 7, 3],
    ] as const) {
      const { client, requests } = fakeS3(server(), { responseDelayMs: 2 });
      const data = randomBytes(actual);
      const result = await uploadBody(unevenStream(data), {
        client,
        params,
        ...record,
        partSize: 5 * MiB,
        queueSize: 2,
        sizeHint: announced,
        signal: new AbortController().signal,
      });
      expect(result.size).toBe(actual);
      expect(result.parts).toBe(expectedParts);
      expect(result.md5).toBe(createHash("md5").update(data).digest("hex"));
      const sent =
        expectedParts === 1
          ? requests.filter((r) => r.method === "PUT").map((r) => r.bytes)
          : parts(requests)
              .sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber))
              .map((r) => r.bytes);
      expect(Buffer.concat(sent).equals(data)).toBe(true);
    }
  });

  it("cuts a stream into ordered parts from reused buffers, bytes intact, and completes them in order", async () => {
    const { client, requests } = fakeS3(server(), { responseDelayMs: 5 });
    const data = randomBytes(23 * MiB + 12_345);
    const result = await uploadBody(unevenStream(data), {
      client,
      params,
      ...record,
      partSize: 5 * MiB,
      queueSize: 3,
      signal: new AbortController().signal,
    });
    expect(result).toEqual({
      size: data.length,
      etag: '"final-3"',
      parts: 5,
      md5: createHash("md5").update(data).digest("hex"),
      md5Recorded: true,
    });
    const uploaded = parts(requests).sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber));
    expect(uploaded.map((r) => r.bytes.length)).toEqual([
      5 * MiB,
      5 * MiB,
      5 * MiB,
      5 * MiB,
      3 * MiB + 12_345,
    ]);
    expect(Buffer.concat(uploaded.map((r) => r.bytes)).equals(data)).toBe(true);
    const complete = requests.find((r) => r.method === "POST" && r.query.uploadId === "U1")!;
    expect([...complete.body.matchAll(/<PartNumber>(\d+)<\/PartNumber>/g)].map((m) => Number(m[1]))).toEqual([
      1, 2, 3, 4, 5,
    ]);
  });

  it("sends a body that fits in one part (even exactly) as one PutObject", async () => {
    for (const size of [0, 1000, 5 * MiB]) {
      const { client, requests } = fakeS3(server());
      const data = randomBytes(size);
      const result = await uploadBody(unevenStream(data), {
        client,
        params,
        ...record,
        partSize: 5 * MiB,
        queueSize: 2,
        signal: new AbortController().signal,
      });
      expect(result.parts).toBe(1);
      expect(requests.map((r) => r.method)).toEqual(["PUT"]);
      expect(requests[0]!.bytes.equals(data)).toBe(true);
      expect(requests[0]!.headers["content-length"]).toBe(String(size));
    }
  });

  it("sends a body of two parts as one PutObject: a stream of its parts (no copy into one buffer), checked by Content-MD5", async () => {
    for (const body of ["stream", "bytes"] as const) {
      const { client, requests } = fakeS3(server(), { responseDelayMs: 2 });
      const data = randomBytes(8 * MiB + 5);
      const result = await uploadBody(
        body === "stream" ? unevenStream(data) : data,
        pooled(client, new PartBuffers(5 * MiB, 8)),
      );
      const md5 = createHash("md5").update(data);
      expect(result).toMatchObject({ size: data.length, parts: 1, md5: md5.copy().digest("hex") });
      expect(requests.map((r) => r.method)).toEqual(["PUT"]);
      expect(requests[0]!.bytes.equals(data)).toBe(true);
      expect(requests[0]!.headers["content-md5"]).toBe(md5.digest("base64"));
      expect(requests[0]!.headers["x-amz-content-sha256"]).toBe("UNSIGNED-PAYLOAD");
      expect(requests[0]!.headers.authorization).toContain("content-md5");
    }
  });

  it("uploads whose first two parts share a pool of two take them together, so none waits forever for the other's", async () => {
    const buffers = new PartBuffers(5 * MiB, 2);
    const { client, requests } = fakeS3(server(), { responseDelayMs: 5 });
    const bodies = Array.from({ length: 3 }, (_, i) => randomBytes(5 * MiB + 1000 * (i + 1)));
    const results = await Promise.all(
      bodies.map((data) => uploadBody(unevenStream(data), pooled(client, buffers))),
    );
    expect(results.map((r) => r.size)).toEqual(bodies.map((b) => b.length));
    expect(requests.filter((r) => r.method === "PUT" && !r.query.partNumber)).toHaveLength(3);
    // A pool of one: the head is one part, and a longer body goes multipart as before.
    const data = randomBytes(7 * MiB);
    const result = await uploadBody(unevenStream(data), pooled(client, new PartBuffers(5 * MiB, 1)));
    expect(result).toMatchObject({ size: data.length, parts: 2 });
  });

  it("an in-memory body is cut into views, not copies, with the same protocol", async () => {
    const { client, requests } = fakeS3(server());
    const data = randomBytes(11 * MiB);
    const result = await uploadBody(data, {
      client,
      params,
      ...record,
      partSize: 5 * MiB,
      queueSize: 2,
      signal: new AbortController().signal,
    });
    expect(result.parts).toBe(3);
    expect(
      Buffer.concat(
        parts(requests)
          .sort((a, b) => Number(a.query.partNumber) - Number(b.query.partNumber))
          .map((r) => r.bytes),
      ).equals(data),
    ).toBe(true);
  });

  it("uploads sharing PartBuffers hold at most its limit of parts at once, reuse them, and give back a failed upload's", async () => {
    /** Counts the permits out, as the memory bound is that count × partSize. */
    class Counted extends PartBuffers {
      out = 0;
      most = 0;
      allocated = 0;
      override acquire(count = 1) {
        const permit = super.acquire(count);
        return {
          ...permit,
          granted: permit.granted.then(() => {
            this.out += count;
            this.most = Math.max(this.most, this.out);
          }),
        };
      }
      override releasePermit() {
        this.out -= 1;
        super.releasePermit();
      }
      override take() {
        const reused = (this as unknown as { idle: Buffer[] }).idle.length > 0;
        if (!reused) this.allocated += 1;
        return super.take();
      }
    }
    const buffers = new Counted(5 * MiB, 2);
    const { client } = fakeS3(server(), { responseDelayMs: 5 });
    const options = { client, params, ...record, partSize: 5 * MiB, queueSize: 3, buffers };
    const bodies = Array.from({ length: 4 }, () => randomBytes(12 * MiB + 3));
    const results = await Promise.all(
      bodies.map((data) =>
        uploadBody(unevenStream(data), { ...options, signal: new AbortController().signal }),
      ),
    );
    for (const [i, result] of results.entries())
      expect(result.md5).toBe(createHash("md5").update(bodies[i]!).digest("hex"));
    expect(buffers.most).toBe(2);
    expect(buffers.allocated).toBe(2);
    expect(buffers.out).toBe(0);

    async function* failing() {
      yield randomBytes(6 * MiB);
      throw new Error("disk read error");
    }
    await expect(
      uploadBody(Readable.from(failing()), { ...options, signal: new AbortController().signal }),
    ).rejects.toThrow("disk read error");
    expect(buffers.out).toBe(0);
    const after = randomBytes(11 * MiB);
    const result = await uploadBody(unevenStream(after), {
      ...options,
      signal: new AbortController().signal,
    });
    expect(result.md5).toBe(createHash("md5").update(after).digest("hex"));
  });

  it("a body that fails mid-way aborts the multipart upload and never completes it", async () => {
    const { client, requests } = fakeS3(server());
    async function* failing() {
      yield randomBytes(11 * MiB);
      throw new Error("disk read error");
    }
    const error = await uploadBody(Readable.from(failing()), {
      client,
      params,
      ...record,
      partSize: 5 * MiB,
      queueSize: 2,
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect(String(error)).toContain("disk read error");
    expect(requests.some((r) => r.method === "DELETE" && r.query.uploadId === "U1")).toBe(true);
    expect(requests.some((r) => r.method === "POST" && r.query.uploadId === "U1")).toBe(false);
  });

  it("a beforeComplete refusal aborts the upload instead of completing it", async () => {
    const { client, requests } = fakeS3(server());
    const error = await uploadBody(randomBytes(11 * MiB), {
      client,
      params,
      ...record,
      partSize: 5 * MiB,
      queueSize: 2,
      signal: new AbortController().signal,
      beforeComplete: async () => {
        throw new Error("taken");
      },
    }).catch((e: unknown) => e);
    expect(String(error)).toContain("taken");
    expect(requests.some((r) => r.method === "DELETE" && r.query.uploadId === "U1")).toBe(true);
    expect(requests.some((r) => r.method === "POST" && r.query.uploadId === "U1")).toBe(false);
  });

  it("an abort before the multipart upload exists never creates one", async () => {
    const { client, requests } = fakeS3(server());
    const controller = new AbortController();
    async function* body() {
      yield randomBytes(5 * MiB);
      controller.abort(new Error("stop"));
      yield randomBytes(MiB);
    }
    const error = await uploadBody(Readable.from(body()), {
      client,
      params,
      ...record,
      partSize: 5 * MiB,
      queueSize: 2,
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(String(error)).toContain("stop");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(requests.filter((r) => r.query.uploads !== undefined)).toEqual([]);
  });

  it("a part the server refuses (after the SDK's retries) is reported and the upload aborted", async () => {
    const { client, requests } = fakeS3(
      server((r) => (r.query.partNumber === "2" ? xmlError("InternalError", 500) : undefined)),
    );
    const error = await uploadBody(randomBytes(16 * MiB), {
      client,
      params,
      ...record,
      partSize: 5 * MiB,
      queueSize: 1,
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect((error as { name?: string }).name).toBe("InternalError");
    expect(requests.some((r) => r.method === "DELETE" && r.query.uploadId === "U1")).toBe(true);
    expect(parts(requests).map((r) => r.query.partNumber)).toEqual(["1", "2"]); // nothing after the failure
  });

  describe("the MD5 of every object it writes", () => {
    const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("hex");
    const base64 = (hex: string) => Buffer.from(hex, "hex").toString("base64");
    const options = (client: import("@aws-sdk/client-s3").S3Client) => ({
      client,
      params: { ...params, Metadata: { owner: "me" }, CacheControl: "no-store" },
      ...record,
      partSize: 5 * MiB,
      queueSize: 2,
      signal: new AbortController().signal,
    });

    it("a stream in parts: hashed as read, then put in the metadata by a guarded copy onto itself", async () => {
      const { client, requests } = fakeS3(server());
      const data = randomBytes(12 * MiB + 3);
      const result = await uploadBody(unevenStream(data), options(client));
      expect(result).toMatchObject({ md5: md5(data), md5Recorded: true, etag: '"final-3"' });
      const copies = requests.filter((r) => r.headers["x-amz-copy-source"] !== undefined);
      expect(copies).toHaveLength(1);
      const copy = copies[0]!;
      expect(copy.path).toBe("/media/big.bin");
      expect(copy.headers["x-amz-copy-source"]).toBe("media/big.bin");
      expect(copy.headers["x-amz-metadata-directive"]).toBe("REPLACE");
      expect(copy.headers["x-amz-meta-md5chksum"]).toBe(base64(md5(data)));
      // REPLACE drops whatever is not sent again: the caller's headers and metadata go with it.
      expect(copy.headers["x-amz-meta-owner"]).toBe("me");
      expect(copy.headers["cache-control"]).toBe("no-store");
      expect(copy.headers["content-type"]).toBe("application/octet-stream");
      // Only the version just completed: its ETag, from CompleteMultipartUpload.
      expect(copy.headers["x-amz-copy-source-if-match"]).toBe('"final-3"');
      // Ordered after the completion.
      const complete = requests.findIndex((r) => r.method === "POST" && r.query.uploadId === "U1");
      expect(requests.indexOf(copy)).toBeGreaterThan(complete);
    });

    it("without an ETag from completion (RGW), the guard is the ETag computed from the parts", async () => {
      const { client, requests } = fakeS3(
        server((r) =>
          r.method === "POST" && r.query.uploadId
            ? { body: "<CompleteMultipartUploadResult><ETag></ETag></CompleteMultipartUploadResult>" }
            : undefined,
        ),
      );
      const data = randomBytes(11 * MiB);
      await uploadBody(unevenStream(data), options(client));
      const partMd5s = [
        data.subarray(0, 5 * MiB),
        data.subarray(5 * MiB, 10 * MiB),
        data.subarray(10 * MiB),
      ].map((part) => createHash("md5").update(part).digest());
      const expected = `"${createHash("md5").update(Buffer.concat(partMd5s)).digest("hex")}-3"`;
      const copy = requests.find((r) => r.headers["x-amz-copy-source"] !== undefined)!;
      expect(copy.headers["x-amz-copy-source-if-match"]).toBe(expected);
    });

    it("a body in memory gets its MD5 at creation, and no copy", async () => {
      const { client, requests } = fakeS3(server());
      const data = randomBytes(11 * MiB);
      const result = await uploadBody(data, options(client));
      expect(result).toMatchObject({ md5: md5(data), md5Recorded: true, etag: '"final-3"' });
      const create = requests.find((r) => r.query.uploads !== undefined)!;
      expect(create.headers["x-amz-meta-md5chksum"]).toBe(base64(md5(data)));
      expect(requests.some((r) => r.headers["x-amz-copy-source"] !== undefined)).toBe(false);
    });

    it("one PutObject: the ETag is the MD5, so nothing is added — unless the ETag will not be (KMS)", async () => {
      const data = randomBytes(1000);
      const plain = fakeS3(server());
      const one = await uploadBody(unevenStream(data), options(plain.client));
      expect(one).toMatchObject({ md5: md5(data), md5Recorded: false, parts: 1 });
      expect(plain.requests[0]!.headers["x-amz-meta-md5chksum"]).toBeUndefined();
      const kms = fakeS3(server());
      const two = await uploadBody(unevenStream(data), { ...options(kms.client), etagIsMd5: false });
      expect(two).toMatchObject({ md5: md5(data), md5Recorded: true });
      expect(kms.requests[0]!.headers["x-amz-meta-md5chksum"]).toBe(base64(md5(data)));
    });

    it("an object replaced between completion and the copy keeps its own metadata (412: nothing recorded)", async () => {
      const { client } = fakeS3(
        server((r) => (r.headers["x-amz-copy-source"] ? xmlError("PreconditionFailed", 412) : undefined)),
      );
      const result = await uploadBody(unevenStream(randomBytes(11 * MiB)), options(client));
      expect(result).toMatchObject({ md5Recorded: false, etag: '"final-3"' });
    });

    it("on a versioned bucket the version the upload made is removed once the copy replaced it", async () => {
      const { client, requests } = fakeS3(
        server((r) => {
          if (r.method === "POST" && r.query.uploadId)
            return {
              headers: { "x-amz-version-id": "v-upload" },
              body: '<CompleteMultipartUploadResult><ETag>"final-3"</ETag></CompleteMultipartUploadResult>',
            };
          if (r.headers["x-amz-copy-source"])
            return {
              headers: { "x-amz-version-id": "v-copy" },
              body: '<CopyObjectResult><ETag>"final-3"</ETag></CopyObjectResult>',
            };
          return undefined;
        }),
      );
      await uploadBody(unevenStream(randomBytes(11 * MiB)), options(client));
      const deletes = requests.filter((r) => r.method === "DELETE");
      expect(deletes.map((r) => r.query.versionId)).toEqual(["v-upload"]);
    });

    it("AWS gives the copy the MD5 as ETag: that is the save's etag", async () => {
      const data = randomBytes(11 * MiB);
      const { client } = fakeS3(
        server((r) =>
          r.headers["x-amz-copy-source"]
            ? { body: `<CopyObjectResult><ETag>"${md5(data)}"</ETag></CopyObjectResult>` }
            : undefined,
        ),
      );
      const result = await uploadBody(unevenStream(data), options(client));
      expect(result).toMatchObject({ md5Recorded: true, etag: `"${md5(data)}"` });
    });

    it("a server that ignored the guard and copied another writer's object: our MD5 is taken back", async () => {
      const data = randomBytes(11 * MiB);
      const ours = base64(md5(data));
      const { client, requests } = fakeS3(
        server((r) => {
          if (r.headers["x-amz-copy-source"])
            return { body: '<CopyObjectResult><ETag>"theirs-2"</ETag></CopyObjectResult>' };
          if (r.method === "HEAD")
            return {
              headers: {
                etag: '"theirs-2"',
                "content-length": "42",
                "content-type": "text/csv",
                "x-amz-meta-md5chksum": ours,
                "x-amz-meta-their": "own",
              },
            };
          return undefined;
        }),
      );
      const result = await uploadBody(unevenStream(data), options(client));
      expect(result).toMatchObject({ md5Recorded: false, etag: '"final-3"' });
      const copies = requests.filter((r) => r.headers["x-amz-copy-source"] !== undefined);
      expect(copies).toHaveLength(2);
      const undo = copies[1]!;
      expect(undo.headers["x-amz-meta-md5chksum"]).toBeUndefined();
      expect(undo.headers["x-amz-meta-their"]).toBe("own");
      expect(undo.headers["content-type"]).toBe("text/csv");
      expect(undo.headers["x-amz-copy-source-if-match"]).toBe('"theirs-2"');
    });

    it('with versioning suspended (version "null") nothing is deleted: the copy replaced that version', async () => {
      const { client, requests } = fakeS3(
        server((r) =>
          r.method === "POST" && r.query.uploadId
            ? {
                headers: { "x-amz-version-id": "null" },
                body: '<CompleteMultipartUploadResult><ETag>"final-3"</ETag></CompleteMultipartUploadResult>',
              }
            : undefined,
        ),
      );
      await uploadBody(unevenStream(randomBytes(11 * MiB)), options(client));
      expect(requests.filter((r) => r.method === "DELETE")).toEqual([]);
    });
  });
});
