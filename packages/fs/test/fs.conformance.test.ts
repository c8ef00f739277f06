/**
 * The shared conformance suite against the real thing: files on the local disk, served over real
 * HTTP on 127.0.0.1 by createFsHandler, so public URLs, signed URLs (and their refusals) and signed
 * PUT uploads go through a plain HTTP client. No server gaps: the handler checks everything.
 */
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prefixed } from "@storages/core";
import { type CreateStorageContext, describeConformance } from "@storages/testing";
import { createFsHandler, type FsRequestHandler, fsStorage } from "../src/index.js";
import { SIGNING_KEY } from "./helpers.js";

const workDir = await mkdtemp(join(tmpdir(), "storages-fs-conformance-"));
/** One handler per storage, chosen by the first path segment (each storage has its own root). */
const handlers = new Map<string, FsRequestHandler>();
const server = createServer((request, response) => {
  const first = (request.url ?? "").split("/")[1] ?? "";
  const handler = handlers.get(first);
  if (!handler) {
    response.writeHead(404).end();
    return;
  }
  handler(request, response);
});
server.listen(0, "127.0.0.1");
await once(server, "listening");
const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

/** An fs storage at its own root, served over HTTP by its own handler. */
function servedStorage({ prefix, visibility, overwrite }: CreateStorageContext) {
  const storage = fsStorage({
    root: join(workDir, prefix),
    baseUrl: `${origin}/${prefix}/`,
    signing: { key: SIGNING_KEY },
    defaultVisibility: visibility,
    overwrite,
  });
  handlers.set(prefix, createFsHandler(storage));
  return storage;
}

describeConformance({
  name: "fs",
  server: "local filesystem + createFsHandler over HTTP",
  createStorage: async (context) => servedStorage(context),
});

// The prefixed() decorator over a real driver: same suite, every key one directory deeper.
describeConformance({
  name: "prefixed(fs)",
  server: 'local filesystem under prefixed(…, "tenant/a/") + createFsHandler over HTTP',
  createStorage: async (context) => prefixed(servedStorage(context), "tenant/a/"),
  teardown: async () => {
    server.closeAllConnections();
    server.close();
    await rm(workDir, { recursive: true, force: true });
  },
});
