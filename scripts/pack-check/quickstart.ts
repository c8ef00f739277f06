// The README quick start, run against the installed tarballs exactly as a new user would copy it.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { fsStorage } from "@storages/fs";

const root = await mkdtemp(join(tmpdir(), "quickstart-"));
try {
  const request = Readable.from([Buffer.from("0123456789 pretend this is a JPEG")]);
  const media = fsStorage({ root, baseUrl: "/media/", signing: { key: "a-32-byte-key-for-the-pack-check" } });
  const { name } = await media.save("avatars/me.jpg", request, { contentType: "image/jpeg" });
  assert.equal(name, "avatars/me.jpg");
  assert.equal(await media.url(name), "/media/avatars/me.jpg");
  const signed = await media.signedUrl(name, { expiresIn: 600, download: "me.jpg" });
  assert.match(signed, /^\/media\/avatars\/me\.jpg\?.*sig=/);
  const listed: string[] = [];
  for await (const entry of media.list("avatars/", { recursive: true }))
    listed.push(`${entry.name} ${entry.type}`);
  assert.deepEqual(listed, ["avatars/me.jpg file"]);
  const stream = await media.open(name, { range: { start: 0, end: 9 } });
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  assert.equal(Buffer.concat(chunks).toString(), "0123456789");
  await media.delete(name);
  assert.equal(await media.exists(name), false);
  console.log("quick start: save, url, signedUrl, list, open with a range, delete — ok");
} finally {
  await rm(root, { recursive: true, force: true });
}
