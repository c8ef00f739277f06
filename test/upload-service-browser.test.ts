/**
 * examples/upload-service in a real browser: Debian's Chromium (/usr/bin/chromium, installed with
 * RGW's packages by the servers script) driven by playwright-core from the test tools. Through the
 * page, a form upload and a direct upload (a) on local storage, (b) straight to Ceph RGW with a
 * POST policy and (c) straight to Azurite with a SAS PUT — so the CORS setup is proven — each then
 * seen in the gallery; screenshots go to .storages-run/artifacts/. And HTML and SVG files with a
 * script, stored and opened through the app's media URLs, run no script (while the same files
 * served inline do: the proof can fail).
 *
 * Nothing here skips: a missing browser, tool or server is a failure that says what to install.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorages, type Storage } from "@storages/core";
import { createFsHandler } from "@storages/fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: the example is plain JavaScript
import { createApp } from "../examples/upload-service/app.js";
import { testTool } from "../packages/http/test/support/tools.js";
import { picture, SVG_WITH_SCRIPT } from "../packages/http/test/support/uploads.js";
import { adminClient, findTestServer, MISSING_SERVER_MESSAGE } from "../packages/s3/test/support/server.js";

const CHROMIUM = "/usr/bin/chromium";
const ARTIFACTS = join(import.meta.dirname, "..", ".storages-run", "artifacts", "upload-service");
const RUN = `e2e-${randomBytes(3).toString("hex")}`;

// Minimal views of playwright-core's API (it comes from the test tools, untyped here).
interface Page {
  goto(url: string, options?: object): Promise<unknown>;
  setInputFiles(selector: string, files: { name: string; mimeType: string; buffer: Buffer }): Promise<void>;
  click(selector: string): Promise<void>;
  waitForFunction(fn: string, arg?: unknown, options?: object): Promise<unknown>;
  textContent(selector: string): Promise<string | null>;
  title(): Promise<string>;
  screenshot(options: { path: string; fullPage?: boolean }): Promise<unknown>;
  setContent(html: string): Promise<void>;
  on(event: string, listener: (value: unknown) => void): void;
  close(): Promise<void>;
}
interface Browser {
  newContext(options?: object): Promise<{ newPage(): Promise<Page>; close(): Promise<void> }>;
  close(): Promise<void>;
}

let browser: Browser;

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: \`npm test\` installs Debian's chromium with RGW's packages on first use (scripts/servers/rgw.mjs); or run: sudo apt-get install -y --no-install-recommends chromium`,
    );
  }
  const { chromium } = (await testTool("playwright-core")) as {
    chromium: { launch(options: object): Promise<Browser> };
  };
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  await mkdir(ARTIFACTS, { recursive: true });
}, 120_000);
afterAll(async () => {
  await browser?.close();
});

async function listen(
  handler: Parameters<typeof createServer>[0],
): Promise<{ server: Server; origin: string }> {
  const server = createServer(handler);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

function stop(server: Server): void {
  server.closeAllConnections();
  server.close();
}

interface Running {
  origin: string;
  media: Storage;
  documents: Storage;
  assets: Storage;
  close(): Promise<void>;
}

async function startApp(env: Record<string, string>): Promise<Running> {
  const registry = createStorages({ env });
  const app = await createApp({ registry, secret: randomBytes(32).toString("base64") });
  const { server, origin } = await listen(app);
  return {
    origin,
    media: await registry.get("default"),
    documents: await registry.get("private"),
    assets: await registry.getWriter("staticfiles"),
    async close() {
      stop(server);
      await registry.close();
    },
  };
}

/** The page uploads one file by form and one directly, and the gallery then shows both. */
async function uploadThroughThePage(running: Running, label: string): Promise<void> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors: unknown[] = [];
  page.on("pageerror", (error) => errors.push(error));
  try {
    await page.goto(`${running.origin}/`);
    await page.waitForFunction("document.body.dataset.galleryLoaded");
    // The stylesheet came through collectstatic + serveStatic (hashed name, from the staticfiles storage).
    await page.waitForFunction("getComputedStyle(document.body).maxWidth === '960px'");

    await page.setInputFiles("#form-file", {
      name: `form-${label}.png`,
      mimeType: "image/png",
      buffer: picture(100, 100),
    });
    await page.click("#form-submit");
    await page.waitForFunction(
      "document.querySelector('#form-status').textContent.startsWith('stored') || document.querySelector('#form-status').classList.contains('error')",
    );
    expect(await page.textContent("#form-status")).toMatch(/^stored uploads\/\d{4}\/\d{2}\/form-/);

    await page.setInputFiles("#direct-file", {
      name: `direct-${label}.png`,
      mimeType: "image/png",
      buffer: picture(140, 140),
    });
    await page.click("#direct-submit");
    await page.waitForFunction(
      "document.querySelector('#direct-status').textContent.startsWith('stored') || document.querySelector('#direct-status').classList.contains('error')",
      undefined,
      { timeout: 30_000 },
    );
    expect(await page.textContent("#direct-status")).toMatch(
      /^stored uploads\/\d{4}\/\d{2}\/direct-.*image\/png/,
    );

    // Both in the gallery, with their images loaded from wherever the storage serves them.
    await page.waitForFunction(
      `[...document.querySelectorAll('#public-files li img')].filter((img) => img.complete && img.naturalWidth > 0 && /(form|direct)-${label}/.test(img.alt)).length === 2`,
      undefined,
      { timeout: 30_000 },
    );
    await page.screenshot({ path: join(ARTIFACTS, `${label}.png`), fullPage: true });
    const stored: string[] = [];
    for await (const entry of running.media.list("uploads/", { recursive: true })) stored.push(entry.name);
    expect(stored.filter((n) => n.includes(`-${label}`))).toHaveLength(2);
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}

