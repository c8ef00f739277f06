/**
 * Direct uploads: the browser sends the file to the storage itself (S3/GCS POST policy, Azure SAS
 * PUT, the fs handler's signed PUT), with a descriptor the app issues, then asks the app to
 * confirm. The confirm step decides, as `handleUpload` does for a proxied upload: the object's
 * size from `stat()`, its type sniffed from its first bytes (a range read), and anything that
 * breaks the rules is deleted. A confirm token (HMAC) ties the confirmation to what was issued,
 * so a client can neither confirm nor have deleted a file it was not given. A signed upload can be
 * used again until it expires, so what is checked is first moved to a name the client was never
 * given: a later upload to the signed URL cannot replace a file once it is accepted. Until then
 * uploads wait in a staging folder (`stagingPrefix`), which the app neither lists nor serves.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import {
  AlreadyExistsError,
  alternativeName,
  extensionForType,
  guessContentType,
  InvalidArgumentError,
  NotFoundError,
  normalizePrefix,
  type SignedUpload,
  type Storage,
  StorageError,
} from "@storages/core";
import { clientGone } from "./client-gone.js";
import { UploadError } from "./errors.js";
import { sendJson, sendUploadError } from "./respond.js";
import { DEFAULT_ALLOWED_TYPES, isAllowedType, SNIFF_BYTES, sniffType } from "./sniff.js";
import { checkType, resolveLimits, type UploadedFile, type UploadRules, uploadName } from "./upload.js";

export interface DirectUploadOptions extends UploadRules {
  /** Key the confirm tokens are signed with: at least 32 bytes, kept out of source control. */
  secret: string | Uint8Array;
  /** Seconds the signed upload stays valid. Default 600. */
  expiresIn?: number | undefined;
  /**
   * Where direct uploads wait for their confirmation (default `"incoming/"`; `""` for none): the
   * descriptor names a file there, and confirm moves it out to its uploadTo name. Keep this folder
   * out of what the app lists and serves, and sweep what stays in it past expiresIn + confirmWindow
   * (uploads never confirmed).
   */
  stagingPrefix?: string | undefined;
  /** Seconds after the upload's expiry a confirmation is still accepted. Default 600. */
  confirmWindow?: number | undefined;
}

/** What the page asks for: the file's name, type and size as the browser sees them (all untrusted). */
export interface DirectUploadRequest {
  filename: string;
  contentType?: string | undefined;
  size?: number | undefined;
}

/**
 * Everything the browser module needs to upload one file, the same shape for every backend: the
 * storage's signed upload (method, url, headers for a PUT, fields for a POST, name) and what the
 * page and the confirm step need besides.
 */
export interface DirectUploadDescriptor extends Omit<SignedUpload, "expiresAt" | "maxBytes"> {
  /** The form field the file goes in, for a POST. */
  fileField: string;
  expiresAt: string;
  maxBytes: number;
  /** Whether the storage server itself refuses a larger body (else only the confirm step does). */
  sizeEnforcedByServer: boolean;
  /** Send it back to the confirm endpoint once the upload is done. */
  token: string;
}

interface TokenClaims {
  /** name */
  n: string;
  /** original name */
  o: string;
  /** declared (and signed) content type */
  t: string;
  /** max bytes */
  m: number;
  /** confirmable until (ms since epoch) */
  e: number;
  /** the staging folder it was issued for (absent in tokens issued before it was signed) */
  s?: string;
}

function keyBytes(secret: string | Uint8Array): Buffer {
  const key = typeof secret === "string" ? Buffer.from(secret, "utf8") : Buffer.from(secret);
  if (key.length < 32) {
    throw new InvalidArgumentError(
      "Direct uploads need a secret of at least 32 bytes (openssl rand -base64 48).",
    );
  }
  return key;
}

function sign(claims: TokenClaims, key: Buffer): string {
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  const mac = createHmac("sha256", key).update(payload).digest("base64url");
  return `${payload}.${mac}`;
}

