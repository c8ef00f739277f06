/**
 * Migrations between real servers keep bytes and metadata: fs → S3 (RGW), S3 → Azure (Azurite),
 * GCS emulator → fs, Azure → GCS emulator. Each pair: a source seeded with files that carry
 * headers and metadata (and names that Azurite and the emulator list in UTF-16 order), `copy`,
 * then `verify` at zero differences, every file's bytes and headers compared, and a second copy
 * that copies nothing.
 */
import { createHash, randomBytes } from "node:crypto";
import type { SaveOptions, Storage } from "@storages/core";
import { copy, verify } from "@storages/migrate";
import { afterAll, describe, expect, it } from "vitest";
import { type BackendId, type NamedStorage, namedStorage, open } from "./migrate/backends.js";

interface Fixture {
  name: string;
  body: Buffer;
  options: SaveOptions;
}

const FIXTURES: Fixture[] = [
  {
    name: "docs/report.pdf",
    body: randomBytes(3000),
    options: {
      contentType: "application/pdf",
      cacheControl: "private, max-age=0",
      contentDisposition: 'attachment; filename="report.pdf"',
      metadata: { owner: "ops", "case-id": "42" },
    },
  },
  {
    name: "media/photo 1.jpg",
    body: randomBytes(20_000),
    options: { contentType: "image/jpeg", cacheControl: "public, max-age=31536000, immutable" },
  },
  {
    name: "unicode/😀.txt",
    body: Buffer.from("astral"),
    options: { contentType: "text/plain; charset=utf-8" },
  },
  {
    name: "unicode/Ａ.txt",
    body: Buffer.from("fullwidth"),
    options: { contentType: "text/plain; charset=utf-8" },
  },
  { name: "unicode/é.txt", body: Buffer.from("accent"), options: {} },
  { name: "empty.txt", body: Buffer.alloc(0), options: {} },
  // Past the S3 driver's single-request limit: a multipart upload, whose listing ETag is no MD5.
  { name: "big/video.bin", body: randomBytes(9 * 1024 * 1024), options: { contentType: "video/mp4" } },
];

const created: NamedStorage[] = [];
afterAll(async () => {
  await Promise.allSettled(created.map((n) => n.cleanup()));
});

const md5 = (bytes: Uint8Array) => createHash("md5").update(bytes).digest("hex");

async function roundTrip(from: BackendId, to: BackendId): Promise<void> {
  const named = [await namedStorage(from, "src"), await namedStorage(to, "dst")];
  created.push(...named);
  const [src, dst] = (await open(...named)) as [Storage, Storage];
  for (const f of FIXTURES) await src.save(f.name, f.body, { ...f.options, overwrite: true });

  const first = await copy(src, dst, { concurrency: 4 });
  expect(first.failures).toEqual([]);
  expect(first.copied.files).toBe(FIXTURES.length);
  expect(first.ok).toBe(true);

  const checked = await verify(src, dst);
  expect(checked).toMatchObject({
    ok: true,
    missing: { files: 0 },
    different: { files: 0 },
    extra: { files: 0 },
    failed: { files: 0 },
  });
  expect(checked.equal.files).toBe(FIXTURES.length);
  // "😀" and "Ａ" tell the two orders apart: the join saw which one each side lists in (fs: code
  // point; here Azurite, the GCS emulator and RGW all list in UTF-16 order) and matched every file.
  console.log(
    `${from} → ${to}: listing orders ${checked.listing.sourceOrder} → ${checked.listing.destinationOrder}`,
  );
  for (const [id, order] of [
    [from, checked.listing.sourceOrder],
    [to, checked.listing.destinationOrder],
  ] as const)
    expect(order, id).toBe(id === "fs" ? "code-point" : order === "either" ? "a known order" : order);

  for (const f of FIXTURES) {
    const [a, b] = await Promise.all([src.stat(f.name), dst.stat(f.name)]);
    expect(md5(await dst.readBytes(f.name)), f.name).toBe(md5(f.body));
    expect(b.size).toBe(f.body.length);
    expect({ type: b.contentType, cache: b.cacheControl, disposition: b.contentDisposition }, f.name).toEqual(
      {
        type: a.contentType,
        cache: a.cacheControl,
        disposition: a.contentDisposition,
      },
    );
    expect(b.metadata, f.name).toEqual(a.metadata);
    if (f.options.metadata) expect(b.metadata).toEqual(f.options.metadata);
    expect(b.checksums?.md5, f.name).toBe(md5(f.body));
  }

  const again = await copy(src, dst);
  expect(again.copied.files).toBe(0);
  expect(again.equal.files).toBe(FIXTURES.length);
  await Promise.all([src.close(), dst.close()]);
}

describe("migrations between real servers keep bytes and metadata", () => {
  it("fs → S3 (RGW)", () => roundTrip("fs", "s3"));
  it("S3 (RGW) → Azure (Azurite)", () => roundTrip("s3", "azure"));
  it("GCS emulator → fs", () => roundTrip("gcs", "fs"));
  it("Azure (Azurite) → GCS emulator", () => roundTrip("azure", "gcs"));

  it("inside one service and account, the service copies (no byte through this process)", async () => {
    const named = await namedStorage("s3", "one");
    created.push(named);
    const [bucket] = (await open(named)) as [Storage];
    for (const f of FIXTURES.slice(0, 3))
      await bucket.save(`old/${f.name}`, f.body, { ...f.options, overwrite: true });
    const result = await copy({ storage: bucket, prefix: "old/" }, { storage: bucket, prefix: "new/" });
    expect(result).toMatchObject({ ok: true, serverSideCopy: true, copied: { files: 3 } });
    const moved = await bucket.stat(`new/${FIXTURES[0]!.name}`);
    expect(moved.metadata).toEqual(FIXTURES[0]!.options.metadata);
    expect(moved.contentDisposition).toBe(FIXTURES[0]!.options.contentDisposition);
    expect((await verify({ storage: bucket, prefix: "old/" }, { storage: bucket, prefix: "new/" })).ok).toBe(
      true,
    );
    await bucket.close();
  });
});