describe("upload service in Chromium, on local storage", () => {
  let running: Running;
  let root: string;
  let beacon: { server: Server; origin: string };
  const beaconHits: string[] = [];

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "storages-e2e-"));
    running = await startApp({
      STORAGES_MODE: "local",
      STORAGES_LOCAL_ROOT: root,
      STORAGES_DEFAULT: "file:///default?visibility=public",
      STORAGES_PRIVATE: "file:///private?visibility=private",
    });
    beacon = await listen((req, res) => {
      beaconHits.push(req.url ?? "");
      res.writeHead(204, { "access-control-allow-origin": "*" }).end();
    });
  });
  afterAll(async () => {
    await running?.close();
    if (beacon) stop(beacon.server);
    await rm(root, { recursive: true, force: true });
  });

  it("form upload and direct upload (the fs handler's signed PUT), both in the gallery", async () => {
    await uploadThroughThePage(running, "local");
  });

  it("HTML and SVG with a script, opened through the app's media URLs, run no script", async () => {
    const script = (tag: string) =>
      `document.title='pwned';fetch('${beacon.origin}/pwned?${tag}',{mode:'no-cors'});`;
    const html = `<!doctype html><title>harmless</title><script>${script("html")}</script>`;
    const svg = SVG_WITH_SCRIPT.toString().replace('document.title="pwned"', script("svg"));
    const files: Array<[name: string, body: string]> = [
      ["active/page.html", html],
      ["active/logo.svg", svg],
    ];
    for (const [name, body] of files) {
      await running.media.save(name, body, { overwrite: true });
      await running.documents.save(name, body, { overwrite: true });
    }
    const urls = files.flatMap(([name]) => [
      `${running.origin}${running.media.publicUrl(name)}`, // the fs handler: public media
      `${running.origin}/media/private/${name}`, // the app's private-media route
    ]);

    // The control: the same files served inline, without the sandbox, do run their script.
    const inline = await listen(
      createFsHandler(running.media, { basePath: "/inline/", inlineActiveContent: true }),
    );
    const context = await browser.newContext({ acceptDownloads: true });
    try {
      const page = await context.newPage();
      await page.goto(`${inline.origin}/inline/active/page.html`);
      await page.waitForFunction("document.title === 'pwned'");
      await page.goto(`${inline.origin}/inline/active/logo.svg`);
      await page.waitForFunction("document.title === 'pwned'");
      for (let i = 0; i < 50 && beaconHits.length < 2; i++) await new Promise((r) => setTimeout(r, 100));
      expect(beaconHits.sort()).toEqual(["/pwned?html", "/pwned?svg"]);
      beaconHits.length = 0;

      for (const url of urls) {
        // Opened directly: a download (attachment), never a page of the app's origin.
        const opened = await context.newPage();
        await opened.goto(url).catch(() => {});
        expect(await opened.title(), url).not.toBe("pwned");
        await opened.close();
        // Embedded in a page: iframe, object and embed.
        const embedding = await context.newPage();
        await embedding.goto(`${running.origin}/`);
        await embedding.setContent(
          `<title>host</title><iframe src="${url}"></iframe><object data="${url}"></object><embed src="${url}"><img src="${url}">`,
        );
        await new Promise((r) => setTimeout(r, 500));
        expect(await embedding.title()).toBe("host");
        const shot = `inert-${url.includes("/media/private/") ? "private-route" : "fs-handler"}-${url.split("/").at(-1)}.png`;
        await embedding.screenshot({ path: join(ARTIFACTS, shot) });
        await embedding.close();
      }
      await new Promise((r) => setTimeout(r, 500));
      expect(beaconHits).toEqual([]);
    } finally {
      await context.close();
      stop(inline.server);
    }
  });
});