function verify(token: unknown, key: Buffer): TokenClaims {
  const refuse = (why: string): never => {
    throw new UploadError(
      "E_UPLOAD_TOKEN",
      `This upload cannot be confirmed: ${why}. Upload the file again.`,
    );
  };
  if (typeof token !== "string" || token.length > 4096) return refuse("the token is missing");
  const [payload, mac, extra] = token.split(".");
  if (!payload || !mac || extra !== undefined) return refuse("the token is malformed");
  // Node's base64url decoding is lenient (padding, stray characters, set trailing bits all decode),
  // so several spellings would carry one MAC: only the one sign() writes is a token.
  const given = Buffer.from(mac, "base64url");
  if (given.toString("base64url") !== mac) return refuse("the token is malformed");
  const expected = createHmac("sha256", key).update(payload).digest();
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    return refuse("the token was not issued here");
  }
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as TokenClaims;
  } catch {
    return refuse("the token is malformed");
  }
  if (Date.now() > claims.e) return refuse("the token has expired");
  return claims;
}

/** The folder direct uploads wait in until they are confirmed. */
function staging(options: Pick<DirectUploadOptions, "stagingPrefix">): string {
  return normalizePrefix(options.stagingPrefix ?? "incoming/");
}

/**
 * Issues a direct upload for one file: a collision-free name (uploadTo, valid-name rules), a
 * signed upload bound to the declared type and, where the server enforces one, the size limit.
 * A declared type or size that already breaks the rules is refused here (415, 413).
 */
export async function issueDirectUpload(
  storage: Storage,
  request: DirectUploadRequest,
  options: DirectUploadOptions,
): Promise<DirectUploadDescriptor> {
  const key = keyBytes(options.secret);
  const { maxFileSize } = resolveLimits(options);
  const allowed = options.allowedTypes ?? DEFAULT_ALLOWED_TYPES;
  const filename = typeof request?.filename === "string" ? request.filename : "";
  const declared = (request.contentType || guessContentType(filename)).split(";")[0]!.trim().toLowerCase();
  if (!isAllowedType(declared, allowed)) {
    throw new UploadError(
      "E_UPLOAD_TYPE",
      `Files of type ${declared} are not accepted; allowed: ${allowed.join(", ")}.`,
    );
  }
  if (request.size !== undefined && !(Number.isSafeInteger(request.size) && request.size >= 0)) {
    throw new UploadError("E_UPLOAD_MALFORMED", "size must be the file's size in bytes.");
  }
  if (request.size !== undefined && request.size > maxFileSize) {
    throw new UploadError("E_UPLOAD_TOO_LARGE", `The file is over the limit of ${maxFileSize} bytes.`);
  }
  // Named with the declared type's extension (confirm requires the content to be that type): a
  // server that types files by extension agrees with what was checked, whatever the client
  // called the file ("evil.html" announced as image/png is stored as "evil….png").
  const name =
    staging(options) +
    uploadName(filename, { mime: declared, ext: extensionForType(declared) }, options.uploadTo);
  const enforced = storage.features.signedUploadMaxBytes.length > 0;
  const signed = await storage.signedUpload(name, {
    expiresIn: options.expiresIn ?? 600,
    contentType: declared,
    maxBytes: enforced ? maxFileSize : undefined,
  });
  const claims: TokenClaims = {
    n: signed.name,
    o: filename.slice(0, 255),
    t: declared,
    m: maxFileSize,
    e: signed.expiresAt.getTime() + (options.confirmWindow ?? 600) * 1000,
    s: staging(options),
  };
  return {
    method: signed.method,
    url: signed.url,
    headers: signed.headers,
    fields: signed.fields,
    fileField: "file",
    name: signed.name,
    expiresAt: signed.expiresAt.toISOString(),
    maxBytes: maxFileSize,
    sizeEnforcedByServer: enforced,
    token: sign(claims, key),
  };
}

/**
 * Confirms a finished direct upload: the object must exist, be within the size limit and be, by
 * its first bytes, the type it was issued for. Anything else is deleted and refused (413, 415);
 * a token that was not issued here, or expired, is refused (403) and deletes nothing. The file
 * accepted is stored under a new name — out of the staging folder, with a second random suffix,
 * returned here: keep that one.
 */
