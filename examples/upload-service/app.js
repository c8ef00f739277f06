/**
 * A small upload service on @storages/http. It names storages, never backends: `default` holds
 * public media, `private` private files; the environment decides whether they are local folders
 * or buckets (S3, GCS, Azure).
 *
 *   GET  /                              the upload page and the gallery
 *   POST /upload?to=public|private      form upload through the app (handleUpload)  → 201 { files }
 *   POST /api/direct-uploads            a descriptor for a direct browser upload     → 201 { method, url, … }
 *   POST /api/direct-uploads/confirm    { token } → the checked file, or a refusal (and the file deleted)
 *   GET  /api/files                     the gallery as JSON
 *   GET  /media/private/<name>          a private file (signed redirect, or streamed with Range)
 *   GET  /static/…                      the page's assets: collectstatic + serveStatic (static.js)
 *   GET  /browser/upload.js             @storages/http's browser module
 *
 * Local folders are served by this process with @storages/fs's handler (which never serves HTML or
 * SVG inline); in production the bucket or a CDN serves public files.
 */
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { storages as processStorages } from "@storages/core";
import { createFsHandler } from "@storages/fs";
import { directUploadRoutes, serveMedia, uploadMiddleware } from "@storages/http";
import express from "express";
import { publishAssets } from "./static.js";

const BROWSER_MODULE = fileURLToPath(import.meta.resolve("@storages/http/browser"));

/** What this service accepts: photos, PDFs — and SVG, listed exactly, to show it is served inert. */
export const RULES = {
  allowedTypes: ["image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml", "application/pdf"],
  maxFileSize: 10 * 1024 * 1024,
  maxFiles: 5,
  uploadTo: "uploads/%Y/%m/",
};
/** What the gallery lists: accepted uploads only (direct uploads wait in incoming/ until confirmed). */
const GALLERY = "uploads/";

const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page({ backends, assetUrl }) {
  return `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>storages upload service</title>
<link rel="stylesheet" href="${assetUrl("app.css")}">
<h1><img src="${assetUrl("logo.png")}" alt="">storages upload service</h1>
<p class="backend">media: ${escapeHtml(backends.default)} · private: ${escapeHtml(backends.private)}</p>

<section>
  <h2>Form upload (through the app)</h2>
  <form id="form-upload" action="/upload?to=public" method="post" enctype="multipart/form-data">
    <input type="file" name="file" id="form-file" multiple required>
    <input type="text" name="caption" placeholder="caption (optional)">
    <button type="submit" id="form-submit">Upload</button>
    <button type="submit" id="form-submit-private" formaction="/upload?to=private">Upload privately</button>
  </form>
  <progress id="form-progress" max="1" value="0"></progress>
  <div class="status" id="form-status"></div>
</section>

<section>
  <h2>Direct upload (browser → storage, then confirmed)</h2>
  <form id="direct-upload">
    <input type="file" id="direct-file" required>
    <button type="submit" id="direct-submit">Upload directly</button>
    <button type="button" id="cancel">Cancel</button>
  </form>
  <progress id="direct-progress" max="1" value="0"></progress>
  <div class="status" id="direct-status"></div>
</section>

<section>
  <h2>Public files</h2>
  <ul class="gallery" id="public-files"></ul>
  <h2>Private files</h2>
  <ul class="gallery" id="private-files"></ul>
</section>
<script type="module" src="${assetUrl("page.js")}"></script>
</html>
`;
}

async function listFiles(storage, urlOf) {
  const files = [];
  for await (const entry of storage.list(GALLERY, { recursive: true })) {
    if (entry.type !== "file") continue;
    files.push({ name: entry.name, size: entry.size, url: await urlOf(entry.name) });
    if (files.length >= 200) break;
  }
  files.sort((a, b) => a.name.localeCompare(b.name));
  // The type only decides how the page shows a file; it is one stat per file of a small gallery.
  await Promise.all(
    files.map(async (file) => {
      file.contentType = (await storage.stat(file.name)).contentType;
    }),
  );
  return files;
}

/**
 * The Express app. `registry` is the process-wide `storages` (configured from the environment);
 * `secret` signs direct-upload confirmations (UPLOADS_SECRET, else one per process).
 */
export async function createApp({ registry = processStorages, secret = process.env.UPLOADS_SECRET } = {}) {
  await registry.load(); // every configuration problem at boot, not on the first upload
  const media = await registry.get("default");
  const documents = await registry.get("private");
  const assets = await publishAssets(registry);

  const app = express();
  app.disable("x-powered-by");
  app.use(assets.middleware);
  app.get("/browser/upload.js", (_req, res) => {
    res.type("text/javascript").sendFile(BROWSER_MODULE);
  });

  // Local folders are served like buckets (public files, signed URLs, signed PUTs of direct uploads).
  for (const storage of [media, documents]) {
    if (storage.backend === "fs") app.use(createFsHandler(storage));
  }

  const where = (storage) => `${storage.backend} ${storage.describe().location?.location ?? ""}`;
  const backends = { default: where(media), private: where(documents) };
  app.get("/", (_req, res) => {
    res
      .type("html")
      .set("cache-control", "no-store")
      .send(page({ backends, assetUrl: assets.assetUrl }));
  });

  const publicUpload = uploadMiddleware(media, RULES);
  const privateUpload = uploadMiddleware(documents, { ...RULES, visibility: "private" });
  app.post(
    "/upload",
    (req, res, next) => (req.query.to === "private" ? privateUpload : publicUpload)(req, res, next),
    (req, res) => {
      // A plain HTML form (no script) comes back to the page; the page's script gets JSON.
      if (req.accepts(["json", "html"]) === "html") res.redirect(303, "/");
      else res.status(201).json(req.upload);
    },
  );

  const direct = directUploadRoutes(media, {
    ...RULES,
    secret: secret ?? randomBytes(32).toString("base64"),
    onError: (error) => console.error(error),
  });
  app.post("/api/direct-uploads", direct.issue);
  app.post("/api/direct-uploads/confirm", direct.confirm);

  app.get("/api/files", async (_req, res, next) => {
    try {
      res.set("cache-control", "no-store").json({
        public: await listFiles(media, (name) => media.url(name)),
        private: await listFiles(documents, async (name) => `/media/private/${encodeURI(name)}`),
      });
    } catch (error) {
      next(error);
    }
  });

  // A real app checks here who may see the file; this one lets everybody with the link.
  app.get("/media/private/{*name}", (req, res, next) => {
    const name = [req.params.name].flat().join("/");
    serveMedia(req, res, documents, name).catch(next);
  });

  app.use((error, _req, res, _next) => {
    console.error(error);
    if (!res.headersSent)
      res.status(500).json({ error: { code: "E_INTERNAL", message: "Something went wrong." } });
  });
  return app;
}
