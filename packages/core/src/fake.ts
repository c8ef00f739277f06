/**
 * `fake()`: an in-memory Storage for an application's own tests, with assertions that fail with
 * readable messages (plain Errors, so they work under any test runner).
 *
 * It has URLs like a real storage: public URLs under its base URL, and HMAC-signed URLs and PUT
 * uploads that the fake itself verifies (`verifyUrl`) and accepts (`receiveUpload`), so code that
 * hands out `url()`, `signedUrl()` or `signedUpload()` is testable without a server.
 */
import { toBodySource } from "./body.js";
import { MemoryDriver } from "./memory.js";
import { Storage, type StorageOptions } from "./storage.js";
import type { BodyInput, SaveResult, SignedUpload } from "./types.js";
import type { VerifyResult } from "./url-signer.js";
import { decodeUrlPath } from "./url-signer.js";

export interface FakeStorageOptions extends StorageOptions {
  /** Where the fake's files "are served". Default "https://fake-storage.invalid/" (never resolves). */
  baseUrl?: string | undefined;
  /** Key of its signed URLs (≥ 32 bytes). Default: random per fake. */
  signingKey?: string | Uint8Array | undefined;
}

export const DEFAULT_FAKE_BASE_URL = "https://fake-storage.invalid/";

export class FakeStorage extends Storage {
  declare readonly driver: MemoryDriver;

  constructor(options: FakeStorageOptions = {}) {
    const { baseUrl = DEFAULT_FAKE_BASE_URL, signingKey, ...storageOptions } = options;
    super(new MemoryDriver({ defaultVisibility: options.visibility, baseUrl, signingKey }), storageOptions);
  }

  /**
   * Checks a URL this fake signed, as the server would: the signature, the expiry, and the method
   * (GET for `signedUrl`, PUT for `signedUpload`). Returns the file name it grants access to.
   */
  verifyUrl(
    url: string | URL,
    method: "GET" | "PUT" = "GET",
  ): { name: string } & VerifyResult & { ok: true } {
    const result = this.driver.signer!.verify(url);
    if (!result.ok)
      throw new Error(
        `Expected a valid signed URL of the fake storage; it is ${result.reason}: ${result.message}`,
      );
    if (result.method !== method)
      throw new Error(`Expected a signed ${method} URL, got one signed for ${result.method}.`);
    const base = decodeUrlPath(new URL(this.driver.baseUrl!, "http://placeholder.invalid").pathname) ?? "/";
    const mount = base.endsWith("/") ? base : `${base}/`;
    if (!result.path.startsWith(mount))
      throw new Error(`The signed URL is not under the fake's base URL ${this.driver.baseUrl}.`);
    return { ...result, name: result.path.slice(mount.length) };
  }

  /**
   * Plays the browser's part of a signed upload: checks the descriptor's URL (signature, expiry),
   * its size limit and content type, then stores the body under the name it grants. Throws a
   * readable Error when the server would have refused the upload.
   */
  async receiveUpload(
    upload: Pick<SignedUpload, "method" | "url" | "headers">,
    body: BodyInput,
    headers: Record<string, string> = upload.headers,
  ): Promise<SaveResult> {
    if (upload.method !== "PUT")
      throw new Error(`The fake accepts signed PUT uploads, got ${upload.method}.`);
    const granted = this.verifyUrl(upload.url, "PUT");
    const sentType = Object.entries(headers).find(([k]) => k.toLowerCase() === "content-type")?.[1];
    if (granted.contentType !== undefined && sentType !== granted.contentType) {
      throw new Error(
        `The upload must be sent with Content-Type ${granted.contentType}, got ${sentType ?? "none"}.`,
      );
    }
    const bytes = await toBodySource(body).stream().toArray();
    const size = bytes.reduce((n, chunk: Buffer) => n + chunk.length, 0);
    if (granted.maxBytes !== undefined && size > granted.maxBytes) {
      throw new Error(`The upload is ${size} bytes; the signed upload allows at most ${granted.maxBytes}.`);
    }
    return this.save(granted.name, Buffer.concat(bytes), {
      overwrite: true,
      contentType: granted.contentType ?? sentType,
      cacheControl: granted.cacheControl,
    });
  }

  /** Every stored name, sorted. */
  files(): string[] {
    return this.driver.keys();
  }

  /** Removes every file. */
  reset(): void {
    this.driver.clear();
  }

  async assertExists(name: string): Promise<void> {
    if (!(await this.exists(name))) {
      throw new Error(
        `Expected "${name}" to exist in the fake storage; it holds: ${describeFiles(this.files())}.`,
      );
    }
  }

  async assertMissing(name: string): Promise<void> {
    if (await this.exists(name)) throw new Error(`Expected "${name}" not to exist in the fake storage.`);
  }

  async assertContent(name: string, expected: string | Uint8Array): Promise<void> {
    await this.assertExists(name);
    const actual = await this.readBytes(name);
    const wanted = typeof expected === "string" ? Buffer.from(expected) : Buffer.from(expected);
    if (!actual.equals(wanted)) {
      throw new Error(
        `Expected "${name}" to hold ${wanted.length} bytes ${JSON.stringify(wanted.subarray(0, 60).toString())}, found ${actual.length} bytes ${JSON.stringify(actual.subarray(0, 60).toString())}.`,
      );
    }
  }

  assertCount(expected: number): void {
    const files = this.files();
    if (files.length !== expected) {
      throw new Error(
        `Expected ${expected} files in the fake storage, found ${files.length}: ${describeFiles(files)}.`,
      );
    }
  }
}

function describeFiles(files: string[]): string {
  if (files.length === 0) return "nothing";
  const shown = files.slice(0, 20).map((f) => JSON.stringify(f));
  return shown.join(", ") + (files.length > 20 ? `, … (${files.length} in all)` : "");
}

/** An empty in-memory Storage with assertion helpers and verifiable URLs. */
export function fake(options: FakeStorageOptions = {}): FakeStorage {
  return new FakeStorage(options);
}
