/**
 * Caddyfile from the storage configuration (see server-plan.ts for what and why). Written for the
 * Caddy of Debian 12 (2.6): no `intercept` (2.8), so private files go through reverse_proxy's
 * `handle_response`, matching the X-Accel-Redirect header the app sets
 * (`{http.reverse_proxy.header.*}` carries it).
 *
 * - `handle_path PREFIX*` with the prefix's slash: `/static../` never matches; file_server cleans
 *   the path inside its root; `browse` is never on.
 * - Static: `precompressed br zstd gzip`, short caching, immutable for hashed names, untyped
 *   names as application/octet-stream.
 * - Media: nosniff, active types (core's one list) as attachments in a CSP sandbox, untyped names
 *   as application/octet-stream, no folder URL.
 * - Dot files (the fs driver's records, the backup declaration) answer 404 everywhere.
 * - The internal prefix answers 404 to any direct request; a handed-over private file is sent
 *   `Cache-Control: private, no-cache` (no CDN keeps it).
 */
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
  ACCEL_HEADER,
  activeExtensionsPattern,
  activeMediaHeaders,
  HASHED_NAME_PATTERN,
  HIDDEN_SEGMENT_PATTERN,
  IMMUTABLE_CACHE,
  PRIVATE_CACHE,
  SHORT_CACHE,
} from "./serving.js";

/** The type of a file whose name gives none: bytes, as nginx's default_type. */
const UNTYPED = "application/octet-stream";

/** 404 for dot files and records (see HIDDEN_SEGMENT_PATTERN). */
function hiddenDirectives(indent: string): string[] {
  return [`${indent}@hidden path_regexp hidden ${HIDDEN_SEGMENT_PATTERN}`, `${indent}respond @hidden 404`];
}

/** `headers`: more `header` directives (each "Field value"). */
function mediaDirectives(d: ServedDirectory, indent: string, headers: readonly string[] = []): string[] {
  const h = activeMediaHeaders();
  return [
    `${indent}root * ${d.directory}`,
    ...headers.map((x) => `${indent}header ${x}`),
    ...hiddenDirectives(indent),
    // A folder URL would get its index.html from file_server, under a name no matcher below sees.
    `${indent}@folder path */`,
    `${indent}respond @folder 404`,
    `${indent}header X-Content-Type-Options ${h.nosniff}`,
    // file_server sends no type for a name it has none for (no extension, an unknown one), and a
    // browser sniffs an untyped response, HTML included: such a file is bytes, as nginx's default_type.
    `${indent}header ?Content-Type ${UNTYPED}`,
    `${indent}@active path_regexp active (?i)\\.(${activeExtensionsPattern()})$`,
    `${indent}header @active Content-Disposition ${h.disposition}`,
    `${indent}header @active Content-Security-Policy "${h.csp}"`,
    `${indent}file_server`,
  ];
}

/**
 * Host names alone get Caddy's automatic HTTPS; with --listen, plain HTTP on that port (behind a
 * load balancer that terminates TLS), except 443. Without names: plain HTTP on the port.
 */
function siteAddress(options: ServerConfigOptions): string {
  const names = serverNamesOf(options);
  if (names.length > 0 && options.listen === undefined) return names.join(", ");
  const { host, port } = listenParts(options.listen);
  if (names.length > 0)
    return names.map((n) => (port === "443" ? `${n}:443` : `http://${n}:${port}`)).join(", ");
  return `http://${host ?? ""}:${port}`;
}

