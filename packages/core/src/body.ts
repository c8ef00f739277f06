/**
 * Input conversion (everything `save()` accepts → one Node Readable) and the read-side helpers.
 */
import { close, open, read } from "node:fs";
import { Readable } from "node:stream";
import type { ReadableStream as NodeWebReadableStream } from "node:stream/web";
import { InvalidArgumentError } from "./errors.js";
import type { BodyInput } from "./types.js";

export interface BodySource {
  /** A stream of the body: a fresh one each call when `replayable`, else the same one while `canResend()`. */
  stream(): Readable;
  /** The body can be streamed again (it is in memory or a Blob): a save can be retried. */
  replayable: boolean;
  /** Whether a failed send can be retried: replayable, or a stream nothing has read from yet. */
  canResend(): boolean;
  /** Known size in bytes, if any. */
  size?: number | undefined;
  /** The whole body, when it is in memory. */
  bytes?: Uint8Array | undefined;
}

/** A body in memory: sent as often as needed. A class, so a save allocates no closures for it. */
class BytesSource implements BodySource {
  readonly replayable = true;
  readonly size: number;
  readonly bytes: Buffer;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
    this.size = bytes.byteLength;
  }

  canResend(): boolean {
    return true;
  }

  stream(): Readable {
    // objectMode false: drivers and pipes see ordinary byte chunks; an empty buffer simply ends.
    return Readable.from(this.size === 0 ? [] : [this.bytes], { objectMode: false });
  }
}

function fromBytes(bytes: Uint8Array): BodySource {
  return new BytesSource(
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
  );
}

function isNodeReadable(value: unknown): value is NodeJS.ReadableStream {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as NodeJS.ReadableStream).pipe === "function" &&
    typeof (value as NodeJS.ReadableStream).on === "function"
  );
}

