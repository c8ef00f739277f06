/**
 * nginx configuration from the storage configuration (see server-plan.ts for what and why).
 *
 * - `alias` always with the trailing slash on both sides, in `^~` prefix locations: `/static../`
 *   never matches, and no regex location elsewhere (a `\.php$` handler) can take over a file.
 * - Static: `gzip_static` + `brotli_static` (Debian: libnginx-mod-http-brotli-static; nginx has no
 *   zstd_static, so `.zst` siblings are left to Caddy or a CDN), short caching, and immutable
 *   caching for hashed names.
 * - Media: no handler but the static one, `default_type application/octet-stream`, nosniff, and
 *   active types (core's one list) as attachments in a CSP sandbox; never a directory listing.
 * - Private media: `internal` locations reached only through the app's `X-Accel-Redirect`, sent
 *   `Cache-Control: private, no-cache` (no CDN keeps them).
 * - Dot files (the fs driver's records, the backup declaration) answer 404 everywhere.
 * - Symlinks inside a media folder are not followed (`disable_symlinks`).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import {
  header,
  listenParts,
  loadPlan,
  type ServedDirectory,
  type ServerConfigOptions,
  type ServerPlan,
  serverNamesOf,
} from "./server-plan.js";
import {
  activeExtensionsPattern,
  activeMediaHeaders,
  HASHED_NAME_PATTERN,
  HIDDEN_SEGMENT_PATTERN,
  IMMUTABLE_CACHE,
  PRIVATE_CACHE,
  SHORT_CACHE,
} from "./serving.js";

/** Debian's brotli_static module (libnginx-mod-http-brotli-static). */
export const BROTLI_STATIC_MODULE = "/usr/lib/nginx/modules/ngx_http_brotli_static_module.so";

/**
 * For a private file the app hands over: nginx keeps the app's Content-Disposition (its download
 * name), and an add_header beside it would send a second one, which Chromium refuses. So an active
 * type gets ours only when the app sent none, or one that is not an attachment (then both go out,
 * and the browser refuses the response rather than rendering it). At http level (where a site file
 * is included); the same map twice, from two generated sites, is allowed.
 */
const HANDED_OVER_DISPOSITION = "$storages_active_disposition";
const HANDED_OVER_DISPOSITION_MAP = [
  `map $upstream_http_content_disposition ${HANDED_OVER_DISPOSITION} {`,
  `    "" ${activeMediaHeaders().disposition};`,
  '    "~*^attachment" "";',
  `    default ${activeMediaHeaders().disposition};`,
  "}",
  "",
];

function inertHeaders(indent: string, disposition = activeMediaHeaders().disposition): string[] {
  const h = activeMediaHeaders();
  return [
    `${indent}add_header X-Content-Type-Options ${h.nosniff} always;`,
    `${indent}add_header Content-Disposition ${disposition} always;`,
    `${indent}add_header Content-Security-Policy "${h.csp}" always;`,
  ];
}

/** 404 for dot files and records (see HIDDEN_SEGMENT_PATTERN): first, since the first matching regex wins. */
const HIDDEN_LOCATION = [
  `        location ~ "${HIDDEN_SEGMENT_PATTERN}" {`,
  "            return 404;",
  "        }",
];

/**
 * Media: no symlink below the folder is followed (the fs driver never reads through one that
 * leaves its root, and never makes one): a link an unpacked archive or an intruder left there
 * would serve whatever it points at. The folder's own path is not checked (`from=`), so a symlink
 * to the shared folder still works. Not for static files: brotli_static finds no `.br` under
 * disable_symlinks, and only the deploy writes there (`static-writable`).
 */
const NO_SYMLINKS = ["        disable_symlinks on from=$document_root;"];

function staticLocation(d: ServedDirectory, brotli: boolean): string[] {
  return [
    `    # ${d.storage} (${d.source}): collected static files`,
    `    location ^~ ${d.path} {`,
    `        alias ${d.directory};`,
    "        autoindex off;",
    "        gzip_static on;",
    ...(brotli
      ? ["        brotli_static on;  # Debian/Ubuntu: apt-get install libnginx-mod-http-brotli-static"]
      : ["        # brotli_static on;  (needs libnginx-mod-http-brotli-static)"]),
    "        gzip_vary on;",
    `        add_header Cache-Control "${SHORT_CACHE}" always;`,
    "        add_header X-Content-Type-Options nosniff always;",
    ...HIDDEN_LOCATION,
    `        # hashed names: .<12 hex> or [.-]<8-32 hex>.ext, with a digit and a letter in the hex (docs/deployment.md)`,
    `        location ~ "${HASHED_NAME_PATTERN}" {`,
    `            add_header Cache-Control "${IMMUTABLE_CACHE}" always;`,
    "            add_header X-Content-Type-Options nosniff always;",
    "        }",
    "    }",
  ];
}

