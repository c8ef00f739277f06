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
import { ConfigError, InvalidArgumentError, printableName, STATICFILES } from "@storages/core";
import {
  type ConfigurationInput,
  type DeploymentLayout,
  type DeployStorage,
  isPrivateMedia,
  loadLayout,
  urlPath,
} from "./layout.js";
import { internalPrefix } from "./serving.js";
import { prefixClashes, urlFindings } from "./urls.js";

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

/** A host in a listen or upstream address: a name (compose service names may hold "_"), an IPv4 address or a bracketed IPv6 one. */
const HOST_PATTERN = String.raw`(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])`;

function parseUpstream(upstream: string | undefined): ServerPlan["upstream"] {
  const value = upstream ?? "http://127.0.0.1:3000";
  if (value.startsWith("unix:")) {
    const path = value.slice("unix:".length);
    if (!path.startsWith("/"))
      throw new InvalidArgumentError(
        "--upstream unix:PATH: give the socket's absolute path (unix:/run/app.sock).",
      );
    return { kind: "unix", path: checkSafe(path, "The --upstream socket path") };
  }
  try {
    const u = new URL(value);
    if (u.username !== "" || u.password !== "")
      throw new InvalidArgumentError(
        "--upstream: credentials in the app's address would be dropped by the proxy: give http://HOST:PORT, and let the app trust the proxy another way (a private network or a unix socket).",
      );
    // The URL parser lets ";", braces, quotes and "$" through in a host name: only a plain name
    // or address goes into the configuration.
    if (
      u.protocol === "http:" &&
      u.pathname === "/" &&
      !u.search &&
      !u.hash &&
      new RegExp(`^${HOST_PATTERN}(?::\\d+)?$`).test(u.host)
    )
      return { kind: "http", address: u.host };
  } catch (error) {
    if (InvalidArgumentError.isInstance(error)) throw error;
  }
  throw new InvalidArgumentError(
    `--upstream ${JSON.stringify(value)}: give the app's address as http://HOST:PORT (no path) or unix:/path/to/app.sock.`,
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

/**
 * A URL path as a server matches it: nginx compares locations with the decoded path (so a
 * `%20` in a location never matches) and Caddy reads `*` and `?` as wildcards.
 */
function checkUrlPath(path: string, what: string): string {
  if (/[%*?]/.test(path)) {
    throw new InvalidArgumentError(
      `${what} (${JSON.stringify(path)}) contains "%", "*" or "?", which web servers read as escapes or wildcards in a location: use a path of plain letters, digits, "-", "_", "." and "/".`,
    );
  }
  return checkSafe(path, what);
}

function served(s: DeployStorage, path: string): ServedDirectory {
  return {
    storage: s.name,
    // A line break in a comment (a publicUrl or a config file's path may hold one) would end it and
    // put the rest into the configuration as directives: core's printableName escapes it.
    source: printableName(s.description.source),
    path: checkUrlPath(withSlash(path), `The URL path of "${s.name}"`),
    directory: checkSafe(withSlash(s.configuredDirectory!), `The directory of "${s.name}"`),
  };
}

/**
 * The layout problems no configuration can serve safely, as `storages check` reports them
 * (overlapping locations, URL prefixes that are equal, nested or without their slash, a storage
 * served at the site's root): the generators refuse them rather than write a configuration that
 * serves one storage's files under another's URL, or shadows the app.
 */
function refuseUnservableLayout(layout: DeploymentLayout): void {
  const problems = [
    ...layout.overlaps.map((o) => o.message),
    ...[
      ...urlFindings(layout),
      // One server block serves every local folder under its URL's path, whatever the URL's host.
      ...prefixClashes(
        layout.storages.filter((s) => s.directory !== undefined && !isPrivateMedia(s)),
        "other-origins",
      ),
    ]
      .filter((f) => f.severity === "error")
      .map((f) => `${f.message} ${f.fix}`),
  ];
  for (const s of layout.storages) {
    const url = s.description.publicUrl;
    if (url !== undefined && s.directory !== undefined && urlPath(url) === "/") {
      problems.push(
        `"${s.name}" is published at the site's root (${url}): its folder would answer every URL the app should. Give it its own prefix (publicUrl=/${s.name === STATICFILES ? "static" : "media"}/).`,
      );
    }
  }
  if (problems.length === 0) return;
  throw new ConfigError(
    `No web server configuration was written: ${problems.length === 1 ? problems[0] : `\n- ${problems.join("\n- ")}`}\n\`storages check\` reports the same problems (all but paths that clash only in one server block); fix the storage configuration first.`,
  );
}

export function planServer(layout: DeploymentLayout, options: ServerConfigOptions): ServerPlan {
  refuseUnservableLayout(layout);
  if (options.standalone !== undefined) {
    if (!options.standalone.runDir.startsWith("/"))
      throw new InvalidArgumentError("--standalone DIR: give the run folder as an absolute path.");
    checkSafe(options.standalone.runDir, "The --standalone folder");
  }
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
    if (isPrivateMedia(s)) {
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
  // The port 1–65535.
  const m = new RegExp(`^(?:(${HOST_PATTERN}):)?(\\d{1,5})$`).exec(value);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535)
    throw new InvalidArgumentError(
      `--listen ${JSON.stringify(value)}: give a port from 1 to 65535 (8080) or HOST:PORT (127.0.0.1:8080, [::1]:8080).`,
    );
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

/** The comment lines at the top of a configuration, each one line whatever the notes hold. */
export function header(plan: ServerPlan, server: string): string[] {
  return [
    `Generated by \`storages ${server}\` from the storage configuration: regenerate it when that changes.`,
    ...plan.notes.map((note) => printableName(note)),
  ];
}
