/**
 * A deployed site for the tests, for real: a shared directory with collected static files (a
 * manifest, hashed names, .br/.gz siblings), media uploads (HTML, SVG, PHP), a private storage, a
 * secret next to them that no URL may reach, and the environment an app would run with.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, realpath, rm, writeFile } from "node:fs/promises";
import { createServer, request as httpRequest, type Server } from "node:http";
import { createServer as createNetServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { fsStorage } from "@storages/fs";
import { collectStatic, type Encoding } from "@storages/staticfiles";

export const execFileAsync = promisify(execFile);

export const CSS = "body { color: #123456; }\n".repeat(40);
export const SECRET = "the private file's content";
export const OUTSIDE_SECRET = "never served: next to the static folder";

export interface Site {
  root: string;
  shared: string;
  staticDir: string;
  mediaDir: string;
  privateDir: string;
  hashedCss: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

/**
 * The site as a deploy leaves it: static files published by the real collectstatic
 * (@storages/staticfiles: hashed names, manifest, .br/.gz/.zst siblings) into shared/static.
 */
export async function makeSite(options: { encodings?: readonly Encoding[] } = {}): Promise<Site> {
  const root = await realpath(await mkdtemp(join(tmpdir(), "storages-deploy-")));
  try {
    return await buildSite(root, options);
  } catch (error) {
    // A fixture that fails half-way leaves nothing behind either.
    await rm(root, { recursive: true, force: true });
    throw error;
  }
}

async function buildSite(root: string, options: { encodings?: readonly Encoding[] }): Promise<Site> {
  // nginx's workers (nobody, when started by root) and Caddy read the files: as a web server would.
  await chmod(root, 0o755);
  const shared = join(root, "shared");
  const staticDir = join(shared, "static");
  const mediaDir = join(shared, "media");
  const privateDir = join(shared, "private");
  const sources = join(root, "app-static");
  for (const d of [staticDir, mediaDir, privateDir, join(sources, "css")])
    await mkdir(d, { recursive: true });
  await writeFile(join(sources, "css", "app.css"), CSS);
  await writeFile(join(sources, "robots.txt"), "User-agent: *\n");
  await publishStatic(root, options.encodings);
  const manifest = JSON.parse(await readFile(join(staticDir, "staticfiles.json"), "utf8"));
  const hashedCss: string = manifest.files["css/app.css"].name;
  await writeFile(join(mediaDir, "note.txt"), "a plain upload\n");
  await writeFile(join(mediaDir, "upload.html"), "<!doctype html><script>alert(document.cookie)</script>\n");
  await writeFile(
    join(mediaDir, "image.svg"),
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>\n',
  );
  await writeFile(join(mediaDir, "shell.php"), "<?php echo 'executed'; ?>\n");
  // A feed (an XML type servers know by extension), a folder's index page, and a record of the
  // fs driver (dot files are never served).
  await writeFile(
    join(mediaDir, "feed.rss"),
    '<rss xmlns:h="http://www.w3.org/1999/xhtml"><h:script>alert(1)</h:script></rss>\n',
  );
  await mkdir(join(mediaDir, "sub"));
  await writeFile(join(mediaDir, "sub", "index.html"), "<!doctype html><script>alert(2)</script>\n");
  await writeFile(
    join(mediaDir, ".~storages-meta-0123456789abcdef.json"),
    `{"metadata":{"note":"${SECRET}"}}\n`,
  );
  await writeFile(
    join(staticDir, ".~storages-meta-0123456789abcdef.json"),
    `{"metadata":{"note":"${SECRET}"}}\n`,
  );
  await writeFile(join(privateDir, "page.html"), "<!doctype html><script>alert(3)</script>\n");
  // One declaration for everything under shared/ (media and private).
  await writeFile(join(shared, ".storages-backup"), "test fixture: backed up nightly\n");
  await writeFile(join(privateDir, "secret.txt"), SECRET);
  await writeFile(join(shared, "secret.txt"), OUTSIDE_SECRET);
  return {
    root,
    shared,
    staticDir,
    mediaDir,
    privateDir,
    hashedCss,
    env: {
      STORAGES_STATICFILES: `file://${staticDir}?publicUrl=/static/`,
      STORAGES_DEFAULT: `file://${mediaDir}?publicUrl=/media/`,
      STORAGES_PRIVATE: `file://${privateDir}?visibility=private`,
    },
    cleanup: () => rm(root, { recursive: true, force: true }),
  };
}

/** Runs the real collectstatic from ROOT/app-static into ROOT/shared/static (a new release when the sources changed). */
export async function publishStatic(root: string, encodings?: readonly Encoding[]): Promise<string> {
  const target = fsStorage({ root: join(root, "shared", "static") });
  try {
    const result = await collectStatic({
      sources: [{ dir: join(root, "app-static") }],
      target,
      encodings: encodings ?? ["br", "gzip", "zstd"],
      manifestOut: false,
      cacheDir: join(root, "collect-cache"),
      threads: 1,
      cwd: root,
    });
    return result.release;
  } finally {
    await target.close();
  }
}

/** A port the OS just gave out (listen on 0, close): for servers that cannot be told "port 0". */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The app behind the proxy: `/download/NAME` hands the private file NAME over with
 * X-Accel-Redirect; `?as=FILENAME` also names the download (Content-Disposition), as an app does.
 */
export async function startApp(): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const m = /^\/download\/([\w.~-]+)(?:\?as=([\w.-]+))?$/.exec(req.url ?? "");
    if (m) {
      res.writeHead(200, {
        "x-accel-redirect": `/_storages/internal/private/${m[1]}`,
        ...(m[2] ? { "content-disposition": `attachment; filename="${m[2]}"` } : {}),
      });
      res.end();
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" });
    res.end("app: not found");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}` };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Every value of each header as sent, lower-cased names (`headers` joins or drops repeats). */
  sent: (name: string) => string[];
  body: string;
}

/** A request with the path exactly as written (fetch would resolve `../` and `%2e%2e` first). */
export function raw(port: number, path: string, headers: Record<string, string> = {}): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers, method: "GET" }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          sent: (name) =>
            res.rawHeaders.filter((_, i) => i % 2 === 1 && res.rawHeaders[i - 1]!.toLowerCase() === name),
          body: Buffer.concat(chunks).toString("latin1"),
        }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end();
  });
}

/** Waits until something accepts HTTP on the port, or the child exits (then throws with its output). */
export async function waitForHttp(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output()}`);
    try {
      await raw(port, "/__ready");
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  throw new Error(`server did not listen on ${port} within 20 s:\n${output()}`);
}

export function spawnServer(command: string, args: string[], env: NodeJS.ProcessEnv = process.env) {
  let output = "";
  const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env });
  child.stdout!.on("data", (c) => {
    output += c;
  });
  child.stderr!.on("data", (c) => {
    output += c;
  });
  return { child, output: () => output };
}

export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(timer);
}

/** The binary's path, or a loud failure naming the Debian package (never a silent skip). */
export async function requireBinary(name: string, pkg: string): Promise<string> {
  for (const dir of ["/usr/sbin", "/usr/bin", ...(process.env.PATH ?? "").split(":")]) {
    const path = join(dir, name);
    try {
      await execFileAsync("test", ["-x", path]);
      return path;
    } catch {
      // next
    }
  }
  throw new Error(
    `${name} is not installed: these tests run the real server. Install it (apt-get install -y ${pkg}); npm test installs it with the RGW packages on first use.`,
  );
}