/**
 * `headers`: more add_header lines, repeated in the nested location (which would drop them);
 * `handedOver`: private files the app hands over (see HANDED_OVER_DISPOSITION).
 */
function mediaBody(d: ServedDirectory, headers: readonly string[] = [], handedOver = false): string[] {
  return [
    `        alias ${d.directory};`,
    ...NO_SYMLINKS,
    "        autoindex off;",
    // Only the static handler runs here: a stored .php or .html is a file, typed by extension.
    "        default_type application/octet-stream;",
    "        add_header X-Content-Type-Options nosniff always;",
    ...headers.map((h) => `        ${h}`),
    ...HIDDEN_LOCATION,
    `        location ~* "\\.(${activeExtensionsPattern()})$" {`,
    ...inertHeaders("            ", handedOver ? HANDED_OVER_DISPOSITION : undefined),
    ...headers.map((h) => `            ${h}`),
    "        }",
  ];
}

function proxy(plan: ServerPlan): string[] {
  const target =
    plan.upstream.kind === "unix" ? `http://unix:${plan.upstream.path}:` : `http://${plan.upstream.address}`;
  return [
    "    # the app (it hands private files over with X-Accel-Redirect)",
    "    location / {",
    `        proxy_pass ${target};`,
    "        proxy_set_header Host $host;",
    "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "        proxy_set_header X-Forwarded-Proto $scheme;",
    "    }",
  ];
}

export function renderNginx(plan: ServerPlan, options: ServerConfigOptions = {}): string {
  const { host, port } = listenParts(options.listen);
  const brotli = options.standalone ? existsSync(BROTLI_STATIC_MODULE) : true;
  const server = [
    ...(plan.privateMedia.length > 0 ? HANDED_OVER_DISPOSITION_MAP : []),
    "server {",
    `    listen ${host ? `${host}:` : ""}${port};`,
    `    server_name ${serverNamesOf(options).join(" ") || "_"};`,
    "    server_tokens off;",
    "    autoindex off;",
    "",
    ...plan.staticDirs.flatMap((d) => [...staticLocation(d, brotli), ""]),
    ...plan.publicMedia.flatMap((d) => [
      `    # ${d.storage} (${d.source}): user uploads, served as inert files`,
      `    location ^~ ${d.path} {`,
      ...mediaBody(d),
      "    }",
      "",
    ]),
    ...plan.privateMedia.flatMap((d) => [
      `    # ${d.storage} (${d.source}): private, only through the app (X-Accel-Redirect: ${d.path}KEY)`,
      `    location ^~ ${d.path} {`,
      "        internal;",
      // Added to the app's own Cache-Control, if it sends one (nginx passes it on): the stricter wins.
      ...mediaBody(d, [`add_header Cache-Control "${PRIVATE_CACHE}" always;`], true),
      "    }",
      "",
    ]),
    ...proxy(plan),
    "}",
  ];
  const comments = header(plan, "nginx").map((l) => `# ${l}`);
  if (!options.standalone) return `${[...comments, ...server].join("\n")}\n`;
  const run = options.standalone.runDir;
  const indented = server.map((l) => (l === "" ? l : `    ${l}`));
  return `${[
    ...comments,
    ...(brotli ? [`load_module ${BROTLI_STATIC_MODULE};`] : []),
    "daemon off;",
    "worker_processes 1;",
    `pid ${join(run, "nginx.pid")};`,
    `error_log ${join(run, "error.log")} warn;`,
    "events { worker_connections 256; }",
    "http {",
    "    include /etc/nginx/mime.types;",
    "    default_type application/octet-stream;",
    "    charset utf-8;",
    "    charset_types text/css text/plain text/xml application/javascript application/json image/svg+xml;",
    "    sendfile on;",
    `    access_log ${join(run, "access.log")};`,
    ...["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map(
      (t) => `    ${t}_temp_path ${join(run, `${t}-temp`)};`,
    ),
    ...indented,
    "}",
  ].join("\n")}\n`;
}

/** The nginx configuration for the storages of `options` (a server block, or a whole file). */
export async function nginxConfig(options: ServerConfigOptions = {}): Promise<string> {
  return renderNginx(await loadPlan(options), options);
}