export function renderCaddy(plan: ServerPlan, options: ServerConfigOptions = {}): string {
  const upstream = plan.upstream.kind === "unix" ? `unix/${plan.upstream.path}` : plan.upstream.address;
  const lines: string[] = header(plan, "caddy").map((l) => `# ${l}`);
  if (options.standalone) {
    // Its own state: no admin endpoint, nothing written to the user's config dirs.
    lines.push(
      "{",
      "\tadmin off",
      `\tstorage file_system {`,
      `\t\troot ${options.standalone.runDir}`,
      "\t}",
      "}",
      "",
    );
  }
  lines.push(`${siteAddress(options)} {`);
  for (const d of plan.staticDirs) {
    lines.push(
      `\t# ${d.storage} (${d.source}): collected static files`,
      `\thandle_path ${d.path}* {`,
      `\t\troot * ${d.directory}`,
      ...hiddenDirectives("\t\t"),
      // Two disjoint matchers: Caddy orders same-name directives itself, so neither may rely on running last.
      "\t\t# hashed names: .<12 hex> or [.-]<8-32 hex>.ext, with a digit and a letter in the hex (docs/deployment.md)",
      `\t\t@hashed path_regexp hashed ${HASHED_NAME_PATTERN}`,
      `\t\t@unhashed not path_regexp unhashed ${HASHED_NAME_PATTERN}`,
      `\t\theader @unhashed Cache-Control "${SHORT_CACHE}"`,
      `\t\theader @hashed Cache-Control "${IMMUTABLE_CACHE}"`,
      "\t\theader X-Content-Type-Options nosniff",
      // As for media: file_server sends no type for LICENSE or an unknown extension (the manifest
      // says application/octet-stream, and the post-deploy check wants it).
      `\t\theader ?Content-Type ${UNTYPED}`,
      "\t\tfile_server {",
      "\t\t\tprecompressed br zstd gzip",
      "\t\t}",
      "\t}",
      "",
    );
  }
  for (const d of plan.publicMedia) {
    lines.push(
      `\t# ${d.storage} (${d.source}): user uploads, served as inert files`,
      `\thandle_path ${d.path}* {`,
      ...mediaDirectives(d, "\t\t"),
      "\t}",
      "",
    );
  }
  for (const d of plan.privateMedia) {
    lines.push(
      `\t# ${d.storage} (${d.source}): private, only through the app (${ACCEL_HEADER}: ${d.path}KEY)`,
    );
    lines.push(`\thandle ${d.path}* {`, "\t\trespond 404", "\t}", "");
  }
  lines.push(
    "\t# the app (it hands private files over with X-Accel-Redirect)",
    "\thandle {",
    `\t\treverse_proxy ${upstream} {`,
  );
  for (const d of plan.privateMedia) {
    const matcher = `@accel_${d.storage.replace(/[^A-Za-z0-9_]/g, "_")}`;
    lines.push(
      `\t\t\t${matcher} header ${ACCEL_HEADER} ${d.path}*`,
      `\t\t\thandle_response ${matcher} {`,
      // In written order: Caddy sorts the directives of a block (header before rewrite), and the
      // matchers must see the handed-over file's path, not the request's.
      "\t\t\t\troute {",
      `\t\t\t\t\trewrite * {http.reverse_proxy.header.${ACCEL_HEADER}}`,
      `\t\t\t\t\turi strip_prefix ${d.path.slice(0, -1)}`,
      "\t\t\t\t\tmethod * GET",
      // handle_response drops the app's headers: no Cache-Control of its own reaches the client.
      // The download name it gives is copied (as nginx keeps it); an active type's attachment
      // below replaces it, the filename with it (nginx keeps the app's attachment instead).
      "\t\t\t\t\tcopy_response_headers {",
      "\t\t\t\t\t\tinclude Content-Disposition",
      "\t\t\t\t\t}",
      ...mediaDirectives(d, "\t\t\t\t\t", [`Cache-Control "${PRIVATE_CACHE}"`]),
      "\t\t\t\t}",
      "\t\t\t}",
    );
  }
  lines.push("\t\t}", "\t}", "}");
  return `${lines.join("\n")}\n`;
}

/** The Caddyfile for the storages of `options` (a site block, or with `standalone` a whole file). */
export async function caddyConfig(options: ServerConfigOptions = {}): Promise<string> {
  return renderCaddy(await loadPlan(options), options);
}