export async function confirmDirectUpload(
  storage: Storage,
  token: unknown,
  options: DirectUploadOptions,
): Promise<UploadedFile> {
  const key = keyBytes(options.secret);
  const claims = verify(token, key);
  // Checked where the signed upload cannot reach: checked in place, a file could be replaced
  // between the checks, or after them, by another upload to the same signed URL.
  // The accepted name follows from the token (the staged name without the staging folder), so a
  // token confirms once: a second upload to the same signed URL, confirmed again, finds its name
  // taken. Without a staging folder the two names would be one: then a suffix derived from the
  // staged name with the key (the same at every confirm of the token, so a replay finds it taken,
  // and one the client cannot aim a name at).
  const prefix = staging(options);
  // A token of another route with the same secret (another staging folder) would be moved to a
  // name cut at the wrong place, or accepted into that route's staging folder, which its sweep empties.
  if ((claims.s ?? (claims.n.startsWith(prefix) ? prefix : undefined)) !== prefix) {
    throw new UploadError(
      "E_UPLOAD_TOKEN",
      "This upload cannot be confirmed: the token was issued for another upload route. Confirm it where it was issued.",
    );
  }
  const name =
    prefix === "" ? alternativeName(claims.n, acceptedSuffix(claims.n, key)) : claims.n.slice(prefix.length);
  try {
    await storage.move(claims.n, name, { overwrite: false });
  } catch (error) {
    if (NotFoundError.isInstance(error)) {
      throw new UploadError(
        "E_UPLOAD_MISSING",
        "Nothing was uploaded under this name (or it was confirmed already); upload the file first.",
      );
    }
    if (AlreadyExistsError.isInstance(error)) {
      // What was uploaded again stays in the staging folder, never listed or served, for the sweep
      // (deleting it here could race a concurrent confirm of the same token that is winning).
      throw new UploadError(
        "E_UPLOAD_CONFIRMED",
        "This upload was confirmed already: a token confirms one file. Ask for a new upload to send another.",
      );
    }
    throw error;
  }
  try {
    return await checkAccepted(storage, name, claims, options.allowedTypes ?? DEFAULT_ALLOWED_TYPES);
  } catch (error) {
    // Refused, or the checks could not finish: either way the file was not accepted, and where it
    // now lies the client can no longer reach it, so it must not stay.
    await storage.delete(name).catch(() => {});
    throw error;
  }
}

/** The suffix of an upload's accepted name when it was not staged: 7 letters and digits of a MAC of its name. */
function acceptedSuffix(name: string, key: Buffer): string {
  const mac = createHmac("sha256", key).update(`accepted:${name}`).digest("base64url");
  return mac.replace(/[^A-Za-z0-9]/g, "").slice(0, 7);
}

/** The checks of a moved upload: size, then the type sniffed from its first bytes. */
async function checkAccepted(
  storage: Storage,
  name: string,
  claims: TokenClaims,
  allowed: readonly string[],
): Promise<UploadedFile> {
  const size = (await storage.stat(name)).size;
  if (size > claims.m)
    throw new UploadError("E_UPLOAD_TOO_LARGE", `The file is over the limit of ${claims.m} bytes.`);
  const head = size === 0 ? new Uint8Array(0) : await readHead(storage, name);
  const sniffed = await sniffType(head);
  checkType(sniffed, allowed, claims.o);
  if (sniffed.mime !== claims.t)
    throw new UploadError(
      "E_UPLOAD_TYPE",
      `The file was announced as ${claims.t} but is ${sniffed.mime}; upload it with its real type.`,
    );
  return { field: "file", name, originalName: claims.o, size, contentType: sniffed.mime };
}

/** Files a sweep deletes per request. */
const SWEEP_BATCH = 1000;
/** Slack for the storage's clock against this process's, in a sweep's cut-off. */
const CLOCK_SLACK_MS = 60_000;

/**
 * Deletes the direct uploads that were never confirmed: files in the staging folder older than
 * `expiresIn` + `confirmWindow` (and a minute's slack for clocks), which no token can confirm any
 * more. Give it the options the routes were given; run it from a scheduled job. Listing streams,
 * deletes go in batches: memory stays flat whatever the folder holds.
 */
export async function sweepDirectUploads(
  storage: Storage,
  options: Pick<DirectUploadOptions, "stagingPrefix" | "expiresIn" | "confirmWindow"> & {
    signal?: AbortSignal | undefined;
  } = {},
): Promise<{ deleted: number }> {
  const prefix = staging(options);
  if (prefix === "")
    throw new InvalidArgumentError(
      'Without a staging folder (stagingPrefix: "") unconfirmed uploads lie among the confirmed ones: there is nothing a sweep can tell apart.',
    );
  const maxAgeMs = ((options.expiresIn ?? 600) + (options.confirmWindow ?? 600)) * 1000 + CLOCK_SLACK_MS;
  const cutOff = Date.now() - maxAgeMs;
  const { signal } = options;
  let batch: string[] = [];
  let deleted = 0;
  const flush = async () => {
    if (batch.length === 0) return;
    await storage.deleteMany(batch, { signal });
    deleted += batch.length;
    batch = [];
  };
  for await (const entry of storage.list(prefix, { recursive: true, signal })) {
    if (entry.type !== "file" || entry.lastModified.getTime() >= cutOff) continue;
    batch.push(entry.name);
    if (batch.length >= SWEEP_BATCH) await flush();
  }
  await flush();
  return { deleted };
}