function isWebReadable(value: unknown): value is ReadableStream<Uint8Array> {
  return (
    typeof value === "object" && value !== null && typeof (value as ReadableStream).getReader === "function"
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array | string> {
  return typeof value === "object" && value !== null && Symbol.asyncIterator in value;
}

function toChunk(chunk: unknown): Uint8Array {
  if (typeof chunk === "string") return Buffer.from(chunk, "utf8");
  if (chunk instanceof Uint8Array) return chunk;
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  throw new InvalidArgumentError(
    `The body stream yielded a ${chunk === null ? "null" : typeof chunk}; streams must yield bytes (Uint8Array/Buffer) or strings.`,
  );
}

/**
 * A byte stream over any async iterable. Unlike `Readable.from(generator)`, destroying it (abort,
 * timeout) does not wait for the source: a stalled source would otherwise hold the save open
 * until it produced its next chunk.
 */
function iterableToReadable(iterable: AsyncIterable<unknown>): Readable {
  const iterator = iterable[Symbol.asyncIterator]();
  let pending = false;
  return new Readable({
    read() {
      if (pending) return;
      pending = true;
      iterator.next().then(
        ({ value, done }) => {
          pending = false;
          if (done) this.push(null);
          else if (!this.destroyed) {
            try {
              this.push(toChunk(value));
            } catch (error) {
              this.destroy(error as Error);
            }
          }
        },
        (error: unknown) => {
          pending = false;
          this.destroy(error instanceof Error ? error : new Error(String(error)));
        },
      );
    },
    destroy(error, callback) {
      iterator.return?.()?.catch(() => {});
      callback(error);
    },
  });
}

function oneShot(make: () => Readable): BodySource {
  let made: Readable | undefined;
  // A stream nobody has read from yet (the service refused before taking any byte) can still be sent.
  const untouched = () => made === undefined || (!made.readableDidRead && !made.destroyed);
  return {
    replayable: false,
    canResend: untouched,
    stream: () => {
      if (!untouched())
        throw new InvalidArgumentError("This body is a stream and has already been consumed.");
      made ??= make();
      return made;
    },
  };
}

const LOCAL_FILE = Symbol.for("@storages/core.localFile");

/**
 * A local file as a body: `storage.save(name, localFile(path))`. Nothing is opened until the body
 * is read, so a driver that copies a file by its path (the fs driver: a kernel copy) never opens
 * it for nothing; and a failed attempt is sent again from the file, where a stream cannot be.
 */
export class LocalFile {
  readonly path: string;
  readonly [LOCAL_FILE] = true;

  constructor(path: string) {
    if (typeof path !== "string" || path === "")
      throw new InvalidArgumentError("localFile(path) needs the path of a local file.");
    this.path = path;
  }
}

/**
 * A `localFile()` body (or a driver's kernel copy of one) that cannot be read: the caller's input,
 * not the storage's fault, so it says which file and what the system answered — never the key's
 * "not found", which would blame the destination.
 */
export function unreadableLocalFile(path: string, cause: unknown): InvalidArgumentError {
  const code = (cause as NodeJS.ErrnoException | undefined)?.code;
  return new InvalidArgumentError(
    `The body's local file ${JSON.stringify(path)} cannot be read${code ? ` (${code})` : ""}: pass the path of an existing, readable file.`,
    { cause },
  );
}

/** The body of a local file (see LocalFile). */
export function localFile(path: string): LocalFile {
  return new LocalFile(path);
}

function isLocalFile(value: unknown): value is LocalFile {
  // Branded, not only instanceof: a LocalFile made by another copy of core is one too.
  return typeof value === "object" && value !== null && (value as LocalFile)[LOCAL_FILE] === true;
}

/** Bytes read per chunk: Node's file-stream default. */
const LOCAL_FILE_CHUNK = 64 * 1024;

/** A stream of a local file that opens it on its first read; until then its path is all it is. */
class LocalFileStream extends Readable {
  readonly [LOCAL_FILE] = true;
  readonly path: string;
  private fd: number | undefined;
  /** Asked for data once: opening or open. */
  started = false;

  constructor(path: string) {
    super();
    this.path = path;
  }

  override _read(): void {
    this.started = true;
    if (this.fd === undefined) {
      open(this.path, "r", (error, fd) => {
        if (error) return this.destroy(unreadableLocalFile(this.path, error));
        if (this.destroyed) return close(fd, () => {});
        this.fd = fd;
        this._read();
      });
      return;
    }
    const buffer = Buffer.allocUnsafe(LOCAL_FILE_CHUNK);
    read(this.fd, buffer, 0, LOCAL_FILE_CHUNK, null, (error, bytesRead) => {
      if (error) return this.destroy(unreadableLocalFile(this.path, error));
      this.push(bytesRead === 0 ? null : buffer.subarray(0, bytesRead));
    });
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const fd = this.fd;
    this.fd = undefined;
    if (fd === undefined) callback(error);
    else close(fd, () => callback(error));
  }
}

/**
 * The path of a local-file body (`localFile()`) nothing has read or opened yet: a driver that can
 * copy the file by its path does so, then destroys the stream unread.
 */
export function unreadLocalFile(body: Readable): string | undefined {
  if ((body as Partial<LocalFileStream>)[LOCAL_FILE] !== true) return undefined;
  const stream = body as LocalFileStream;
  return stream.started || stream.readableDidRead || stream.destroyed ? undefined : stream.path;
}

/** Converts any supported body into a BodySource; anything else is an InvalidArgumentError. */
export function toBodySource(input: BodyInput): BodySource {
  if (typeof input === "string") return fromBytes(Buffer.from(input, "utf8"));
  if (input instanceof Uint8Array) return fromBytes(input);
  if (input instanceof ArrayBuffer) return fromBytes(new Uint8Array(input));
  if (ArrayBuffer.isView(input)) {
    const view = input as ArrayBufferView;
    return fromBytes(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }
  if (isLocalFile(input)) {
    const { path } = input;
    return { replayable: true, canResend: () => true, stream: () => new LocalFileStream(path) };
  }
  if (typeof Blob !== "undefined" && input instanceof Blob) {
    const blob = input;
    return {
      replayable: true,
      canResend: () => true,
      size: blob.size,
      stream: () => Readable.fromWeb(blob.stream() as unknown as NodeWebReadableStream<Uint8Array>),
    };
  }
  if (input instanceof Readable) {
    // From here the facade owns the stream, but may await the backend (a name check) before any
    // consumer is attached: an error the stream emits meanwhile (an fs stream whose file is
    // missing) must not crash the process as unhandled. It stays recorded on the stream
    // (`errored`), so the write that consumes it still fails with it.
    input.on("error", () => {});
    // Object-mode streams (Readable.from(["a", "b"])) would hand drivers strings: normalise them.
    return oneShot(() => (input.readableObjectMode ? iterableToReadable(input) : input));
  }
  if (isNodeReadable(input)) {
    return oneShot(() => iterableToReadable(input as unknown as AsyncIterable<unknown>));
  }
  if (isWebReadable(input)) {
    // Node's web streams are async iterables; reading them directly keeps abort prompt.
    return oneShot(() => iterableToReadable(input as unknown as AsyncIterable<unknown>));
  }
  if (isAsyncIterable(input)) {
    return oneShot(() => iterableToReadable(input));
  }
  throw new InvalidArgumentError(
    `Unsupported body type (${input === null ? "null" : typeof input}). Pass a string, Uint8Array/Buffer, ArrayBuffer, Blob, localFile(path), Node Readable, web ReadableStream or AsyncIterable of bytes.`,
  );
}

/**
 * Reads a byte stream chunk by chunk, exactly as the producer pushed them: resolves with the next
 * chunk, or undefined at the end; rejects with the stream's error (or a premature close). Calls
 * must not overlap.
 *
 * Not the stream's async iterator: that calls `read()`, which concatenates every buffered chunk
 * into a new Buffer — when the producer pushes synchronously (as soon as one chunk is taken), that
 * is a copy of the whole body, and the garbage is what drives an upload's peak RSS (measured on a
 * 1 GiB Azure upload with 8 MiB blocks: ~168 MB for the process with the iterator, ~128 MB this way).
 * Uploaders that copy chunks into reused part buffers read through this.
 */
export function chunkReader(body: Readable): () => Promise<Buffer | undefined> {
  const queue: Buffer[] = [];
  let ended = false;
  let failed: { error: unknown } | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  body.on("data", (chunk: unknown) => {
    try {
      const bytes = toChunk(chunk);
      queue.push(
        Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
      body.pause();
    } catch (error) {
      failed ??= { error };
      body.destroy(error as Error);
    }
    notify();
  });
  body.once("end", () => {
    ended = true;
    notify();
  });
  body.once("error", (error) => {
    failed ??= { error };
    notify();
  });
  body.once("close", () => {
    if (!ended)
      failed ??= {
        error: Object.assign(new Error("The body stream closed before its end."), {
          code: "ERR_STREAM_PREMATURE_CLOSE",
        }),
      };
    notify();
  });
  // A stream that already finished (read by someone else, or failed) emits nothing more: waiting for
  // its events would wait forever.
  if (body.readableEnded) ended = true;
  else if (body.errored) failed = { error: body.errored };
  else if (body.destroyed) {
    failed = {
      error: Object.assign(new Error("The body stream was destroyed before it was read."), {
        code: "ERR_STREAM_PREMATURE_CLOSE",
      }),
    };
  }
  body.pause();
  return async () => {
    for (;;) {
      const chunk = queue.shift();
      if (chunk) return chunk;
      if (failed) throw failed.error;
      if (ended) return undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        body.resume();
      });
    }
  };
}

/** What `open()` returns: the Node Readable itself (no copy), with helpers. */
export type ReadStream = Readable & {
  /** Reads the rest of the stream into one Buffer. */
  bytes(): Promise<Buffer>;
  /** Reads the rest of the stream as UTF-8 text. */
  text(): Promise<string>;
  /** The same data as a web ReadableStream (for fetch Response bodies and edge runtimes). */
  toWeb(): ReadableStream<Uint8Array>;
};

export async function collectBytes(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) {
    chunks.push(typeof chunk === "string" ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array));
  }
  return Buffer.concat(chunks);
}

export function asReadStream(stream: Readable): ReadStream {
  const augmented = stream as ReadStream;
  augmented.bytes = () => collectBytes(stream);
  augmented.text = async () => (await collectBytes(stream)).toString("utf8");
  augmented.toWeb = () => Readable.toWeb(stream) as unknown as ReadableStream<Uint8Array>;
  return augmented;
}
