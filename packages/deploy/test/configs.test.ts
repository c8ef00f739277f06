/**
 * What the generated configurations say for the cases the real-server suite does not run: a
 * storage on a bucket (notes, never an alias), a unix-socket upstream, host names and automatic
 * HTTPS, and input that cannot be written safely into a configuration.
 */
import { createHash } from "node:crypto";
import { mkdtemp, realpath, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashedName, looksBundlerHashed } from "@storages/staticfiles";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { caddyConfig, checkDeployment, HASHED_NAME_PATTERN, nginxConfig } from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await realpath(await mkdtemp(join(tmpdir(), "storages-deploy-configs-")));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({
  STORAGES_STATICFILES: `file://${dir}/current/static?publicUrl=/static/`,
  STORAGES_DEFAULT: "s3://app-media/uploads?region=eu-west-1&publicUrl=https://media.example.com/uploads/",
  STORAGES_PRIVATE: "s3://app-private/?region=eu-west-1&visibility=private",
});
const base = () => ({ env: env(), cwd: dir, configFile: false as const });

describe("nginx and Caddy configurations", () => {
  it("a bucket gets notes instead of an alias; the static path keeps its current symlink", async () => {
    const nginx = await nginxConfig(base());
    expect(nginx).toContain(`alias ${dir}/current/static/;`);
    expect(nginx).not.toContain("app-media/uploads/;");
    expect(nginx).toMatch(
      /# "default" is s3:\/\/app-media\/uploads\/: browsers load it from https:\/\/media\.example\.com\/uploads\//,
    );
    expect(nginx).toMatch(/# "private" is s3:\/\/app-private\/ \(private\): the app hands out signed URLs/);
    expect(nginx.match(/location /g)).toHaveLength(4); // static, its dot-file refusal, its hashed names, the app
    const caddy = await caddyConfig(base());
    expect(caddy).toContain(`root * ${dir}/current/static/`);
    expect(caddy).not.toContain("handle_path /uploads/");
  });

  it("proxies to a unix socket, and names the site", async () => {
    const nginx = await nginxConfig({
      ...base(),
      upstream: "unix:/run/app.sock",
      serverNames: ["www.example.com", "example.com"],
    });
    expect(nginx).toContain("proxy_pass http://unix:/run/app.sock:;");
    expect(nginx).toContain("server_name www.example.com example.com;");
    const caddy = await caddyConfig({
      ...base(),
      upstream: "unix:/run/app.sock",
      serverNames: ["www.example.com"],
    });
    expect(caddy).toContain("reverse_proxy unix//run/app.sock {");
    expect(caddy).toMatch(/^www\.example\.com \{$/m); // automatic HTTPS
    const behindTls = await caddyConfig({ ...base(), serverNames: ["www.example.com"], listen: "8080" });
    expect(behindTls).toMatch(/^http:\/\/www\.example\.com:8080 \{$/m);
  });

  it("refuses input that cannot be written safely into a configuration", async () => {
    await expect(
      nginxConfig({ ...base(), serverNames: ["www.example.com; include /etc/passwd"] }),
    ).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(caddyConfig({ ...base(), upstream: "http://127.0.0.1:3000/path" })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    await expect(nginxConfig({ ...base(), listen: "eighty" })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
    const spaced = { ...env(), STORAGES_STATICFILES: `file://${dir}/my%20static?publicUrl=/static/` };
    await expect(nginxConfig({ ...base(), env: spaced })).rejects.toThrow(/cannot be written safely/);
  });

  it("never writes a publicUrl holding a line break (a bucket's, only named in a note): the configuration is refused", async () => {
    // core refuses it (the app would hand it out too); the notes' escaping of line breaks stays a second guard.
    const injected = "https://cdn.example.com/x\n}\nlocation /evil/ { alias /etc/; }\n/";
    const broken = {
      ...env(),
      STORAGES_DEFAULT: `s3://app-media/uploads?region=eu-west-1&publicUrl=${encodeURIComponent(injected)}`,
    };
    for (const render of [nginxConfig, caddyConfig]) {
      await expect(render({ ...base(), env: broken }), render.name).rejects.toMatchObject({
        code: "E_CONFIG",
        message: expect.stringContaining("STORAGES_DEFAULT (publicUrl=) holds a line break (U+000A)"),
      });
    }
    const report = await checkDeployment({ ...base(), env: broken, network: false });
    expect(report.findings.map((f) => f.id)).toEqual(["config-invalid"]);
  });

  it("refuses options that would carry directives into the configuration, and impossible ports", async () => {
    for (const options of [
      { upstream: "unix:/run/a.sock; } server { listen 9999; root /; autoindex on; location /x {" },
      { upstream: "unix:relative.sock" },
      // A URL's host may hold ";", braces, quotes and "$": each a directive's end, a block or a placeholder.
      { upstream: "http://a;}server{listen:3000" },
      { upstream: "http://app{$HOME}:3000" },
      { upstream: 'http://a"b:3000' },
      { upstream: "http://user:pw@127.0.0.1:3000" },
      { listen: "0.0.0.0; } server { listen 81" },
      { listen: "99999" },
      { listen: "0" },
      { standalone: { runDir: "/tmp/x; } server {" } },
      { standalone: { runDir: "relative/run" } },
    ]) {
      for (const render of [nginxConfig, caddyConfig]) {
        const error = await render({ ...base(), ...options }).catch((e: unknown) => e);
        expect(error, JSON.stringify(options)).toMatchObject({ code: "E_INVALID_ARGUMENT" });
        expect((error as Error).message).not.toContain("pw@");
      }
    }
    expect(await nginxConfig({ ...base(), listen: "[::1]:8080" })).toContain("listen [::1]:8080;");
    expect(await nginxConfig({ ...base(), upstream: "http://[::1]:3000" })).toContain(
      "proxy_pass http://[::1]:3000;",
    );
    expect(await caddyConfig({ ...base(), upstream: "http://app.internal:3000" })).toContain(
      "reverse_proxy app.internal:3000 {",
    );
    // A compose service name.
    expect(await nginxConfig({ ...base(), upstream: "http://my_app:3000" })).toContain(
      "proxy_pass http://my_app:3000;",
    );
  });

  it("refuses layouts `storages check` reports as errors, and paths one server block would mix, instead of writing a configuration that serves them", async () => {
    const layouts: Array<[string, Record<string, string>, RegExp]> = [
      [
        "media in the static folder",
        { ...env(), STORAGES_DEFAULT: `file://${dir}/current/static?publicUrl=/media/` },
        /point to the same location/,
      ],
      [
        "a private storage inside public media, allowOverlap or not",
        {
          ...env(),
          STORAGES_DEFAULT: `file://${dir}/media?publicUrl=/media/`,
          STORAGES_PRIVATE: `file://${dir}/media/private?visibility=private&allowOverlap=true`,
        },
        /would serve the private one's files/,
      ],
      [
        "media under the static URL",
        { ...env(), STORAGES_DEFAULT: `file://${dir}/media?publicUrl=/static/` },
        /same URL prefix/,
      ],
      [
        // One server block would hold two `location ^~ /static/` (nginx refuses to start; Caddy
        // serves one folder under both): the CDN's host does not keep the paths apart here.
        "media at the path static is pulled from by its CDN",
        {
          ...env(),
          STORAGES_STATICFILES: `file://${dir}/current/static?publicUrl=https://cdn.example.com/static/`,
          STORAGES_DEFAULT: `file://${dir}/media?publicUrl=/static/`,
        },
        /both served by this server under their paths \(\/static\/ and \/static\/\), are served under the same URL prefix/,
      ],
      [
        "media nested in the path of static's CDN",
        {
          ...env(),
          STORAGES_STATICFILES: `file://${dir}/current/static?publicUrl=https://cdn.example.com/assets/`,
          STORAGES_DEFAULT: `file://${dir}/media?publicUrl=/assets/uploads/`,
        },
        /nested URL prefixes/,
      ],
      [
        "media at the site's root",
        { ...env(), STORAGES_DEFAULT: `file://${dir}/media?publicUrl=/` },
        /site's root/,
      ],
      [
        "a URL path with an escape",
        { ...env(), STORAGES_DEFAULT: `file://${dir}/media?publicUrl=/me%2520dia/` },
        /"%"/,
      ],
    ];
    for (const [what, layoutEnv, message] of layouts) {
      for (const render of [nginxConfig, caddyConfig]) {
        await expect(render({ ...base(), env: layoutEnv }), what).rejects.toThrow(message);
      }
    }
  });

  it("checkDeployment refuses a sample, concurrency or timeout below 1 (a sample of 0 requested nothing and passed)", async () => {
    for (const bad of [
      { sample: 0 },
      { sample: -3 },
      { concurrency: 0 },
      { concurrency: 1.5 },
      { timeout: 0 },
      { timeout: 2 ** 31 },
    ]) {
      await expect(
        checkDeployment({ ...base(), network: false, ...bad }),
        JSON.stringify(bad),
      ).rejects.toMatchObject({
        code: "E_INVALID_ARGUMENT",
      });
    }
  });

  it("checkDeployment refuses a base URL that is not http(s)", async () => {
    await expect(checkDeployment({ ...base(), baseUrl: "www.example.com" })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });
});

describe("the hashed-name pattern of the generated configurations (immutable for a year)", () => {
  const hashed = new RegExp(HASHED_NAME_PATTERN);
  // Every kind of name collectstatic writes, with real hashes of varied contents.
  const sha = (i: number) => createHash("sha256").update(`content ${i}`).digest("hex");
  const collected = Array.from({ length: 400 }, (_, i) => sha(i))
    // A hash of digits alone (or letters alone) is left out on purpose: see the pattern's comment.
    .filter((h) => /[0-9]/.test(h.slice(0, 12)) && /[a-f]/.test(h.slice(0, 12)))
    .flatMap((h) =>
      ["css/app.css", "LICENSE", "js/vendor.min.js", "fonts/Inter-Bold.woff2", "a/b/c.tar.gz"].map((n) =>
        hashedName(n, h),
      ),
    );
  const bundled = [
    "js/main.1a2b3c4d.js", // webpack [contenthash:8]
    "js/chunk-5e6f7a8b.js",
    "js/vendors.0123456789abcdef0123.js", // webpack 5's 20
    "js/app.0123456789abcdef0123456789abcdef.js", // 32, an MD5
    "css/site.d41d8cd9.css",
    "img/logo.9f86d081884c.png",
  ];
  const notHashed = [
    "fonts/font-12345678.woff", // digits: a version, a size, a date
    "js/jquery-3.7.1.min.js",
    "img/logo.20261204.png",
    "data/export-202612041030.json",
    "LICENSE.202612041030",
    "css/app.deadbeef.css", // letters alone: a word
    "css/facade-decade.css",
    "js/app.js",
    "css/app.css",
    "LICENSE",
    "js/bootstrap-5.3.0-alpha1.js",
    "js/chunk-1a2b3c4.js", // 7: too short for a hash
    "js/app.0123456789abcdef0123456789abcdef0.js", // 33: longer than any bundler's
    "js/app.1a2b3c4d.js/", // a folder
    "js/app.1a2b3c4d", // bundlers keep the extension
    "js/app_1a2b3c4d.js", // not their separator
    "js/app.1A2B3C4D.js", // nor upper case
  ];

  it("matches every hashed name collectstatic writes and the bundler names it keeps as they are", () => {
    expect(collected.length).toBeGreaterThan(1500);
    for (const name of [...collected, ...bundled]) expect(hashed.test(`/static/${name}`), name).toBe(true);
    for (const name of bundled) expect(looksBundlerHashed(name), name).toBe(true);
  });

  it("matches no name that is not hashed (published as they are, they change)", () => {
    for (const name of notHashed) expect(hashed.test(`/static/${name}`), name).toBe(false);
  });
});
