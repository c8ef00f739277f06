/**
 * Everything a plain HTTP client does with the URLs a storage hands out: public URLs, signed GET
 * URLs (and their refusal when tampered with or expired), signed uploads, and per-file visibility.
 */
import type { SignedUpload, SignedUploadMethod } from "@storages/core";
import pLimit from "p-limit";
import { describe, expect, it } from "vitest";
import { listAllNames, type ServerGap, type SuiteContext } from "../context.js";
import { randomBytes } from "../helpers.js";
import { awkwardNames } from "../names.js";

/** Every request gets a deadline so a hung server fails the test instead of stalling the run. */
async function get(
  url: string,
  init: RequestInit = {},
): Promise<{ status: number; body: Buffer; headers: Headers }> {
  const response = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, body, headers: response.headers };
}

function isRefused(status: number): boolean {
  return status >= 400 && status < 500;
}

/** The file name a Content-Disposition header gives (RFC 6266: filename* wins over filename). */
export function dispositionFilename(header: string | null): string | undefined {
  if (header === null) return undefined;
  const extended = /filename\*\s*=\s*[^';\s]*'[^']*'([^;\s]+)/i.exec(header);
  if (extended?.[1] !== undefined) return decodeURIComponent(extended[1]);
  const quoted = /filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted?.[1] !== undefined) return quoted[1].replace(/\\(.)/g, "$1");
  return /filename\s*=\s*([^;\s]+)/i.exec(header)?.[1];
}

const SIGNATURE_PARAMS = [
  "x-amz-signature",
  "x-goog-signature",
  "sig",
  "signature",
  "token",
  "expires-signature",
];

/** Changes one character in the middle of the URL's signature, keeping it in the same alphabet. */
export function tamperSignature(url: string): string {
  const parsed = new URL(url);
  const keys = [...parsed.searchParams.keys()];
  const key =
    keys.find((k) => SIGNATURE_PARAMS.includes(k.toLowerCase())) ??
    // Unknown scheme: the longest parameter value is the signature.
    keys.sort(
      (a, b) => (parsed.searchParams.get(b)?.length ?? 0) - (parsed.searchParams.get(a)?.length ?? 0),
    )[0];
  if (key === undefined) throw new Error(`no query parameter to tamper with in ${url.split("?")[0]}`);
  const value = parsed.searchParams.get(key) ?? "";
  const at = Math.floor(value.length / 2);
  const char = value.charAt(at);
  const flipped = /[0-8]/.test(char)
    ? String(Number(char) + 1)
    : char === "9"
      ? "0"
      : /[a-yA-Y]/.test(char)
        ? String.fromCharCode(char.charCodeAt(0) + 1)
        : char === "z"
          ? "a"
          : char === "Z"
            ? "A"
            : "A";
  parsed.searchParams.set(key, value.slice(0, at) + flipped + value.slice(at + 1));
  return parsed.toString();
}

async function upload(up: SignedUpload, data: Uint8Array, contentType: string): Promise<number> {
  const body = new Uint8Array(data);
  if (up.method === "PUT") {
    const response = await fetch(up.url, {
      method: "PUT",
      headers: up.headers,
      body,
      signal: AbortSignal.timeout(30_000),
    });
    await response.arrayBuffer();
    return response.status;
  }
  const form = new FormData();
  for (const [key, value] of Object.entries(up.fields)) form.append(key, value);
  form.append("file", new Blob([body], { type: contentType }), "upload.bin");
  const response = await fetch(up.url, { method: "POST", body: form, signal: AbortSignal.timeout(30_000) });
  await response.arrayBuffer();
  return response.status;
}

function methodGap(method: SignedUploadMethod): ServerGap {
  return method === "put" ? "signedUploadPut" : "signedUploadPost";
}

export function registerHttp(ctx: SuiteContext): void {
  const caps = ctx.caps;

  // Decided when tests are collected, so a storage without plain URLs gets tests of that, never a
  // URL test that returns early and passes.
  const hasPlainUrls = caps.publicUrl || ctx.main.publicBaseUrl !== undefined;
  describe(`public URLs (capabilities.publicUrl: ${caps.publicUrl})`, () => {
    if (!hasPlainUrls) {
      it("publicUrl() throws E_UNSUPPORTED, and url() of a public storage with it (no URL is made up)", async () => {
        const s = await ctx.fresh({ visibility: "public" });
        await ctx.expectError(() => s.publicUrl("plain.txt"), "E_UNSUPPORTED", { operation: "url" });
        await ctx.expectError(s.url("plain.txt"), "E_UNSUPPORTED", { operation: "url" });
      });
      it("a private file has no plain URL at all (E_UNSUPPORTED), so none can leak it", async () => {
        const s = await ctx.fresh({ visibility: "private" });
        await ctx.expectError(() => s.publicUrl("private.txt"), "E_UNSUPPORTED", { operation: "url" });
      });
      return;
    }

    it("publicUrl()/url() of a public storage are fetched with plain fetch, awkward names included", async () => {
      const s = await ctx.fresh({ visibility: "public" });
      const limit = pLimit(8);
      await Promise.all(awkwardNames.map((name) => limit(() => s.save(name, `public ${name}`))));
      expect(s.publicUrl(awkwardNames[0] ?? "plain.txt")).toMatch(/^https?:\/\//);
      const failures: string[] = [];
      await Promise.all(
        awkwardNames.map((name) =>
          limit(async () => {
            for (const url of [s.publicUrl(name), await s.url(name)]) {
              const { status, body } = await get(url);
              if (status !== 200 || body.toString() !== `public ${name}`) {
                failures.push(`${JSON.stringify(name)} ${url} → ${status} ${body.toString().slice(0, 80)}`);
              }
            }
          }),
        ),
      );
      expect(failures).toEqual([]);
    });

    ctx.verify(
      "a private file's plain URL is refused to an anonymous client (401/403/404)",
      ["anonymousAccess"],
      async () => {
        const objectLevel = caps.visibility === "object";
        const s = await ctx.fresh({ visibility: objectLevel ? "public" : "private" });
        const name = ctx.unique("private", ".txt");
        await s.save(name, "secret content", { visibility: "private" });
        const { status, body } = await get(s.publicUrl(name));
        expect([401, 403, 404], `anonymous GET of a private file returned ${status}`).toContain(status);
        expect(body.toString()).not.toContain("secret content");
      },
    );
  });

  describe(`signed URLs (capabilities.signedUrl: ${caps.signedUrl})`, () => {
    if (!caps.signedUrl) {
      it("signedUrl() and url() of a private storage throw E_UNSUPPORTED", async () => {
        const s = ctx.main;
        const name = ctx.unique("signed");
        await s.save(name, "x");
        await ctx.expectError(s.signedUrl(name), "E_UNSUPPORTED", { operation: "signedUrl" });
        await ctx.expectError(s.signedUrl(name, { expiresIn: 60, download: true }), "E_UNSUPPORTED");
        const priv = await ctx.fresh({ visibility: "private" });
        await priv.save("x.txt", "x");
        await ctx.expectError(priv.url("x.txt"), "E_UNSUPPORTED", { operation: ["url", "signedUrl"] });
        await s.delete(name);
      });
      return;
    }

    it("a signed URL returns the bytes and the stored content type; url() of a private storage signs", async () => {
      const s = await ctx.fresh({ visibility: "private" });
      const body = randomBytes(20_000);
      await s.save("docs/report.pdf", body);
      for (const url of [await s.signedUrl("docs/report.pdf"), await s.url("docs/report.pdf")]) {
        const response = await get(url);
        expect(response.status).toBe(200);
        expect(Buffer.compare(response.body, body)).toBe(0);
        expect(response.headers.get("content-type")).toBe("application/pdf");
      }
    });

    it("signed URLs of awkward names are fetched exactly", async () => {
      const s = await ctx.fresh({ visibility: "private" });
      const limit = pLimit(8);
      await Promise.all(awkwardNames.map((name) => limit(() => s.save(name, `signed ${name}`))));
      const failures: string[] = [];
      await Promise.all(
        awkwardNames.map((name) =>
          limit(async () => {
            const url = await s.signedUrl(name, { expiresIn: 300 });
            const { status, body } = await get(url);
            if (status !== 200 || body.toString() !== `signed ${name}`) {
              failures.push(`${JSON.stringify(name)} → ${status} ${body.toString().slice(0, 120)}`);
            }
          }),
        ),
      );
      expect(failures).toEqual([]);
    });

    ctx.verify(
      "download: true / a file name set Content-Disposition attachment; contentType overrides the type",
      ["signedUrlOverrides"],
      async () => {
        const s = ctx.main;
        const dir = ctx.unique("download", "");
        const name = `${dir}/Relevé de compte.pdf`;
        await s.save(name, "%PDF-1.4 fake");
        const own = await get(await s.signedUrl(name, { download: true }));
        expect(own.status).toBe(200);
        const ownHeader = own.headers.get("content-disposition");
        expect(ownHeader).toMatch(/^attachment/i);
        expect(dispositionFilename(ownHeader), `Content-Disposition: ${ownHeader}`).toBe(
          "Relevé de compte.pdf",
        );
        const named = await get(await s.signedUrl(name, { download: "Rapport final – été 2024.pdf" }));
        expect(named.status).toBe(200);
        const namedHeader = named.headers.get("content-disposition");
        expect(namedHeader).toMatch(/^attachment/i);
        expect(dispositionFilename(namedHeader), `Content-Disposition: ${namedHeader}`).toBe(
          "Rapport final – été 2024.pdf",
        );
        expect(named.body.toString()).toBe("%PDF-1.4 fake");
        const typed = await get(await s.signedUrl(name, { contentType: "text/plain; charset=utf-8" }));
        expect(typed.status).toBe(200);
        expect(typed.headers.get("content-type")).toBe("text/plain; charset=utf-8");
        expect(typed.body.toString()).toBe("%PDF-1.4 fake");
        await s.delete(name);
      },
    );

    ctx.verify(
      "a signed URL with one signature character changed is refused (4xx)",
      ["signatureTamper"],
      async () => {
        const s = ctx.main;
        const name = ctx.unique("tamper");
        await s.save(name, "tamper target");
        const url = await s.signedUrl(name, { expiresIn: 300 });
        expect((await get(url)).status).toBe(200);
        const tampered = tamperSignature(url);
        expect(tampered).not.toBe(url);
        const { status, body } = await get(tampered);
        expect(isRefused(status), `tampered signature returned ${status}`).toBe(true);
        expect(body.toString()).not.toBe("tamper target");
        await s.delete(name);
      },
    );

    ctx.verify(
      "a signed URL pointed at another file (path changed, signature kept) is refused (4xx)",
      ["signatureTamper"],
      async () => {
        const s = ctx.main;
        const token = `t${randomBytes(6).toString("hex")}`;
        const a = `tamper-path/${token}-a.txt`;
        const b = `tamper-path/${token}-b.txt`;
        await s.save(a, "file a");
        await s.save(b, "file b: must stay private");
        const url = await s.signedUrl(a, { expiresIn: 300 });
        expect(url, "the signed URL names the file").toContain(`${token}-a.txt`);
        const swapped = url.split(`${token}-a.txt`).join(`${token}-b.txt`);
        const { status, body } = await get(swapped);
        expect(isRefused(status), `signature reused for another file returned ${status}`).toBe(true);
        expect(body.toString()).not.toContain("must stay private");
        await s.deleteMany([a, b]);
      },
    );

    ctx.verify("an expired signed URL is refused (4xx)", ["signatureExpiry"], async () => {
      const s = ctx.main;
      const name = ctx.unique("expiry");
      await s.save(name, "expiring");
      const url = await s.signedUrl(name, { expiresIn: 1 });
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const { status, body } = await get(url);
      expect(isRefused(status), `expired signed URL returned ${status}`).toBe(true);
      expect(body.toString()).not.toBe("expiring");
      await s.delete(name);
    });

    it("expiresIn that is not a positive number is E_INVALID_ARGUMENT", async () => {
      const s = ctx.main;
      for (const expiresIn of [0, -5, Number.NaN, Number.POSITIVE_INFINITY]) {
        await ctx.expectError(s.signedUrl("any.txt", { expiresIn }), "E_INVALID_ARGUMENT");
      }
    });
  });

  describe(`signed uploads (capabilities.signedUpload: [${caps.signedUpload.join(", ")}], enforced maxBytes: [${caps.signedUploadMaxBytes.join(", ")}])`, () => {
    for (const method of ["put", "post"] as const) {
      if (!caps.signedUpload.includes(method)) {
        it(`method "${method}" is not offered: E_UNSUPPORTED`, async () => {
          await ctx.expectError(
            ctx.main.signedUpload(ctx.unique("upload"), { method, contentType: "text/plain" }),
            "E_UNSUPPORTED",
            { operation: "signedUpload" },
          );
        });
        continue;
      }

      ctx.verify(
        `${method.toUpperCase()}: a plain HTTP client uploads the bytes with the bound content type`,
        [methodGap(method)],
        async () => {
          const s = ctx.main;
          const name = ctx.unique(`upload-${method}`, ".csv");
          const up = await s.signedUpload(name, {
            method,
            contentType: "text/csv",
            expiresIn: 300,
            overwrite: true,
          });
          expect(up.method).toBe(method.toUpperCase());
          expect(up.name).toBe(name);
          expect(up.expiresAt.getTime()).toBeGreaterThan(Date.now());
          expect(up.expiresAt.getTime()).toBeLessThanOrEqual(Date.now() + 360_000);
          const body = Buffer.from("id,name\n1,Zoë\n");
          const status = await upload(up, body, "text/csv");
          expect(status, `upload status`).toBeGreaterThanOrEqual(200);
          expect(status).toBeLessThan(300);
          expect(Buffer.compare(await s.readBytes(name), body)).toBe(0);
          expect((await s.stat(name)).contentType).toBe("text/csv");
          await s.delete(name);
        },
      );

      ctx.verify(
        `${method.toUpperCase()}: overwrite:false (default) hands out a fresh name in the same directory and extension`,
        [methodGap(method)],
        async () => {
          const s = ctx.main;
          const name = ctx.unique(`upload-${method}`, ".txt");
          await s.save(name, "taken");
          const up = await s.signedUpload(name, { method, contentType: "text/plain" });
          expect(up.name).not.toBe(name);
          expect(up.name.startsWith(name.slice(0, name.lastIndexOf("/") + 1))).toBe(true);
          expect(up.name.endsWith(".txt")).toBe(true);
          const status = await upload(up, Buffer.from("uploaded"), "text/plain");
          expect(status).toBeLessThan(300);
          expect(await s.readText(up.name)).toBe("uploaded");
          expect(await s.readText(name)).toBe("taken");
          await s.deleteMany([name, up.name]);
        },
      );

      if (caps.signedUploadMaxBytes.includes(method)) {
        ctx.verify(
          `${method.toUpperCase()}: a body over maxBytes is refused by the server and nothing is stored`,
          [methodGap(method), "uploadSizeLimit"],
          async () => {
            const s = ctx.main;
            const name = ctx.unique(`upload-${method}-limit`, ".bin");
            const up = await s.signedUpload(name, {
              method,
              contentType: "application/octet-stream",
              maxBytes: 1024,
              overwrite: true,
            });
            expect(up.maxBytes).toBe(1024);
            const status = await upload(up, randomBytes(4096), "application/octet-stream");
            expect(isRefused(status), `oversized upload returned ${status}`).toBe(true);
            expect(await s.exists(name)).toBe(false);
            const small = randomBytes(1000);
            const again = await s.signedUpload(name, {
              method,
              contentType: "application/octet-stream",
              maxBytes: 1024,
              overwrite: true,
            });
            expect(await upload(again, small, "application/octet-stream")).toBeLessThan(300);
            expect(Buffer.compare(await s.readBytes(name), small)).toBe(0);
            await s.delete(name);
          },
        );
      } else {
        it(`${method.toUpperCase()}: maxBytes cannot be enforced with this method: E_UNSUPPORTED`, async () => {
          await ctx.expectError(
            ctx.main.signedUpload(ctx.unique("upload"), {
              method,
              maxBytes: 1024,
              contentType: "text/plain",
            }),
            "E_UNSUPPORTED",
            { operation: "signedUpload" },
          );
        });
      }
    }

    if (caps.signedUploadMaxBytes.length > 0) {
      it("with maxBytes and no method, the method chosen is one that enforces it", async () => {
        const up = await ctx.main.signedUpload(ctx.unique("upload"), {
          maxBytes: 1024,
          contentType: "text/plain",
        });
        expect(caps.signedUploadMaxBytes.map((m) => m.toUpperCase())).toContain(up.method);
        expect(up.maxBytes).toBe(1024);
      });
    } else if (caps.signedUpload.length > 0) {
      it("maxBytes with no enforcing method is E_UNSUPPORTED (never silently unenforced)", async () => {
        await ctx.expectError(
          ctx.main.signedUpload(ctx.unique("upload"), { maxBytes: 1024, contentType: "text/plain" }),
          "E_UNSUPPORTED",
        );
      });
    }
  });

  describe(`visibility (capabilities.visibility: "${caps.visibility}")`, () => {
    if (caps.visibility !== "object") {
      it("a file cannot get a visibility other than the storage's: E_UNSUPPORTED", async () => {
        const s = ctx.main;
        const other = s.visibility === "public" ? "private" : "public";
        const name = ctx.unique("visibility");
        await s.save(name, "x");
        await ctx.expectError(s.setVisibility(name, other), "E_UNSUPPORTED", { operation: "setVisibility" });
        await ctx.expectError(s.save(ctx.unique("visibility"), "x", { visibility: other }), "E_UNSUPPORTED", {
          operation: "save",
        });
        expect(await s.getVisibility(name)).toBe(s.visibility);
        await s.delete(name);
      });
      return;
    }

    it("save sets the visibility; setVisibility changes it; getVisibility reads it", async () => {
      const s = await ctx.fresh({ visibility: "private" });
      await s.save("default.txt", "x");
      expect(await s.getVisibility("default.txt")).toBe("private");
      await s.save("public.txt", "x", { visibility: "public" });
      expect(await s.getVisibility("public.txt")).toBe("public");
      await s.setVisibility("public.txt", "private");
      expect(await s.getVisibility("public.txt")).toBe("private");
      await s.setVisibility("default.txt", "public");
      expect(await s.getVisibility("default.txt")).toBe("public");
      const pub = await ctx.fresh({ visibility: "public" });
      await pub.save("p.txt", "x");
      expect(await pub.getVisibility("p.txt")).toBe("public");
      await ctx.expectError(s.setVisibility("missing.txt", "public"), "E_NOT_FOUND", {
        operation: "setVisibility",
      });
      await ctx.expectError(s.getVisibility("missing.txt"), "E_NOT_FOUND", { operation: "getVisibility" });
      expect(await listAllNames(s)).toEqual(["default.txt", "public.txt"]);
    });

    if (caps.publicUrl) {
      ctx.verify(
        "setVisibility is what an anonymous client sees: 200 when public, 401/403/404 when private",
        ["anonymousAccess"],
        async () => {
          const s = await ctx.fresh({ visibility: "public" });
          await s.save("flip.txt", "flip");
          const url = s.publicUrl("flip.txt");
          expect((await get(url)).status).toBe(200);
          await s.setVisibility("flip.txt", "private");
          const hidden = await get(url);
          expect([401, 403, 404]).toContain(hidden.status);
          await s.setVisibility("flip.txt", "public");
          const shown = await get(url);
          expect(shown.status).toBe(200);
          expect(shown.body.toString()).toBe("flip");
        },
      );
    }
  });
}
