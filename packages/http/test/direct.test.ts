import { randomBytes } from "node:crypto";
import { mkdtemp, rm, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Storage } from "@storages/core";
import { createFsHandler, fsStorage } from "@storages/fs";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  confirmDirectUpload,
  type DirectUploadDescriptor,
  directUploadRoutes,
  issueDirectUpload,
  serveMedia,
  sweepDirectUploads,
  UploadError,
} from "../src/index.js";
import { listen, names, png, SVG_WITH_SCRIPT } from "./support/uploads.js";

const SECRET = randomBytes(32);
const roots: string[] = [];
let media: Storage;
let origin: string;
let close: () => void;

beforeAll(async () => {
  const root = await mkdtemp(join(tmpdir(), "storages-http-direct-"));
  roots.push(root);
  let fsHandler: ReturnType<typeof createFsHandler> | undefined;
  let routes: ReturnType<typeof directUploadRoutes> | undefined;
  const started = await listen((req, res) => {
    if (req.url === "/direct") return routes!.issue(req, res);
    if (req.url === "/direct/confirm") return routes!.confirm(req, res);
    if (req.url?.startsWith("/private/")) {
      serveMedia(req, res, media, decodeURIComponent(req.url.slice("/private/".length).split("?")[0]!), {
        mode: "stream",
      }).catch(() => res.writeHead(500).end());
      return;
    }
    fsHandler!(req, res, () => res.writeHead(404).end());
  });
  origin = started.origin;
  close = () => {
    started.server.closeAllConnections();
    started.server.close();
  };
  media = fsStorage({ root, signing: { key: randomBytes(32), baseUrl: `${origin}/files/` } });
  fsHandler = createFsHandler(media);
  routes = directUploadRoutes(media, { secret: SECRET, maxFileSize: 64 * 1024, uploadTo: "direct/" });
});
afterAll(async () => {
  close();
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

async function issue(
  body: object,
): Promise<{ status: number; body: DirectUploadDescriptor & { error?: { code: string } } }> {
  const response = await fetch(`${origin}/direct`, { method: "POST", body: JSON.stringify(body) });
  return { status: response.status, body: (await response.json()) as never };
}
async function confirm(
  token: string,
): Promise<{ status: number; body: { name?: string; error?: { code: string } } }> {
  const response = await fetch(`${origin}/direct/confirm`, {
    method: "POST",
    body: JSON.stringify({ token }),
  });
  return { status: response.status, body: (await response.json()) as never };
}
/** Stored names that hold `name`'s file name (without its extension): the upload, or what it was moved to. */
async function namesLike(name: string): Promise<string[]> {
  const stem = name.slice(name.lastIndexOf("/") + 1, name.lastIndexOf("."));
  const found: string[] = [];
  for await (const entry of media.list("", { recursive: true }))
    if (entry.name.includes(stem)) found.push(entry.name);
  return found;
}
async function put(descriptor: DirectUploadDescriptor, body: Buffer): Promise<number> {
  const response = await fetch(descriptor.url, {
    method: descriptor.method,
    headers: descriptor.headers,
    body: new Uint8Array(body),
  });
  return response.status;
}

describe("direct uploads to local storage (the fs handler's signed PUT)", () => {
  it("issue → PUT → confirm stores the file under uploadTo with its declared, sniffed type", async () => {
    const issued = await issue({ filename: "holiday photo.png", contentType: "image/png", size: 5000 });
    expect(issued.status).toBe(201);
    expect(issued.body).toMatchObject({ method: "PUT", maxBytes: 64 * 1024, sizeEnforcedByServer: true });
    expect(issued.body.name).toMatch(/^incoming\/direct\/holiday_photo_\w{7}\.png$/);
    const picture = png(5000);
    expect(await put(issued.body, picture)).toBe(200);
    const confirmed = await confirm(issued.body.token);
    expect(confirmed.status).toBe(200);
    // Accepted out of the staging folder, where the signed PUT (still valid) cannot replace it;
    // a second upload to that URL cannot be confirmed with the same token.
    const accepted = confirmed.body.name!;
    expect(accepted).toBe(issued.body.name.slice("incoming/".length));
    expect((await media.stat(accepted)).contentType).toBe("image/png");
    expect(await media.exists(issued.body.name)).toBe(false);
    expect(await put(issued.body, png(4000))).toBe(200);
    expect(Buffer.from(await media.readBytes(accepted)).equals(picture)).toBe(true);
    expect(await confirm(issued.body.token)).toMatchObject({
      status: 409,
      body: { error: { code: "E_UPLOAD_CONFIRMED" } },
    });
    expect(Buffer.from(await media.readBytes(accepted)).equals(picture)).toBe(true);
    expect((await namesLike(accepted)).sort()).toEqual([accepted, issued.body.name].sort()); // the replay waits for the sweep
    await media.delete(issued.body.name);
    expect(await confirm(issued.body.token)).toMatchObject({
      status: 404,
      body: { error: { code: "E_UPLOAD_MISSING" } },
    });
    await media.delete(accepted);
  });

  it("refuses an issue request whose fields have the wrong types", async () => {
    for (const body of [
      { filename: {} },
      { filename: "a.png", contentType: 5 },
      { filename: "a.png", size: "9" },
    ]) {
      expect(await issue(body), JSON.stringify(body)).toMatchObject({
        status: 400,
        body: { error: { code: "E_UPLOAD_MALFORMED" } },
      });
    }
  });

  it("refuses a JSON body that is not an object (null, an array, a string, a number): 400 at both endpoints", async () => {
    for (const path of ["/direct", "/direct/confirm"]) {
      for (const text of ["null", "[]", '["a.png"]', '"a.png"', "42"]) {
        const response = await fetch(`${origin}${path}`, { method: "POST", body: text });
        expect(response.status, `${path} ${text}`).toBe(400);
        expect(((await response.json()) as { error: { code: string } }).error.code).toBe(
          "E_UPLOAD_MALFORMED",
        );
      }
    }
  });

  it("names the upload with its declared type's extension, whatever the client called it", async () => {
    for (const filename of ["evil.html", "x.php", "x.svg", "noext"]) {
      const issued = await issue({ filename, contentType: "image/png" });
      expect(issued.status, filename).toBe(201);
      expect(issued.body.name, filename).toMatch(/\.png$/);
    }
  });

  it("concurrent confirms of one token: one file accepted, nothing else left outside the staging folder", async () => {
    for (const body of [png(3000), Buffer.from("<html><script>alert(1)</script></html>")]) {
      const issued = await issue({ filename: "race.png", contentType: "image/png" });
      expect(await put(issued.body, body)).toBe(200);
      const answers = await Promise.all(Array.from({ length: 20 }, () => confirm(issued.body.token)));
      const accepted = answers.filter((a) => a.status === 200);
      expect(accepted.length).toBeLessThanOrEqual(1);
      const outside = (await namesLike(issued.body.name)).filter((n) => !n.startsWith("incoming/"));
      expect(outside).toEqual(accepted.map((a) => a.body.name));
      for (const name of await namesLike(issued.body.name)) await media.delete(name);
    }
  });

  it('stagingPrefix chooses where uploads wait ("" for none); confirm always moves them out', async () => {
    for (const stagingPrefix of ["", "pending/uploads"]) {
      const rules = { secret: SECRET, uploadTo: "docs/", stagingPrefix };
      const descriptor = await issueDirectUpload(
        media,
        { filename: "a.png", contentType: "image/png" },
        rules,
      );
      expect(descriptor.name.startsWith(stagingPrefix === "" ? "docs/" : "pending/uploads/docs/")).toBe(true);
      await media.save(descriptor.name, png(100));
      const accepted = await confirmDirectUpload(media, descriptor.token, rules);
      expect(accepted.name).toMatch(
        stagingPrefix === "" ? /^docs\/a_\w{7}_\w{7}\.png$/ : /^docs\/a_\w{7}\.png$/,
      );
      expect(await media.exists(descriptor.name)).toBe(false);
      await media.delete(accepted.name);
    }
  });

  it('without a staging folder (stagingPrefix: "") a token still confirms one file: a replay after another upload is E_UPLOAD_CONFIRMED', async () => {
    const rules = { secret: SECRET, uploadTo: "nostage/", stagingPrefix: "" };
    const descriptor = await issueDirectUpload(media, { filename: "a.png", contentType: "image/png" }, rules);
    await media.save(descriptor.name, png(100));
    const accepted = await confirmDirectUpload(media, descriptor.token, rules);
    // The signed upload is still valid: the client sends another file to it and replays the token.
    await media.save(descriptor.name, png(200));
    const replay = await confirmDirectUpload(media, descriptor.token, rules).catch((error: unknown) => error);
    expect(replay).toBeInstanceOf(UploadError);
    expect((replay as UploadError).reason).toBe("E_UPLOAD_CONFIRMED");
    expect(await names(media, "nostage/")).toEqual([accepted.name, descriptor.name].sort());
    await media.deleteMany([accepted.name, descriptor.name]);
  });

  it("a token issued by a route with another staging folder (the same secret) is refused and moves nothing", async () => {
    const issuing = { secret: SECRET, uploadTo: "avatars/", stagingPrefix: "incoming/avatars/" };
    const descriptor = await issueDirectUpload(
      media,
      { filename: "a.png", contentType: "image/png" },
      issuing,
    );
    await media.save(descriptor.name, png(100));
    for (const stagingPrefix of ["incoming/docs/", ""]) {
      const other = { secret: SECRET, uploadTo: "docs/", stagingPrefix };
      const refused = await confirmDirectUpload(media, descriptor.token, other).catch(
        (error: unknown) => error,
      );
      expect(refused, stagingPrefix).toBeInstanceOf(UploadError);
      expect((refused as UploadError).reason).toBe("E_UPLOAD_TOKEN");
    }
    expect(await namesLike(descriptor.name)).toEqual([descriptor.name]);
    await media.delete(descriptor.name);
  });

  it("a token past expiresIn + confirmWindow is refused (E_UPLOAD_TOKEN) and moves nothing; up to then it confirms", async () => {
    const rules = { secret: SECRET, uploadTo: "expiry/", expiresIn: 60, confirmWindow: 30 };
    const late = await issueDirectUpload(media, { filename: "late.png", contentType: "image/png" }, rules);
    const onTime = await issueDirectUpload(
      media,
      { filename: "ontime.png", contentType: "image/png" },
      rules,
    );
    await media.save(late.name, png(100));
    await media.save(onTime.name, png(100));
    const deadline = Date.parse(late.expiresAt) + 30_000;
    vi.useFakeTimers({ toFake: ["Date"] });
    try {
      vi.setSystemTime(deadline + 1);
      const refused = await confirmDirectUpload(media, late.token, rules).catch((error: unknown) => error);
      expect((refused as UploadError).reason).toBe("E_UPLOAD_TOKEN");
      expect((refused as UploadError).message).toMatch(/expired/);
      vi.setSystemTime(Date.parse(onTime.expiresAt) + 30_000);
      const accepted = await confirmDirectUpload(media, onTime.token, rules);
      expect(accepted.name).toMatch(/^expiry\/ontime_\w{7}\.png$/);
      await media.delete(accepted.name);
    } finally {
      vi.useRealTimers();
    }
    expect(await media.exists(late.name)).toBe(true);
    await media.delete(late.name);
  });

  it("sweepDirectUploads deletes only staged uploads no token can confirm any more", async () => {
    const old = await issue({ filename: "old.png", contentType: "image/png" });
    const fresh = await issue({ filename: "fresh.png", contentType: "image/png" });
    for (const descriptor of [old.body, fresh.body]) expect(await put(descriptor, png(100))).toBe(200);
    await media.save("direct/kept.png", png(100));
    const longAgo = new Date(Date.now() - 21 * 60 * 1000 - 61_000); // past 600 + 600 s and the slack
    for (const name of [old.body.name, "direct/kept.png"]) await utimes(media.path(name), longAgo, longAgo);
    expect(await sweepDirectUploads(media)).toEqual({ deleted: 1 });
    expect(await media.exists(old.body.name)).toBe(false);
    expect(await media.exists(fresh.body.name)).toBe(true); // still confirmable
    expect(await media.exists("direct/kept.png")).toBe(true); // not staged: never the sweep's
    expect((await confirm(fresh.body.token)).status).toBe(200);
    await expect(sweepDirectUploads(media, { stagingPrefix: "" })).rejects.toMatchObject({
      code: "E_INVALID_ARGUMENT",
    });
  });

  it("a check that cannot finish leaves nothing where the upload was moved", async () => {
    const descriptor = await issueDirectUpload(
      media,
      { filename: "flaky.png", contentType: "image/png" },
      {
        secret: SECRET,
      },
    );
    await media.save(descriptor.name, png(100));
    const failingReads = new Proxy(media, {
      get: (target, prop, receiver) =>
        prop === "open"
          ? async () => {
              throw new Error("the storage went away");
            }
          : Reflect.get(target, prop, receiver),
    });
    await expect(confirmDirectUpload(failingReads, descriptor.token, { secret: SECRET })).rejects.toThrow(
      "the storage went away",
    );
    expect(await namesLike(descriptor.name)).toEqual([]);
  });

  it("refuses at issue time a type that is not allowed or a size over the limit", async () => {
    expect(await issue({ filename: "x.svg", contentType: "image/svg+xml" })).toMatchObject({
      status: 415,
      body: { error: { code: "E_UPLOAD_TYPE" } },
    });
    expect(await issue({ filename: "x.png", contentType: "image/png", size: 10 ** 9 })).toMatchObject({
      status: 413,
    });
  });

  it("confirm deletes a file whose content is not what was declared (an SVG sent as PNG)", async () => {
    const issued = await issue({ filename: "logo.png", contentType: "image/png" });
    expect(await put(issued.body, SVG_WITH_SCRIPT)).toBe(200);
    expect(await media.exists(issued.body.name)).toBe(true);
    expect(await confirm(issued.body.token)).toMatchObject({
      status: 415,
      body: { error: { code: "E_UPLOAD_TYPE" } },
    });
    expect(await media.exists(issued.body.name)).toBe(false);
    expect(await namesLike(issued.body.name)).toEqual([]);
  });

  it("confirm deletes a file over the limit when the server did not enforce it", async () => {
    const descriptor = await issueDirectUpload(
      media,
      { filename: "big.png", contentType: "image/png" },
      { secret: SECRET, maxFileSize: 1000 },
    );
    await media.save(descriptor.name, png(5000), { overwrite: true });
    await expect(confirmDirectUpload(media, descriptor.token, { secret: SECRET })).rejects.toMatchObject({
      reason: "E_UPLOAD_TOO_LARGE",
    });
    expect(await media.exists(descriptor.name)).toBe(false);
    expect(await namesLike(descriptor.name)).toEqual([]);
  });

  it("a tampered or foreign token is refused and deletes nothing; a missing upload is a 404", async () => {
    const issued = await issue({ filename: "a.png", contentType: "image/png" });
    await put(issued.body, png());
    const [payload] = issued.body.token.split(".");
    const forged = `${Buffer.from(JSON.stringify({ n: "direct/other.png", o: "x", t: "image/png", m: 1, e: Date.now() + 1e6 })).toString("base64url")}.${issued.body.token.split(".")[1]}`;
    expect(await confirm(forged)).toMatchObject({ status: 403, body: { error: { code: "E_UPLOAD_TOKEN" } } });
    expect(await confirm(`${payload}.AAAA`)).toMatchObject({ status: 403 });
    expect(await media.exists(issued.body.name)).toBe(true);
    const other = await issue({ filename: "never.png", contentType: "image/png" });
    expect(await confirm(other.body.token)).toMatchObject({
      status: 404,
      body: { error: { code: "E_UPLOAD_MISSING" } },
    });
    await media.delete(issued.body.name);
    await expect(confirmDirectUpload(media, "x", { secret: "short" })).rejects.toThrow(/32 bytes/);
    expect(
      UploadError.isInstance(await confirmDirectUpload(media, "x.y", { secret: SECRET }).catch((e) => e)),
    ).toBe(true);
  });
});

describe("a confirm token has exactly one spelling", () => {
  it("a MAC spelled otherwise (trailing bits set, padding, a stray character) is refused although it decodes to the same bytes; the issued one confirms", async () => {
    const issued = await issue({ filename: "spelled.png", contentType: "image/png" });
    await put(issued.body, png());
    const [payload, mac] = issued.body.token.split(".") as [string, string];
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // 32 bytes are 43 characters whose last carries 2 unused bits, which sign() leaves clear.
    const last = alphabet.indexOf(mac.at(-1)!);
    for (const spelled of [
      mac.slice(0, -1) + alphabet[last | 1],
      mac.slice(0, -1) + alphabet[last | 3],
      `${mac}=`,
      `${mac.slice(0, 20)}*${mac.slice(20)}`,
    ]) {
      expect(Buffer.from(spelled, "base64url").equals(Buffer.from(mac, "base64url")), spelled).toBe(true);
      await expect(
        confirmDirectUpload(media, `${payload}.${spelled}`, { secret: SECRET }),
        spelled,
      ).rejects.toMatchObject({ reason: "E_UPLOAD_TOKEN", message: expect.stringMatching(/malformed/) });
    }
    expect(await media.exists(issued.body.name)).toBe(true);
    expect(await confirm(issued.body.token)).toMatchObject({ status: 200 });
  });
});

describe("private media streamed through the app", () => {
  it("serves ranges, and HTML/SVG as sandboxed attachments", async () => {
    await media.save("m/photo.png", png(1000), { overwrite: true });
    await media.save("m/page.html", "<!doctype html><script>document.title='pwned'</script>", {
      overwrite: true,
    });
    await media.save("m/logo.svg", SVG_WITH_SCRIPT, { overwrite: true });
    const whole = await fetch(`${origin}/private/m/photo.png`);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-security-policy")).toBeNull();
    expect((await whole.arrayBuffer()).byteLength).toBe(1000);
    const part = await fetch(`${origin}/private/m/photo.png`, { headers: { range: "bytes=10-19" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 10-19/1000");
    expect((await part.arrayBuffer()).byteLength).toBe(10);
    expect((await fetch(`${origin}/private/m/photo.png`, { headers: { range: "bytes=5000-" } })).status).toBe(
      416,
    );
    for (const name of ["m/page.html", "m/logo.svg"]) {
      const res = await fetch(`${origin}/private/${name}`);
      expect(res.headers.get("content-disposition"), name).toMatch(/^attachment/);
      expect(res.headers.get("content-security-policy"), name).toMatch(/^sandbox/);
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    }
    expect((await fetch(`${origin}/private/m/missing.png`)).status).toBe(404);
    expect((await fetch(`${origin}/private/..%2F..%2Fetc%2Fpasswd`)).status).toBe(404);
    expect(await names(media, "m/")).toEqual(["m/logo.svg", "m/page.html", "m/photo.png"]);
  });
});
