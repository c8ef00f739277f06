/**
 * The app side: Django's `{% static %}` for Node. `staticUrl("css/app.css")` is the URL of the
 * hashed file the app's own manifest names (the one its build carries, so a rolled-back app keeps
 * its own files), and `integrity()` its SRI hash.
 *
 * In production an unknown name is an error (a typo or a file missing from the build must not ship
 * as a 404); in development it falls back to the plain name under the base URL.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { NotFoundError } from "@storages/core";
import { MANIFEST_NAME, parseManifest, type StaticManifest } from "./manifest.js";
import { own } from "./own.js";

/** A name the manifest does not know, asked for in production. Code `E_NOT_FOUND`. */
export class StaticFileNotFoundError extends NotFoundError {
  /** The original name asked for. */
  readonly staticName: string;
  constructor(name: string, release: string) {
    super(
      `"${name}" is not in the static manifest (release ${release}): check the name, or that the file is under a static source folder, and run \`storages collectstatic\` again.`,
      { path: name },
    );
    this.staticName = name;
  }
}

export type StaticUrlMode = "production" | "development";

export interface StaticUrlsOptions {
  manifest: StaticManifest;
  /** Prefix of every URL: `/static/`, `https://cdn.example.com/static/`. Default `/static/`. */
  baseUrl?: string | undefined;
  /** Default: production unless NODE_ENV is `development` or `test`. */
  mode?: StaticUrlMode | undefined;
}

export interface StaticUrls {
  /** The URL of the published (hashed) file for an original name. */
  staticUrl(name: string): string;
  /** `sha384-…` of the published file, for `<script integrity>` / `<link integrity>`. */
  integrity(name: string): string | undefined;
  /** The published name (without the base URL). */
  resolve(name: string): string;
  readonly manifest: StaticManifest;
}

export function defaultMode(env: Record<string, string | undefined> = process.env): StaticUrlMode {
  return env.NODE_ENV === "development" || env.NODE_ENV === "test" ? "development" : "production";
}

function withSlash(base: string): string {
  return base.endsWith("/") ? base : `${base}/`;
}

/** A leading `/` and a query or fragment are allowed in what templates pass: `staticUrl("/css/a.css?v#x")`. */
function split(name: string): { path: string; suffix: string } {
  const cut = name.search(/[?#]/);
  const path = (cut < 0 ? name : name.slice(0, cut)).replace(/^\/+/, "");
  return { path, suffix: cut < 0 ? "" : name.slice(cut) };
}

function encodePath(path: string): string {
  return path.split("/").map(encodeURIComponent).join("/");
}

export function createStaticUrls(options: StaticUrlsOptions): StaticUrls {
  const { manifest } = options;
  const base = withSlash(options.baseUrl ?? "/static/");
  const mode = options.mode ?? defaultMode();
  const resolveName = (name: string): string => {
    const { path } = split(name);
    const entry = own(manifest.files, path);
    if (entry) return entry.name;
    if (mode === "development") return path;
    throw new StaticFileNotFoundError(path, manifest.release);
  };
  return {
    manifest,
    resolve: resolveName,
    staticUrl(name) {
      const { suffix } = split(name);
      return `${base}${encodePath(resolveName(name))}${suffix}`;
    },
    integrity(name) {
      const { path } = split(name);
      const entry = own(manifest.files, path);
      if (entry) return entry.integrity;
      if (mode === "development") return undefined;
      throw new StaticFileNotFoundError(path, manifest.release);
    },
  };
}

let fromEnvironment: StaticUrls | undefined;

/**
 * The process-wide instance `staticUrl()` and `integrity()` use: the manifest at
 * `STATICFILES_MANIFEST` (default `./staticfiles.json` in the working directory), the base URL
 * `STATIC_URL` (default `/static/`), read once and cached. Call `configureStaticUrls()` to set it
 * from code instead.
 */
function current(): StaticUrls {
  if (fromEnvironment) return fromEnvironment;
  const env = process.env;
  const path = resolve(env.STATICFILES_MANIFEST ?? MANIFEST_NAME);
  const mode = defaultMode(env);
  let manifest: StaticManifest;
  try {
    manifest = parseManifest(JSON.parse(readFileSync(path, "utf8")), path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT" || mode === "production") {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") {
        throw new NotFoundError(
          `No static manifest at ${path}: run \`storages collectstatic\` in the app's build (or set STATICFILES_MANIFEST to where it is).`,
          { cause: error },
        );
      }
      throw error;
    }
    // Development without a collectstatic run: plain names.
    manifest = { version: 1, release: "development", createdAt: new Date(0).toISOString(), files: {} };
  }
  fromEnvironment = createStaticUrls({ manifest, baseUrl: env.STATIC_URL, mode });
  return fromEnvironment;
}

/** Sets (or with no argument, forgets) the instance `staticUrl()`/`integrity()` use. */
export function configureStaticUrls(options?: StaticUrlsOptions): StaticUrls | undefined {
  fromEnvironment = options ? createStaticUrls(options) : undefined;
  return fromEnvironment;
}

/** `staticUrl("css/app.css")` → `/static/css/app.3f2a9c1b07d4.css` (see `configureStaticUrls`). */
export function staticUrl(name: string): string {
  return current().staticUrl(name);
}

/** `integrity("js/app.js")` → `sha384-…` (undefined in development for a name not in the manifest). */
export function integrity(name: string): string | undefined {
  return current().integrity(name);
}
