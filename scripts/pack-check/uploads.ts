// @storages/http from its tarball: a form upload streamed into an fs storage through the node:http
// adapter, a refusal with its typed body, and the browser module's types importable.
import assert from "node:assert/strict";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fsStorage } from "@storages/fs";
import { createUploadHandler, type UploadErrorBody, type UploadResult } from "@storages/http";
import type { UploadDescriptor } from "@storages/http/browser";

const root = await mkdtemp(join(tmpdir(), "uploads-"));
const server = createServer(createUploadHandler(fsStorage({ root }), { uploadTo: "photos/" }));
try {
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const png = Buffer.concat([
    Buffer.from("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489", "hex"),
    Buffer.from("0000000049444154ae426082", "hex"),
  ]);
  const form = new FormData();
  form.append("file", new Blob([png]), "me.jpg");
  const stored = (await (await fetch(url, { method: "POST", body: form })).json()) as UploadResult;
  assert.equal(stored.files[0]?.name, "photos/me.png");
  assert.equal(stored.files[0]?.contentType, "image/png");
  const refused = new FormData();
  refused.append("file", new Blob(["<script>alert(1)</script>"]), "cat.jpg");
  const answer = await fetch(url, { method: "POST", body: refused });
  assert.equal(answer.status, 415);
  assert.equal(((await answer.json()) as UploadErrorBody).error.code, "E_UPLOAD_TYPE");
  const descriptor: UploadDescriptor = { method: "PUT", url, name: "x", token: "t" };
  assert.equal(descriptor.method, "PUT");
  console.log("uploads: form upload streamed and sniffed, a disguised script refused (415) — ok");
} finally {
  server.close();
  await rm(root, { recursive: true, force: true });
}
