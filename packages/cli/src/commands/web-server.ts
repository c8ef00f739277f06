/** `storages nginx` and `storages caddy`: one command shape, two renderers. */
import { randomBytes } from "node:crypto";
import { mkdir, realpath, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { type CommandDefinition, defineCommand } from "../command.js";
import { UsageError } from "../errors.js";

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** Why `--out FILE` cannot be written or `--standalone DIR` created, in words (never Node's "EISDIR: …"). */
function writeProblem(error: unknown, path: string, kind: "file" | "folder"): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "ENOENT") return `the folder of ${path} does not exist: create it, or give another path`;
  if (code === "EISDIR") return `${path} is a folder: give a file name in it`;
  if (code === "EEXIST" || code === "ENOTDIR")
    return kind === "folder"
      ? `${path} is a file, not a folder: give a folder`
      : `${path} has a file where one of its folders should be`;
  if (code === "EACCES" || code === "EPERM") return `${path} cannot be written (permission denied)`;
  return `${path} cannot be written (${code ?? (error instanceof Error ? error.message : String(error))})`;
}

/**
 * Writes the configuration whole or not at all: a temporary file beside it, renamed over it. A web
 * server reloaded after a failed write (a full disk) then reads the previous file, not half of one.
 * A symlink (sites-enabled/app → sites-available/app) is written where it points, and stays.
 */
async function writeWhole(path: string, text: string): Promise<void> {
  const file = await realpath(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return path;
    throw error;
  });
  const temporary = join(dirname(file), `.${basename(file)}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    await writeFile(temporary, text, { flag: "wx" });
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

function webServerCommand(
  name: "nginx" | "caddy",
  renderer: "nginxConfig" | "caddyConfig",
  what: { summary: string; install: string; standalone: string },
): CommandDefinition {
  return defineCommand({
    name,
    summary: what.summary,
    description: `${what.summary}, from the same configuration as the app: static files (long-cached when hashed, precompressed variants), media served inert (nosniff; HTML, SVG, XML… as sandboxed attachments; never executed, never listed), private media only through the app (X-Accel-Redirect), and the proxy to the app. Storages on buckets get notes instead of a local path. Prints it, or writes --out FILE.`,
    examples: [
      {
        command: `storages --env-file .env.production ${name} --server-name www.example.com`,
        what: what.install,
      },
      { command: `storages ${name} --upstream unix:/run/app.sock --out /tmp/site.conf`, what: "to a file" },
      { command: `storages ${name} --standalone /var/lib/site --listen 8080`, what: what.standalone },
    ],
    configure: (command) =>
      command
        .option(
          "--upstream <address>",
          "the app: http://HOST:PORT or unix:/path.sock (default http://127.0.0.1:3000)",
        )
        .option("--server-name <name>", "the site's host name (repeatable)", collect)
        .option("--listen <port>", "port or HOST:PORT to listen on (default 80)")
        .option("--standalone <dir>", "a whole configuration that runs by itself, its state in DIR")
        .option("-o, --out <file>", "write the configuration to FILE instead of printing it"),
    async run(
      context,
      _args,
      options: {
        upstream?: string;
        serverName?: string[];
        listen?: string;
        standalone?: string;
        out?: string;
      },
    ) {
      for (const [flag, value] of [
        ["--standalone", options.standalone],
        ["--out", options.out],
      ] as const) {
        if (value?.trim() === "")
          throw new UsageError(
            `${flag} is empty: give a ${flag === "--out" ? "file" : "folder"}, or leave ${flag} out.`,
          );
      }
      // Loaded here, not at start-up: every other command's start would pay for it.
      const render = (await import("@storages/deploy"))[renderer];
      const runDir = options.standalone ? resolve(context.cwd, options.standalone) : undefined;
      const text = await render({
        env: context.env,
        cwd: context.cwd,
        configFile: context.configFile,
        upstream: options.upstream,
        serverNames: options.serverName,
        listen: options.listen,
        standalone: runDir ? { runDir } : undefined,
      });
      // The server writes its pid, logs and temporary files there: it must exist before it starts.
      if (runDir) {
        try {
          await mkdir(runDir, { recursive: true });
        } catch (error) {
          throw new UsageError(
            `--standalone ${options.standalone}: ${writeProblem(error, runDir, "folder")}.`,
          );
        }
      }
      if (options.out === undefined) {
        context.output.result({ config: text }, (r) => r.config.replace(/\n$/, ""));
        return undefined;
      }
      const out = resolve(context.cwd, options.out);
      try {
        await writeWhole(out, text);
      } catch (error) {
        throw new UsageError(
          `--out ${options.out}: ${writeProblem(error, out, "file")}; nothing was written.`,
        );
      }
      context.output.summary({ written: out }, (r) => `wrote ${r.written}`);
      return undefined;
    },
  });
}

export const nginx = webServerCommand("nginx", "nginxConfig", {
  summary: "write the nginx configuration for the storages",
  install: "a server block for /etc/nginx/sites-enabled/",
  standalone: "a whole nginx.conf (nginx -p DIR -c FILE)",
});

export const caddy = webServerCommand("caddy", "caddyConfig", {
  summary: "write the Caddyfile for the storages",
  install: "a site block for /etc/caddy/Caddyfile",
  standalone: "a whole Caddyfile (caddy run --config FILE)",
});
