/**
 * The app's static assets (CSS, page script, images in ./static), in ONE module so the way they
 * are published and served can change without touching the app.
 *
 * PLACEHOLDER until @storages/staticfiles' serving helper lands: the files are served straight
 * from ./static with Express's own static middleware, unhashed and with a short cache lifetime.
 * The intended shape: `collectStatic()` publishes ./static into the `staticfiles` storage
 * (content-hashed names + manifest) at deploy time, and `serveStatic()` serves them with immutable
 * caching; `assetUrl()` then maps a source name to its hashed URL.
 */
import { join } from "node:path";
import express from "express";

const SOURCE = join(import.meta.dirname, "static");
const MOUNT = "/static/";

/** Publishes the assets (a no-op for the placeholder: they are served from the source folder). */
export async function publishAssets() {
  return { mount: MOUNT, placeholder: true };
}

/** Express middleware serving the assets under /static/. */
export function assetsMiddleware() {
  const router = express.Router();
  router.use(
    MOUNT,
    express.static(SOURCE, { maxAge: "5m", fallthrough: false, index: false, dotfiles: "deny" }),
  );
  return router;
}

/** The URL of an asset by its source name ("app.css" → "/static/app.css"). */
export function assetUrl(name) {
  return `${MOUNT}${name}`;
}
