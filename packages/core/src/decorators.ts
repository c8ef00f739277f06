/**
 * Decorators: a Storage built over another storage's driver, so the facade's rules apply once.
 *
 * - `readOnly(storage)`: what application processes get for static files — they can read and
 *   build URLs, never write (an app able to rewrite its own JavaScript is one exploit away from
 *   serving it to every user).
 * - `prefixed(storage, "media/")`: a storage confined to a directory of another one.
 */
import type { Readable } from "node:stream";
import { ReadOnlyError, StorageError } from "./errors.js";
import { joinUrl, normalizePrefix } from "./path.js";
import { Storage } from "./storage.js";
import type {
  BackendDescription,
  Driver,
  DriverCallOptions,
  DriverCopyOptions,
  DriverListOptions,
  DriverReadOptions,
  DriverSignedUploadOptions,
  DriverSignedUrlOptions,
  DriverWriteOptions,
  ListPage,
  Visibility,
} from "./types.js";

function refuse(operation: string, key?: string): never {
  throw new ReadOnlyError(
    `This storage is read-only (${operation} refused). Static files are written at deploy time through the writer storage, not by the application.`,
    { path: key },
  );
}

/** Wraps a driver so every write throws ReadOnlyError; reads and URLs pass through. */
export class ReadOnlyDriver implements Driver {
  readonly backend: string;
  readonly capabilities: Driver["capabilities"];
  readonly defaultVisibility: Visibility | undefined;
  readonly readOnly = true;

  constructor(readonly inner: Driver) {
    this.backend = inner.backend;
    this.capabilities = inner.capabilities;
    this.defaultVisibility = inner.defaultVisibility;
    if (inner.publicUrl) this.publicUrl = (key) => inner.publicUrl!(key);
    if (inner.signedUrl) this.signedUrl = (key, options) => inner.signedUrl!(key, options);
    if (inner.exists) this.exists = (key, options) => inner.exists!(key, options);
    if (inner.getVisibility) this.getVisibility = (key, options) => inner.getVisibility!(key, options);
    if (inner.describe) this.describe = () => inner.describe!();
    if (inner.readBytes) this.readBytes = (key, options) => inner.readBytes!(key, options);
    if (inner.dataProtection) this.dataProtection = (options) => inner.dataProtection!(options);
    // No path(): a local path is a way around the refusals below.
  }

  readBytes?: Driver["readBytes"];
  dataProtection?: Driver["dataProtection"];
  publicUrl?: (key: string) => string;
  signedUrl?: (key: string, options: DriverSignedUrlOptions) => Promise<string>;
  exists?: (key: string, options: DriverCallOptions) => Promise<boolean>;
  getVisibility?: (key: string, options: DriverCallOptions) => Promise<Visibility>;
  describe?: () => BackendDescription;

  read(key: string, options: DriverReadOptions): Promise<Readable> {
    return this.inner.read(key, options);
  }
  stat(key: string, options: DriverCallOptions) {
    return this.inner.stat(key, options);
  }
  listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    return this.inner.listPage(prefix, options);
  }
  // The body is left alone: it belongs to the caller (often an HTTP request still to be answered).
  async write(key: string): Promise<never> {
    refuse("save", key);
  }
  async delete(key: string): Promise<never> {
    refuse("delete", key);
  }
  async deleteMany(): Promise<never> {
    refuse("deleteMany");
  }
  async copy(_from: string, to: string): Promise<never> {
    refuse("copy", to);
  }
  async move(from: string): Promise<never> {
    refuse("move", from);
  }
  async setVisibility(key: string): Promise<never> {
    refuse("setVisibility", key);
  }
  async signedUpload(key: string): Promise<never> {
    refuse("signedUpload", key);
  }
  // close() is deliberately absent: the read-only view does not own the writer's connections.
}

/** A read-only view of a storage: same files, same URLs, every write refused with ReadOnlyError. */
export function readOnly(storage: Storage): Storage {
  return new Storage(new ReadOnlyDriver(storage.driver), storage.options);
}

/** Confines a driver to a directory of another: keys gain the prefix, listed names lose it. */
export class PrefixedDriver implements Driver {
  readonly backend: string;
  readonly capabilities: Driver["capabilities"];
  readonly defaultVisibility: Visibility | undefined;

