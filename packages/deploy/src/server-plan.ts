/**
 * What a web server in front of the app must do with each storage, whatever the server:
 *
 * - a static directory: served under its URL path, long-cached when hashed, precompressed;
 * - a public media directory: served under its URL path, never executed, active types inert;
 * - a private media directory: never served directly; only when the app hands a file over
 *   (`X-Accel-Redirect: /_storages/internal/NAME/KEY`);
 * - a storage elsewhere (a bucket, a container): nothing to alias — notes on serving it from the
 *   service or a CDN, or proxying it.
 *
 * `nginxConfig` and `caddyConfig` only spell this plan in their server's syntax.
 */
import { InvalidArgumentError } from "@storages/core";
import {
  type ConfigurationInput,
  type DeploymentLayout,
  type DeployStorage,
  loadLayout,
  urlPath,
} from "./layout.js";
import { internalPrefix } from "./serving.js";

export interface ServerConfigOptions extends ConfigurationInput {
  /** The app, for the proxy: `http://127.0.0.1:3000` (default) or `unix:/run/app.sock`. */
  upstream?: string | undefined;
  /** Host names of the site (nginx server_name, Caddy site address). Default: any / `:80`. */
  serverNames?: readonly string[] | undefined;
  /** Where to listen: a port, or host:port. Default 80. */
  listen?: string | undefined;
  /**
   * A whole configuration the server can run by itself (`nginx -c FILE`, `caddy run --config FILE`)
   * with its state under `runDir`: for tests and single-purpose containers. Default: a server block
   * (nginx: for sites-enabled/, Caddy: a site block for the Caddyfile).
   */
  standalone?: { runDir: string } | undefined;
}

export interface ServedDirectory {
  storage: string;
  source: string;
  /** URL path, with its trailing slash: `/static/`. */
  path: string;
  /** Absolute directory as configured (a `current` symlink kept), with its trailing slash. */
  directory: string;
}

export interface ServerPlan {
  staticDirs: ServedDirectory[];
  publicMedia: ServedDirectory[];
  /** Private directories, `path` being their internal prefix. */
  privateMedia: ServedDirectory[];
  /** Lines to put in the configuration as comments: what is not served here, and why. */
  notes: string[];
  upstream: { kind: "http"; address: string } | { kind: "unix"; path: string };
}

function withSlash(p: string): string {
  return p.endsWith("/") ? p : `${p}/`;
}

function parseUpstream(upstream: string | undefined): ServerPlan["upstream"] {
  const value = upstream ?? "http://127.0.0.1:3000";
  if (value.startsWith("unix:")) return { kind: "unix", path: value.slice("unix:".length) };
  try {
    const u = new URL(value);
    if (u.protocol === "http:" && u.pathname === "/" && !u.search) return { kind: "http", address: u.host };
  } catch {
    // below
  }
  throw new InvalidArgumentError(
    `--upstream ${value}: give the app's address as http://HOST:PORT (no path) or unix:/path/to/app.sock.`,
  );
}

/** Characters a path may not carry into a server configuration (they would end a directive). */
const UNSAFE = /[\s;{}"'`$\\#]/;

function checkSafe(value: string, what: string): string {
  if (UNSAFE.test(value)) {
    throw new InvalidArgumentError(
      `${what} (${JSON.stringify(value)}) contains a space, quote, brace, ";", "$", "#" or backslash, which cannot be written safely into a server configuration: use a path without them.`,
    );
  }
  return value;
}

function served(s: DeployStorage, path: string): ServedDirectory {
  return {
    storage: s.name,
    source: s.description.source,
    path: checkSafe(withSlash(path), `The URL path of "${s.name}"`),
    directory: checkSafe(withSlash(s.configuredDirectory!), `The directory of "${s.name}"`),
  };
}

export function planServer(layout: DeploymentLayout, options: ServerConfigOptions): ServerPlan {
  const plan: ServerPlan = {
    staticDirs: [],
    publicMedia: [],
    privateMedia: [],
    notes: [],
    upstream: parseUpstream(options.upstream),
  };
  for (const s of layout.storages) {
    const d = s.description;
    if (s.directory === undefined) {
      if (d.locationParts.kind === "bucket") {
        plan.notes.push(
          d.visibility === "public"
            ? `"${s.name}" is ${d.location}: browsers load it from ${d.publicUrl ?? "the service's own URL"}, not from this server. ` +
                "Put a CDN in front of the bucket (and set publicUrl to it), or proxy it here with proxy_pass/reverse_proxy to the bucket's endpoint, caching on."
            : `"${s.name}" is ${d.location} (private): the app hands out signed URLs; nothing to serve here.`,
        );
      } else {
        plan.notes.push(`"${s.name}" (${d.location}) has no files a web server could serve.`);
      }
      continue;
    }
    if (s.role === "media" && d.visibility === "private") {
      plan.privateMedia.push(served(s, internalPrefix(s.name)));
      continue;
    }
    if (d.publicUrl === undefined) {
      plan.notes.push(
        `"${s.name}" (${s.directory}) has no publicUrl: not served. Set publicUrl=/${s.name}/ (or its CDN URL) to serve it.`,
      );
      continue;
    }
    if (!d.publicUrl.startsWith("/")) {
      plan.notes.push(
        `"${s.name}" is published at ${d.publicUrl}: served here under ${urlPath(d.publicUrl)} for the CDN to pull from.`,
      );
    }
    const entry = served(s, urlPath(d.publicUrl));
    if (s.role === "static") plan.staticDirs.push(entry);
    else plan.publicMedia.push(entry);
  }
  return plan;
}

/** Loads the configuration and plans; the caller renders. */
export async function loadPlan(options: ServerConfigOptions): Promise<ServerPlan> {
  const layout = await loadLayout(options);
  try {
    return planServer(layout, options);
  } finally {
    await layout.close();
  }
}

export function listenParts(listen: string | undefined): { host: string | undefined; port: string } {
  const value = listen ?? "80";
  const m = /^(?:(.+):)?(\d{1,5})$/.exec(value);
  if (!m)
    throw new InvalidArgumentError(`--listen ${value}: give a port (8080) or HOST:PORT (127.0.0.1:8080).`);
  return { host: m[1], port: m[2]! };
}

/** The site's host names, each checked: a name is letters, digits, ".", "-", "_" or a leading "*.". */
export function serverNamesOf(options: ServerConfigOptions): string[] {
  const names = [...(options.serverNames ?? [])];
  for (const name of names) {
    if (!/^(?:\*\.)?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*$/.test(name)) {
      throw new InvalidArgumentError(
        `--server-name ${JSON.stringify(name)}: give a host name (www.example.com, *.example.com).`,
      );
    }
  }
  return names;
}

export function header(plan: ServerPlan, server: string): string[] {
  return [
    `Generated by \`storages ${server}\` from the storage configuration: regenerate it when that changes.`,
    ...plan.notes,
  ];
}
