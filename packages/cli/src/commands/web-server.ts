/** `storages nginx` and `storages caddy`: one command shape, two renderers. */
import { mkdir, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { type CommandDefinition, defineCommand } from "../command.js";
import { UsageError } from "../errors.js";

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
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
          throw new UsageError(`--standalone ${options.standalone}: ${(error as Error).message}`);
        }
      }
      if (options.out === undefined) {
        context.output.result({ config: text }, (r) => r.config.replace(/\n$/, ""));
        return undefined;
      }
      const out = resolve(context.cwd, options.out);
      try {
        await writeFile(out, text);
      } catch (error) {
        throw new UsageError(`--out ${options.out}: ${(error as Error).message}`);
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