  constructor(
    readonly inner: Driver,
    readonly prefix: string,
  ) {
    this.backend = inner.backend;
    this.capabilities = inner.capabilities;
    this.defaultVisibility = inner.defaultVisibility;
    const k = (key: string) => prefix + key;
    // Errors name the inner key: callers must see their own name, never the prefix above it.
    for (const method of ["write", "read", "stat", "listPage", "delete"] as const) {
      const own = this[method] as (...args: unknown[]) => Promise<unknown>;
      (this as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
        own.apply(this, args).catch((error: unknown) => {
          throw this.#unprefixed(error);
        });
    }
    const fix = <T>(work: Promise<T>): Promise<T> =>
      work.catch((error: unknown) => {
        throw this.#unprefixed(error);
      });
    if (inner.publicUrl) this.publicUrl = (key) => inner.publicUrl!(k(key));
    if (inner.signedUrl) this.signedUrl = (key, options) => fix(inner.signedUrl!(k(key), options));
    if (inner.signedUpload) this.signedUpload = (key, options) => fix(inner.signedUpload!(k(key), options));
    if (inner.exists) this.exists = (key, options) => fix(inner.exists!(k(key), options));
    if (inner.copy) this.copy = (from, to, options) => fix(inner.copy!(k(from), k(to), options));
    if (inner.move) this.move = (from, to, options) => fix(inner.move!(k(from), k(to), options));
    if (inner.setVisibility)
      this.setVisibility = (key, v, options) => fix(inner.setVisibility!(k(key), v, options));
    if (inner.getVisibility)
      this.getVisibility = (key, options) => fix(inner.getVisibility!(k(key), options));
    if (inner.path) this.path = (key) => inner.path!(k(key));
    if (inner.readBytes) this.readBytes = (key, options) => fix(inner.readBytes!(k(key), options));
    if (inner.writeBytes) {
      this.writeBytes = async (key, bytes, options) => {
        const result = await fix(inner.writeBytes!(k(key), bytes, this.#innerWriteOptions(options)));
        return { ...result, key: result.key.slice(prefix.length) };
      };
    }
    if (inner.describe) {
      this.describe = () => {
        const d = inner.describe!();
        return { ...d, location: `${d.location} (under ${prefix})`, settings: { ...d.settings, prefix } };
      };
    }
    if (inner.flush) this.flush = (options) => fix(inner.flush!(options));
    if (inner.dataProtection) this.dataProtection = (options) => fix(inner.dataProtection!(options));
    if (inner.deleteMany) {
      this.deleteMany = async (keys, options) => {
        const result = await inner.deleteMany!(keys.map(k), options);
        return { failures: result.failures.map((f) => ({ ...f, key: f.key.slice(prefix.length) })) };
      };
    }
  }

  publicUrl?: (key: string) => string;
  signedUrl?: (key: string, options: DriverSignedUrlOptions) => Promise<string>;
  signedUpload?: Driver["signedUpload"];
  exists?: (key: string, options: DriverCallOptions) => Promise<boolean>;
  copy?: (from: string, to: string, options: DriverCopyOptions) => Promise<void>;
  move?: (from: string, to: string, options: DriverCopyOptions) => Promise<void>;
  setVisibility?: (key: string, visibility: Visibility, options: DriverCallOptions) => Promise<void>;
  getVisibility?: (key: string, options: DriverCallOptions) => Promise<Visibility>;
  deleteMany?: Driver["deleteMany"];
  path?: (key: string) => string;
  describe?: () => BackendDescription;
  readBytes?: Driver["readBytes"];
  writeBytes?: Driver["writeBytes"];
  flush?: Driver["flush"];
  dataProtection?: Driver["dataProtection"];

  #innerWriteOptions(options: DriverWriteOptions): DriverWriteOptions {
    const { nextKey } = options;
    return { ...options, nextKey: nextKey && (() => this.prefix + nextKey()) };
  }

  #unprefixed(error: unknown): unknown {
    if (StorageError.isInstance(error) && error.path?.startsWith(this.prefix)) {
      error.path = error.path.slice(this.prefix.length);
    }
    return error;
  }

  async write(key: string, body: Readable, options: DriverWriteOptions) {
    const result = await this.inner.write(this.prefix + key, body, this.#innerWriteOptions(options));
    return { ...result, key: result.key.slice(this.prefix.length) };
  }
  read(key: string, options: DriverReadOptions) {
    return this.inner.read(this.prefix + key, options);
  }
  async stat(key: string, options: DriverCallOptions) {
    const stat = await this.inner.stat(this.prefix + key, options);
    return { ...stat, name: key };
  }
  async listPage(prefix: string, options: DriverListOptions): Promise<ListPage> {
    const page = await this.inner.listPage(this.prefix + prefix, options);
    return {
      ...page,
      entries: page.entries.map((entry) => ({ ...entry, name: entry.name.slice(this.prefix.length) })),
    };
  }
  delete(key: string, options: DriverCallOptions) {
    return this.inner.delete(this.prefix + key, options);
  }
  close() {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

/** A storage confined to `prefix` ("media/") of another storage. */
export function prefixed(storage: Storage, prefix: string): Storage {
  const dir = normalizePrefix(prefix);
  if (dir === "") return storage;
  return new Storage(new PrefixedDriver(storage.driver, dir), {
    ...storage.options,
    publicUrl: storage.publicBaseUrl === undefined ? undefined : joinUrl(storage.publicBaseUrl, dir),
  });
}

/** Unused-argument helper types keep the decorator signatures aligned with the Driver contract. */
export type { DriverSignedUploadOptions };