/** The first SNIFF_BYTES of a stored file, by a range read. */
async function readHead(storage: Storage, name: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  try {
    const stream = await storage.open(name, { range: { start: 0, end: SNIFF_BYTES - 1 } });
    for await (const chunk of stream) chunks.push(chunk as Buffer);
  } catch (error) {
    if (StorageError.hasCode(error, "E_RANGE_NOT_SATISFIABLE")) return new Uint8Array(0);
    throw error;
  }
  return Buffer.concat(chunks).subarray(0, SNIFF_BYTES);
}

/** Largest JSON body the issue and confirm endpoints read. */
const MAX_JSON_BYTES = 16 * 1024;

/** A small JSON request body (or the one a framework already parsed into `request.body`). */
export async function readJsonBody(request: IncomingMessage): Promise<unknown> {
  const parsed = (request as IncomingMessage & { body?: unknown }).body;
  if (parsed !== undefined && typeof parsed === "object") return parsed;
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of request) {
      length += (chunk as Buffer).length;
      if (length > MAX_JSON_BYTES) {
        throw new UploadError(
          "E_UPLOAD_FIELD_TOO_LARGE",
          `The request body is over ${MAX_JSON_BYTES} bytes.`,
        );
      }
      chunks.push(chunk as Buffer);
    }
  } catch (error) {
    // A client that went away mid-body is the client's doing, not an error for the app's onError.
    if (!UploadError.isInstance(error) && clientGone(request)) {
      throw new UploadError(
        "E_UPLOAD_ABORTED",
        "The client closed the connection before the request ended.",
        {
          cause: error,
        },
      );
    }
    throw error;
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw notJsonObject();
  }
}

function notJsonObject(): UploadError {
  return new UploadError(
    "E_UPLOAD_MALFORMED",
    'Send a JSON object, e.g. {"filename":"a.png","contentType":"image/png","size":1234}.',
  );
}

/** The body as an object; any other JSON (null, an array, a string, a number) is the client's mistake. */
function jsonObject(body: unknown): Record<string, unknown> {
  if (body === null || typeof body !== "object" || Array.isArray(body)) throw notJsonObject();
  return body as Record<string, unknown>;
}

export interface DirectUploadRoutes {
  /** POST `{ filename, contentType, size }` → 201 with a DirectUploadDescriptor. */
  issue(request: IncomingMessage, response: ServerResponse): void;
  /** POST `{ token }` → 200 with the stored file, or the typed refusal (the file then deleted). */
  confirm(request: IncomingMessage, response: ServerResponse): void;
}

/** The two endpoints of direct uploads, as node:http/Express/Connect handlers. */
export function directUploadRoutes(
  storage: Storage,
  options: DirectUploadOptions & {
    onError?: ((error: unknown, request: IncomingMessage) => void) | undefined;
  },
): DirectUploadRoutes {
  keyBytes(options.secret);
  const answer =
    (work: (body: Record<string, unknown>) => Promise<unknown>, status: number) =>
    (request: IncomingMessage, response: ServerResponse) => {
      readJsonBody(request)
        .then((body) => work(jsonObject(body)))
        .then((result) => sendJson(response, status, result))
        .catch((error: unknown) => {
          if (!UploadError.isInstance(error)) options.onError?.(error, request);
          sendUploadError(request, response, error);
        });
    };
  return {
    issue: answer(async (body) => {
      // Wrong types are the client's mistake, said as such (never a name like "object_Object").
      for (const [field, type] of [
        ["filename", "string"],
        ["contentType", "string"],
        ["size", "number"],
      ] as const) {
        if (body[field] !== undefined && body[field] !== null && typeof body[field] !== type)
          throw new UploadError("E_UPLOAD_MALFORMED", `${field} must be a ${type}.`);
      }
      return issueDirectUpload(
        storage,
        {
          filename: (body.filename as string | undefined) ?? "",
          contentType: (body.contentType as string | undefined) ?? undefined,
          size: (body.size as number | undefined) ?? undefined,
        },
        options,
      );
    }, 201),
    confirm: answer((body) => confirmDirectUpload(storage, body.token, options), 200),
  };
}