const need = (name: string): string => {
  const value = process.env[name];
  if (!value)
    throw new Error(
      `${name} is not set: run \`npm test\` (it starts RGW and Azurite) or set the STORAGES_TEST_* variables.`,
    );
  return value;
};

describe("upload service in Chromium, direct to Ceph RGW with a POST policy", () => {
  let running: Running | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const { CreateBucketCommand, PutBucketCorsCommand } = await import("@aws-sdk/client-s3");
    const server = findTestServer();
    if (!server) throw new Error(MISSING_SERVER_MESSAGE);
    const { endpoint, region } = server;
    const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
    const client = adminClient(server);
    const bucket = `${RUN}-uploads`;
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    // What a bucket needs for direct browser uploads (docs/uploads.md#cors).
    await client.send(
      new PutBucketCorsCommand({
        Bucket: bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: ["*"],
              AllowedMethods: ["GET", "PUT", "POST"],
              AllowedHeaders: ["*"],
              ExposeHeaders: ["ETag"],
              MaxAgeSeconds: 600,
            },
          ],
        },
      }),
    );
    const query = new URLSearchParams({
      endpoint,
      region,
      profile: process.env.STORAGES_TEST_S3_PROFILE ?? "generic",
    });
    running = await startApp({
      STORAGES_DEFAULT: `s3://${bucket}/media?${query}&visibility=public`,
      STORAGES_PRIVATE: `s3://${bucket}/private?${query}&visibility=private`,
      STORAGES_STATICFILES: `s3://${bucket}/static?${query}&visibility=public`,
      STORAGES_STATICFILES_ACCESS_KEY_ID: credentials.accessKeyId,
      STORAGES_STATICFILES_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      STORAGES_DEFAULT_ACCESS_KEY_ID: credentials.accessKeyId,
      STORAGES_DEFAULT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      STORAGES_PRIVATE_ACCESS_KEY_ID: credentials.accessKeyId,
      STORAGES_PRIVATE_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    });
    cleanup = async () => {
      for (const storage of [running!.media, running!.documents, running!.assets])
        await storage.deletePrefix("", { all: true });
      const { DeleteBucketCommand } = await import("@aws-sdk/client-s3");
      await client.send(new DeleteBucketCommand({ Bucket: bucket }));
      client.destroy();
    };
  });
  afterAll(async () => {
    await cleanup?.();
    await running?.close();
  });

  it("form upload through the app, direct upload to RGW (POST policy, CORS), both in the gallery", async () => {
    expect(running!.media.features.signedUploadMaxBytes).toContain("post");
    await uploadThroughThePage(running!, "rgw");
  });
});

describe("upload service in Chromium, direct to Azurite with a SAS PUT", () => {
  let running: Running | undefined;
  let cleanup: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    const { BlobServiceClient } = await import("@azure/storage-blob");
    const connectionString = need("STORAGES_TEST_AZURE_CONNECTION_STRING");
    const account = /(?:^|;)\s*AccountName=([^;]+)/i.exec(connectionString)?.[1];
    const service = BlobServiceClient.fromConnectionString(connectionString);
    // What an account needs for direct browser uploads (docs/uploads.md#cors).
    await service.setProperties({
      cors: [
        {
          allowedOrigins: "*",
          allowedMethods: "GET,PUT,OPTIONS",
          allowedHeaders: "*",
          exposedHeaders: "etag",
          maxAgeInSeconds: 600,
        },
      ],
    });
    const containers = { media: `${RUN}-media`, private: `${RUN}-private`, static: `${RUN}-static` };
    await service.createContainer(containers.media, { access: "blob" });
    await service.createContainer(containers.private);
    await service.createContainer(containers.static, { access: "blob" });
    running = await startApp({
      STORAGES_DEFAULT: `azure://${account}/${containers.media}?visibility=public`,
      STORAGES_PRIVATE: `azure://${account}/${containers.private}?visibility=private`,
      STORAGES_STATICFILES: `azure://${account}/${containers.static}?visibility=public`,
      STORAGES_STATICFILES_CONNECTION_STRING: connectionString,
      STORAGES_DEFAULT_CONNECTION_STRING: connectionString,
      STORAGES_PRIVATE_CONNECTION_STRING: connectionString,
    });
    cleanup = async () => {
      for (const name of Object.values(containers))
        await service.deleteContainer(name).catch(() => undefined);
    };
  });
  afterAll(async () => {
    await running?.close();
    await cleanup?.();
  });

  it("form upload through the app, direct upload to Azurite (SAS PUT, CORS), both in the gallery", async () => {
    expect(running!.media.features.signedUpload).toEqual(["put"]);
    await uploadThroughThePage(running!, "azurite");
  });
});
