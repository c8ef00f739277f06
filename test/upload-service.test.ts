/**
 * The README's first command: `npm run demo` starts examples/upload-service on local storage,
 * prints its URL and what to try, and stays up until Ctrl-C. This runs the same server script
 * (built packages, as `npm run demo` leaves them) and checks that every URL it prints answers and
 * every command it suggests does what it says.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { png, SCRIPT_AS_JPG } from "../packages/http/test/support/uploads.js";

const SERVER = join(import.meta.dirname, "..", "examples", "upload-service", "server.js");

let child: ChildProcess;
let output = "";
let cwd: string;

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "storages-demo-"));
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("STORAGES_") || k.startsWith("STORAGES_TEST")),
  );
  child = spawn(process.execPath, [SERVER], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.on("data", (chunk: Buffer) => {
    output += chunk;
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    output += chunk;
  });
  for (let i = 0; i < 300 && !output.includes("Serving until Ctrl-C."); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!output.includes("Serving until Ctrl-C."))
    throw new Error(`the upload service did not start:\n${output}`);
});
afterAll(async () => {
  if (child.exitCode === null) child.kill("SIGKILL");
  await rm(cwd, { recursive: true, force: true });
});

describe("npm run demo: the upload service on local storage", () => {
  it("prints its URL, what to try and how to stop, in a few lines", () => {
    const lines = output.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^storages upload service on http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(output).toMatch(/media: {3}fs .*\.storages\/default \(public\)/);
    expect(lines.at(-1)).toBe("Serving until Ctrl-C.");
    expect(lines.length).toBeLessThan(20);
  });

  it("every printed URL answers, and the suggested commands do what they say", async () => {
    const origin = /on (http:\/\/[\d.:]+)\//.exec(output)![1]!;
    for (const url of new Set(output.match(/http:\/\/[^\s']+/g))) {
      const method = url.includes("/upload") ? "POST" : "GET";
      const body = new FormData();
      body.append(
        "file",
        new Blob([new Uint8Array(url.includes("to=public") ? png() : SCRIPT_AS_JPG)]),
        url.includes("to=public") ? "photo.jpg" : "script.jpg",
      );
      const response = await fetch(url, method === "POST" ? { method, body } : {});
      const expected = url.includes("to=public") ? 201 : url.endsWith("/upload") ? 415 : 200;
      expect(response.status, url).toBe(expected);
    }
    const files = (await (await fetch(`${origin}/api/files`)).json()) as {
      public: Array<{ name: string; url: string }>;
    };
    expect(files.public.map((f) => f.name)).toEqual([
      expect.stringMatching(/^uploads\/\d{4}\/\d{2}\/photo\.png$/),
    ]);
    const image = await fetch(new URL(files.public[0]!.url, origin));
    expect(image.headers.get("content-type")).toBe("image/png");
    const page = await (await fetch(`${origin}/`)).text();
    // The assets were published by collectstatic (content-hashed names) and come from serveStatic.
    const assets = (page.match(/(?:href|src)="(\/static\/[^"]+)"/g) ?? []).map(
      (a) => /"([^"]+)"/.exec(a)![1]!,
    );
    expect(assets).toEqual([
      expect.stringMatching(/^\/static\/app\.[0-9a-f]{12}\.css$/),
      expect.stringMatching(/^\/static\/logo\.[0-9a-f]{12}\.png$/),
      expect.stringMatching(/^\/static\/page\.[0-9a-f]{12}\.js$/),
    ]);
    for (const path of assets) {
      const asset = await fetch(`${origin}${path}`);
      expect(asset.status, path).toBe(200);
      expect(asset.headers.get("cache-control"), path).toBe("public, max-age=31536000, immutable");
    }
    expect((await fetch(`${origin}/browser/upload.js`)).headers.get("content-type")).toMatch(/javascript/);
  });

  it("stops on Ctrl-C (SIGINT) with exit code 0", async () => {
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    child.kill("SIGINT");
    expect(await exited).toBe(0);
  });
});
