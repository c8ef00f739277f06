/**
 * The app's static assets (CSS, page script, logo in ./static), in ONE module: published by
 * `collectStatic()` into the `staticfiles` storage at start-up (content-hashed names, manifest,
 * precompressed siblings; incremental, so a restart with unchanged assets writes nothing) and
 * served with `serveStatic()` (immutable caching for hashed names, ETags, encodings, ranges).
 * A real deployment runs `storages collectstatic` at deploy time instead and lets a CDN or nginx
 * serve the bucket or folder; the app then only needs the manifest for `assetUrl()`.
 *
 * Where they go: the `staticfiles` named storage when one is configured (local mode always has
 * one), else a local folder beside the media (.storages/staticfiles).
 */
import { join, resolve } from "node:path";
import { fsStorage } from "@storages/fs";
import { collectStatic, createStaticUrls, expressStatic } from "@storages/staticfiles";

const SOURCE = join(import.meta.dirname, "static");
const MOUNT = "/static/";

/**
 * Publishes ./static and returns `{ middleware, assetUrl }`: Express middleware serving the
 * published files under /static/, and the URL of an asset by its source name
 * ("app.css" → "/static/app.3f2a9c1b07d4.css").
 */
export async function publishAssets(registry) {
  const target = (await registry.has("staticfiles"))
    ? await registry.getWriter("staticfiles")
    : fsStorage({
        root: resolve(process.env.STORAGES_LOCAL_ROOT ?? ".storages", "staticfiles"),
        overwrite: true,
      });
  const published = await collectStatic({
    sources: [{ dir: SOURCE, label: "examples/upload-service/static" }],
    target,
    baseUrlPath: MOUNT,
    manifestOut: false,
    encodings: ["br", "gzip"],
    threads: 1,
  });
  const urls = createStaticUrls({ manifest: published.manifest, baseUrl: MOUNT });
  return {
    middleware: expressStatic(await registry.get("staticfiles").catch(() => target), {
      manifest: published.manifest,
      prefix: MOUNT,
    }),
    assetUrl: (name) => urls.staticUrl(name),
    published,
  };
}
