/**
 * The same refusals against Ceph RGW (S3): nothing left in the bucket, and no open multipart
 * upload either — listed through S3's own API. Without a server this suite fails, it never skips.
 */
import { randomBytes } from "node:crypto";
import { createUploadHandler, serveMedia } from "@storages/http";
import { s3Storage } from "@storages/s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  describeRejections,
  listen,
  names,
  partHead,
  png,
  post,
  rawUpload,
  sleep,
} from "../packages/http/test/support/uploads.js";
import {
  connectionOf,
  failWithoutServer,
  findTestServer,
  openUploads,
  testBucket,
} from "../packages/s3/test/support/server.js";

const server = findTestServer();

if (!server) {
  failWithoutServer("uploads on S3");
} else {
  const { admin, name: bucket, ready, remove } = testBucket(server, "uploads");
  const storage = (prefix: string) =>
    s3Storage({ bucket, prefix, ...connectionOf(server), partSize: "5MiB" });

  beforeAll(ready);
  afterAll(remove);

  describeRejections(server.label, {
    storage: async () => storage(`uploads-${randomBytes(4).toString("hex")}`),
    leftovers: async (s) =>
      openUploads(admin, bucket, `${(s.driver as unknown as { prefix: string }).prefix}`),
  });

  describe(`a large upload cut mid-file on ${server.label}`, () => {
    it("leaves no object and no open multipart upload", async () => {
      const prefix = `uploads-cut-${randomBytes(4).toString("hex")}`;
      const media = storage(prefix);
      const handler = createUploadHandler(media, { maxFileSize: 64 * 1024 * 1024 });
      const { server: http, origin } = await listen(handler);
      try {
        const head = partHead({ field: "file", filename: "big.png", contentType: "image/png", body: "" });
        const body = png(12 * 1024 * 1024);
        const { answer } = rawUpload(
          origin,
          async (socket) => {
            socket.write(head);
            socket.write(body.subarray(0, 11 * 1024 * 1024));
            // Let the first 5 MiB part reach RGW, so a multipart upload is open when the client goes.
            for (let i = 0; i < 100 && (await openUploads(admin, bucket, prefix)).length === 0; i++)
              await sleep(100);
            expect(await openUploads(admin, bucket, prefix)).toHaveLength(1);
            socket.destroy();
          },
          { "Content-Length": String(head.length + body.length + 100) },
        );
        expect(await answer).toBeUndefined();
        for (let i = 0; i < 100 && (await openUploads(admin, bucket, prefix)).length > 0; i++)
          await sleep(100);
        expect(await openUploads(admin, bucket, prefix)).toEqual([]);
        expect(await names(media)).toEqual([]);
      } finally {
        http.closeAllConnections();
        http.close();
      }
    });
  });

  describe(`private media on ${server.label}`, () => {
    it("serveMedia redirects to a short-lived signed URL; active content comes back as a download", async () => {
      const media = storage(`media-${randomBytes(4).toString("hex")}`);
      await media.save("photo.png", png(2000));
      await media.save("page.html", "<!doctype html><script>document.title='pwned'</script>");
      const { server: http, origin } = await listen((req, res) => {
        serveMedia(req, res, media, decodeURIComponent(req.url!.slice(1))).catch(() =>
          res.writeHead(500).end(),
        );
      });
      try {
        for (const [name, disposition] of [
          ["photo.png", null],
          ["page.html", /^attachment; filename="page\.html"/],
        ] as const) {
          const answer = await fetch(`${origin}/${name}`, { redirect: "manual" });
          expect(answer.status, name).toBe(302);
          expect(answer.headers.get("cache-control")).toBe("private, no-store");
          const location = answer.headers.get("location")!;
          expect(location).toMatch(/X-Amz-Expires=60\b/);
          const fetched = await fetch(location);
          expect(fetched.status, name).toBe(200);
          if (disposition) expect(fetched.headers.get("content-disposition"), name).toMatch(disposition);
          else expect(fetched.headers.get("content-disposition"), name).toBeNull();
        }
        expect((await fetch(`${origin}/missing.png`, { redirect: "manual" })).status).toBe(404);
      } finally {
        http.closeAllConnections();
        http.close();
        await media.deleteMany(["photo.png", "page.html"]);
      }
    });
  });

  describe(`the same file name uploaded at once on ${server.label}`, () => {
    it("every upload is stored under a name of its own or refused 409 E_UPLOAD_CONFLICT, never a 500", async () => {
      const prefix = `uploads-race-${randomBytes(4).toString("hex")}`;
      const media = storage(prefix);
      const { server: http, origin } = await listen(createUploadHandler(media, { concurrency: 16 }));
      try {
        const answers = await Promise.all(
          Array.from({ length: 12 }, () =>
            post(origin, [
              { field: "file", filename: "same.png", contentType: "image/png", body: png(20_000) },
            ]),
          ),
        );
        for (const answer of answers) {
          if (answer.status !== 201)
            expect(answer).toMatchObject({ status: 409, body: { error: { code: "E_UPLOAD_CONFLICT" } } });
        }
        const stored = answers.filter((a) => a.status === 201).map((a) => a.body.files![0]!.name);
        expect(new Set(stored).size).toBe(stored.length);
        expect((await names(media)).sort()).toEqual([...stored].sort());
        await media.deleteMany(stored);
      } finally {
        http.closeAllConnections();
        http.close();
      }
    });
  });
}
