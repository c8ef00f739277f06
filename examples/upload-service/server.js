// Starts the upload service and stays up until Ctrl-C.
//
//   npm run demo                         from the repository root: build, then start it on local storage
//   node --max-semi-space-size=2 examples/upload-service/server.js
//
// --max-semi-space-size=2 (what `npm run demo` and `npm start` pass): a small young generation, the
// setting docs/uploads.md gives every upload server. Receiving files, a Node server allocates a
// Buffer per socket read; with V8's default young generation (grown to ~50 MiB) they are collected
// late and by mark-compacts. Measured in bench/uploads.mjs: less peak memory and less CPU.
//
// With no STORAGES_* configuration it runs on local storage: folders under ./.storages
// (STORAGES_LOCAL_ROOT), served by the app itself. Set STORAGES_DEFAULT / STORAGES_PRIVATE (s3://,
// gs://, azure://, see docs/configuration.md) and the same app runs on buckets. PORT picks the
// port (default: a free one).
import { once } from "node:events";
import { createServer } from "node:http";
import { createStorages } from "@storages/core";
import { sweepDirectUploads } from "@storages/http";
import { createApp } from "./app.js";

const env = { ...process.env };
const configured = Object.keys(env).some((name) => /^STORAGES_(DEFAULT|PRIVATE|MODE)$/.test(name));
if (!configured) {
  // Nothing configured: local folders, with `private` kept private there as it would be in production.
  env.STORAGES_MODE = "local";
  env.STORAGES_DEFAULT = "file:///default?visibility=public";
  env.STORAGES_PRIVATE = "file:///private?visibility=private";
}
const registry = createStorages({ env });
const app = await createApp({ registry });

// Direct uploads never confirmed wait in incoming/ until a sweep deletes them: at start, and every
// ten minutes while the service runs (a real deployment may run it from a scheduled job instead).
const media = await registry.get("default");
const sweep = () =>
  sweepDirectUploads(media).catch((error) => console.error("sweeping incoming/ failed:", error));
await sweep();
setInterval(sweep, 10 * 60 * 1000).unref();

const server = createServer(app);
server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? "127.0.0.1");
await once(server, "listening");
const { port } = server.address();
const origin = `http://${process.env.HOST ?? "127.0.0.1"}:${port}`;
const describe = async (name) => {
  const info = (await registry.get(name)).describe();
  return `${info.backend} ${info.location?.location ?? ""} (${info.visibility})`;
};

console.log(`storages upload service on ${origin}/`);
console.log(`  media:   ${await describe("default")}`);
console.log(`  private: ${await describe("private")}`);
console.log("");
console.log("Try:");
console.log(`  open ${origin}/ and upload a photo, through the app or straight to the storage`);
console.log(`  curl -F file=@photo.jpg '${origin}/upload?to=public'    → 201 with the stored name`);
console.log(`  curl -F file=@script.jpg '${origin}/upload'             → 415: judged by content, not name`);
console.log(`  curl ${origin}/api/files                                  → the gallery as JSON`);
console.log("");
console.log("Serving until Ctrl-C.");

const stop = async () => {
  server.closeAllConnections();
  server.close();
  await registry.close?.();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
