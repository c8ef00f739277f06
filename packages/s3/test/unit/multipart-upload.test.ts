/**
 * The bounded-memory uploader: parts cut in stream order from reused buffers, with the bytes
 * intact (the fake answers late, so a buffer reused before its request finished would show), the
 * single-request shortcut, and the abort on failure. Wire-level only (see support/fake-s3.ts).
 */
import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { uploadBody } from "../../src/multipart-upload.js";
import { fakeS3, type RecordedRequest, type Responder, xmlError } from "../support/fake-s3.js";

const MiB = 1024 * 1024;
const params = { Bucket: "media", Key: "big.bin", ContentType: "application/octet-stream" };

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

const parts = (requests: RecordedRequest[]) =>
  requests.filter((r) => r.method === "PUT" && r.query.partNumber);

describe("uploadBody", () => {
  it("cuts a stream into ordered parts from reused buffers, bytes intact, and completes them in order", async () => {
    const { client, requests } = fakeS3(server(), { responseDelayMs: 5 });
    const data = randomBytes(23 * MiB + 12_345);
    const result = await uploadBody(unevenStream(data), {
      client,
      params,
      partSize: 5 * MiB,
      queueSize: 3,
      signal: new AbortController().signal,
    });
    expect(result).toEqual({ size: data.length, etag: '"final-3"', parts: 5 });
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

  it("an in-memory body is cut into views, not copies, with the same protocol", async () => {
    const { client, requests } = fakeS3(server());
    const data = randomBytes(11 * MiB);
    const result = await uploadBody(data, {
      client,
      params,
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

  it("a body that fails mid-way aborts the multipart upload and never completes it", async () => {
    const { client, requests } = fakeS3(server());
    async function* failing() {
      yield randomBytes(6 * MiB);
      throw new Error("disk read error");
    }
    const error = await uploadBody(Readable.from(failing()), {
      client,
      params,
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
      partSize: 5 * MiB,
      queueSize: 1,
      signal: new AbortController().signal,
    }).catch((e: unknown) => e);
    expect((error as { name?: string }).name).toBe("InternalError");
    expect(requests.some((r) => r.method === "DELETE" && r.query.uploadId === "U1")).toBe(true);
    expect(parts(requests).map((r) => r.query.partNumber)).toEqual(["1", "2"]); // nothing after the failure
  });
});
