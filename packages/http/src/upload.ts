/**
 * `handleUpload(request, storage, options)`: a multipart/form-data request streamed straight into a
 * storage — never buffered whole, never written to a temporary file — with every limit enforced
 * while the bytes arrive, the type of each file decided by its content, and all or nothing: on any
 * refusal, stall or disconnect, nothing this request sent stays in the storage.
 *
 * Framework-neutral: it takes a Node `IncomingMessage` (Express and Fastify hand one over: `req`,
 * `request.raw`) and returns a typed result or throws an `UploadError`; the adapters turn that into
 * a response.
 */
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import {
  AlreadyExistsError,
  abortError,
  generateFilename,
  guessContentType,
  InvalidArgumentError,
  releaseStream,
  type Storage,
  splitExtension,
  type UploadTo,
  type Visibility,
  watchIdle,
} from "@storages/core";
import busboy, { type Busboy, type FileInfo } from "busboy";
import pLimit from "p-limit";
import { clientGone } from "./client-gone.js";
import { UploadError } from "./errors.js";
import { notMultipart } from "./not-multipart.js";
import { DEFAULT_ALLOWED_TYPES, isAllowedType, SNIFF_BYTES, type SniffedType, sniffType } from "./sniff.js";

export interface UploadLimits {
  /** Largest file, in bytes. Default 10 MiB. */
  maxFileSize?: number | undefined;
  /** Most files in one request. Default 10. */
  maxFiles?: number | undefined;
  /** Largest request body (files, fields and multipart framing together), in bytes. Default 100 MiB. */
  maxTotalSize?: number | undefined;
  /** Most non-file fields. Default 50. */
  maxFields?: number | undefined;
  /** Largest non-file field value, in bytes. Default 64 KiB. */
  maxFieldSize?: number | undefined;
}

export interface UploadRules extends UploadLimits {
  /**
   * Media types a file may be, decided from its bytes (never from the client's Content-Type or the
   * file name). Exact types or families ("image/*"); active content (SVG, HTML, XML) only when
   * listed exactly. Default: PNG, JPEG, GIF, WebP, AVIF and PDF (`DEFAULT_ALLOWED_TYPES`).
   */
  allowedTypes?: readonly string[] | undefined;
  /** Where files go: a strftime folder template ("avatars/%Y/%m/") or a function of the cleaned name. */
  uploadTo?: UploadTo | undefined;
}

export interface UploadOptions extends UploadRules {
  /** File fields accepted; files in other fields are refused (E_UPLOAD_MALFORMED). Default: any. */
  fileFields?: readonly string[] | undefined;
  /** At least this many files, else E_UPLOAD_MALFORMED. Default 1. */
  minFiles?: number | undefined;
  /**
   * Milliseconds the client may send nothing while the upload waits for its bytes (a stalled or
   * slow-loris client), before E_UPLOAD_TIMEOUT. Default 30 s. 0: off.
   */
  idleTimeout?: number | undefined;
  /** Milliseconds the whole upload may take. Default: none (idleTimeout and the limits bound it). */
  timeout?: number | undefined;
  /** Aborts the upload (nothing is kept). */
  signal?: AbortSignal | undefined;
  /** Saved with each file. */
  visibility?: Visibility | undefined;
  cacheControl?: string | undefined;
  metadata?: Record<string, string> | undefined;
  /**
   * Runs each save, to bound how many run at once across requests (`createSaveLimiter`; the
   * adapters make one per route). Memory is about that many times a driver's buffer per save (S3:
   * `(queueSize + 1) × partSize` for a file larger than one part); a request waiting for a slot is
   * simply not read, so its client is held back by TCP. Default: no limit.
   */
  saveLimiter?: SaveLimiter | undefined;
}

/** Runs a task when a slot is free. */
export type SaveLimiter = <T>(task: () => Promise<T>) => Promise<T>;

/**
 * A slot of `limiter` held for a request from before its body is read until its first save ends
 * (`take` hands it to that save, once) or the request does (`release`, idempotent).
 */
function admit(limiter: SaveLimiter): {
  ready: Promise<void>;
  take(): (() => void) | undefined;
  release(): void;
} {
  let granted!: () => void;
  let release!: () => void;
  const ready = new Promise<void>((resolve) => {
    granted = resolve;
  });
  const done = new Promise<void>((resolve) => {
    release = resolve;
  });
  limiter(() => {
    granted();
    return done;
  }).catch(() => {});
  let taken = false;
  return {
    ready,
    take: () => {
      if (taken) return undefined;
      taken = true;
      return release;
    },
    release: () => release(),
  };
}

/** At most `concurrency` saves at once, for every upload given this limiter. */
export function createSaveLimiter(concurrency: number): SaveLimiter {
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) {
    throw new InvalidArgumentError(`Upload concurrency must be a positive integer, not ${concurrency}.`);
  }
  const limit = pLimit(concurrency);
  return (task) => limit(task);
}

export interface UploadedFile {
  /** The form field the file came in. */
  field: string;
  /** The name it is stored under (cleaned, placed by uploadTo, extension matching its content, made unique). */
  name: string;
  /** The file name the client sent (for display only: never trust it). */
  originalName: string;
  size: number;
  /** The sniffed type the file was stored with. */
  contentType: string;
  etag?: string | undefined;
}

export interface UploadResult {
  files: UploadedFile[];
  /**
   * Non-file fields; a repeated field becomes an array. A null-prototype object: any field name
   * (`__proto__`, `constructor`, `toString`…) is just a key holding what the client sent, never an
   * inherited member. Read it with `Object.hasOwn`, `Object.entries` or a plain lookup.
   */
  fields: Record<string, string | string[]>;
}

export const UPLOAD_DEFAULTS = {
  maxFileSize: 10 * 1024 * 1024,
  maxFiles: 10,
  maxTotalSize: 100 * 1024 * 1024,
  maxFields: 50,
  maxFieldSize: 64 * 1024,
  idleTimeout: 30_000,
} as const;

/** The limits with their defaults, for the handler and for direct uploads alike. */
export function resolveLimits(options: UploadLimits): Required<UploadLimits> {
  const limits = {
    maxFileSize: options.maxFileSize ?? UPLOAD_DEFAULTS.maxFileSize,
    maxFiles: options.maxFiles ?? UPLOAD_DEFAULTS.maxFiles,
    maxTotalSize: options.maxTotalSize ?? UPLOAD_DEFAULTS.maxTotalSize,
    maxFields: options.maxFields ?? UPLOAD_DEFAULTS.maxFields,
    maxFieldSize: options.maxFieldSize ?? UPLOAD_DEFAULTS.maxFieldSize,
  };
  for (const [key, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(
        `Upload option ${key} must be a non-negative integer (bytes or a count), not ${value}.`,
      );
    }
  }
  return limits;
}

const mib = (bytes: number) =>
  bytes >= 1024 * 1024 ? `${+(bytes / 1024 / 1024).toFixed(1)} MiB` : `${bytes} bytes`;

/**
 * The storage name for an untrusted file name: cleaned and placed by uploadTo (core's naming
 * rules), with the extension of what the content really is, so a server that types files by
 * extension (nginx, a CDN) agrees with the stored Content-Type.
 */
export function uploadName(filename: string, sniffed: SniffedType, uploadTo: UploadTo | undefined): string {
  let name: string;
  try {
    name = generateFilename(filename || "upload", { uploadTo });
  } catch (cause) {
    throw new UploadError("E_UPLOAD_MALFORMED", "The file name cannot be made into a valid storage name.", {
      cause,
    });
  }
  if (sniffed.ext === undefined) return name;
  const { root, ext } = splitExtension(name);
  const same = ext !== "" && guessContentType(name).split(";")[0] === sniffed.mime;
  return same ? name : `${root}.${sniffed.ext}`;
}

/** Refuses a sniffed type that is not allowed, with a message that names it. */
export function checkType(sniffed: SniffedType, allowed: readonly string[], filename: string): void {
  // The client's name, echoed back: at most its first 100 characters, as in every refusal.
  const shown = JSON.stringify(filename.slice(0, 100));
  if (sniffed.mime === "application/x-empty") {
    throw new UploadError("E_UPLOAD_TYPE", `The file ${shown} is empty.`);
  }
  if (!isAllowedType(sniffed.mime, allowed)) {
    throw new UploadError(
      "E_UPLOAD_TYPE",
      `The file ${shown} is ${sniffed.mime} (judged by its content, not its name); allowed: ${allowed.join(", ")}.`,
    );
  }
}

/**
 * Reads from `stream` until `bytes` are in or it ends, and gives back what it read: the head, and
 * whether that was all of it. When it was not, the head is put back (`unshift`), so the stream
 * itself goes on to the storage — no extra stage, its backpressure intact.
 */
function peek(stream: Readable, bytes: number): Promise<{ head: Buffer; ended: boolean }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const settle = (error: Error | undefined, ended = false) => {
      stream.off("readable", onReadable);
      stream.off("end", onEnd);
      stream.off("error", onError);
      stream.off("close", onClose);
      if (error) return reject(error);
      const head = Buffer.concat(chunks);
      if (!ended) stream.unshift(head);
      resolve({ head, ended });
    };
    const onReadable = () => {
      for (;;) {
        const chunk = stream.read() as Buffer | null;
        if (chunk === null) return;
        chunks.push(chunk);
        length += chunk.length;
        if (length >= bytes) return settle(undefined);
      }
    };
    const onEnd = () => settle(undefined, true);
    const onError = (error: Error) => settle(error);
    const onClose = () => settle(new Error("The file stream closed before its end."));
    stream.on("readable", onReadable);
    stream.once("end", onEnd);
    stream.once("error", onError);
    stream.once("close", onClose);
  });
}

function multipartParser(request: IncomingMessage, limits: Required<UploadLimits>): Busboy {
  try {
    // Busboy's size and parts limits trip on reaching their number (a file of exactly fileSize
    // bytes is "truncated"), ours on passing it: one more each, so what is at a limit is accepted.
    // Its files and fields limits already count the part past the limit.
    return busboy({
      headers: request.headers,
      // Browsers send a file name as UTF-8 bytes (HTML's form-data encoding), not in RFC 2231's
      // filename*; busboy's default reads such bytes as Latin-1, which garbles any non-ASCII name.
      defParamCharset: "utf8",
      limits: {
        fileSize: limits.maxFileSize + 1,
        files: limits.maxFiles,
        fields: limits.maxFields,
        fieldSize: limits.maxFieldSize + 1,
        fieldNameSize: 200,
        parts: limits.maxFiles + limits.maxFields + 1,
      },
    });
  } catch (cause) {
    throw notMultipart(cause);
  }
}

/**
 * Streams every file of a multipart request into `storage`, enforcing `options`; returns what was
 * stored, or throws an `UploadError` after removing everything this request stored.
 */
export async function handleUpload(
  request: IncomingMessage,
  storage: Storage,
  options: UploadOptions = {},
): Promise<UploadResult> {
  const limits = resolveLimits(options);
  const allowed = options.allowedTypes ?? DEFAULT_ALLOWED_TYPES;
  const minFiles = options.minFiles ?? 1;
  const idleTimeout = options.idleTimeout ?? UPLOAD_DEFAULTS.idleTimeout;

  const declared = Number(request.headers["content-length"]);
  if (Number.isFinite(declared) && declared > limits.maxTotalSize) {
    throw new UploadError(
      "E_UPLOAD_TOO_LARGE",
      `The request is ${mib(declared)}; the limit is ${mib(limits.maxTotalSize)}.`,
    );
  }
  const parser = multipartParser(request, limits);

  // One controller for the upload: a refusal, the caller's signal or the overall timeout stop it.
  if (options.signal?.aborted) throw abortError(options.signal);
  const controller = new AbortController();

  // Field names are the client's: a null prototype, so `__proto__` or `constructor` are plain keys.
  const result: UploadResult = { files: [], fields: Object.create(null) as UploadResult["fields"] };
  const stored: string[] = [];
  const saves: Promise<void>[] = [];
  let failure: unknown;
  let received = 0;
  let fileCount = 0;

  // In-flight files and the bodies their saves read. A refusal errors the bodies rather than
  // aborting the saves: a driver whose body fails stores nothing (the conformance suite proves it),
  // and a save that had already committed still reports its name, which is then removed. An
  // aborted save could settle before its driver finished and leave a file nobody knows about.
  const streams = new Set<Readable>();
  const fail = (error: unknown) => {
    if (failure !== undefined) return;
    failure = error;
    controller.abort(error);
    for (const stream of streams) releaseStream(stream, error instanceof Error ? error : undefined);
  };

  const onCallerAbort = () => fail(abortError(options.signal!));
  options.signal?.addEventListener("abort", onCallerAbort, { once: true });
  // A deadline for the whole upload (idleTimeout only catches a client that stops altogether).
  const deadline =
    options.timeout === undefined
      ? undefined
      : setTimeout(
          () =>
            fail(
              new UploadError(
                "E_UPLOAD_TIMEOUT",
                `The upload took longer than ${options.timeout} ms; send smaller files or raise timeout.`,
              ),
            ),
          options.timeout,
        );

  const stopWatching =
    idleTimeout > 0
      ? watchIdle(request, idleTimeout, (cause) =>
          fail(
            new UploadError(
              "E_UPLOAD_TIMEOUT",
              `The client sent nothing for ${idleTimeout} ms in the middle of the upload; the upload was dropped.`,
              { cause },
            ),
          ),
        )
      : () => {};

  const onData = (chunk: Buffer) => {
    received += chunk.length;
    if (received > limits.maxTotalSize) {
      fail(new UploadError("E_UPLOAD_TOO_LARGE", `The request is over ${mib(limits.maxTotalSize)}.`));
    }
  };
  const onClose = () => {
    if (clientGone(request)) {
      fail(new UploadError("E_UPLOAD_ABORTED", "The client closed the connection before the upload ended."));
    }
  };
  // Not "data" yet: a data listener starts the flow, and nothing may flow before the parser is piped.
  request.on("close", onClose);
  request.on("error", onClose);

  // With a limiter, the request waits for its first save's slot before its body is read: waiting,
  // it holds only what Node's HTTP parser buffered for it (~130 KiB), not also busboy's buffers,
  // the file stream's and the sniffed head (~260 KiB in all, measured: 100 uploads queued behind 8
  // slots held ~12 MiB more). Its client is held back by TCP either way.
  const admission = options.saveLimiter ? admit(options.saveLimiter) : undefined;

  // Files in the order the request sent them, whatever order their saves finish in.
  const ordered: UploadedFile[] = [];
  const store = async (
    index: number,
    field: string,
    file: Readable & { truncated?: boolean },
    info: FileInfo,
  ) => {
    const originalName = info.filename ?? "";
    let tooLarge = false;
    file.once("limit", () => {
      tooLarge = true;
      fail(
        new UploadError(
          "E_UPLOAD_TOO_LARGE",
          `The file ${JSON.stringify(originalName.slice(0, 100))} is over ${mib(limits.maxFileSize)}.`,
        ),
      );
    });
    streams.add(file);
    try {
      const { head, ended } = await peek(file, SNIFF_BYTES);
      if (failure !== undefined) return;
      const sniffed = await sniffType(head);
      checkType(sniffed, allowed, originalName);
      const name = uploadName(originalName, sniffed, options.uploadTo);
      // A file that fit in the peek is already in memory: saved as bytes (the drivers' fast path).
      const body: Readable | Buffer = ended ? head : file;
      if (failure !== undefined) return;
      const save = () => {
        // A refusal while this save waited for its slot: its body is already errored, skip it.
        if (failure !== undefined) throw failure;
        return storage.save(name, body, {
          contentType: sniffed.mime,
          overwrite: false,
          visibility: options.visibility,
          cacheControl: options.cacheControl,
          metadata: options.metadata,
        });
      };
      const admitted = admission?.take();
      const saved = await (admitted
        ? save().finally(admitted)
        : options.saveLimiter
          ? waitForSlot(options.saveLimiter, save)
          : save());
      stored.push(saved.name);
      if (tooLarge || file.truncated) return; // refused: the name is removed with the rest below
      ordered[index] = {
        field,
        name: saved.name,
        originalName,
        size: saved.size,
        contentType: sniffed.mime,
        etag: saved.etag,
      };
    } catch (error) {
      // A save cut by our own refusal says nothing new: the reason is already recorded.
      if (failure === undefined && AlreadyExistsError.isInstance(error)) {
        fail(
          new UploadError(
            "E_UPLOAD_CONFLICT",
            `Another upload took the name of ${JSON.stringify(originalName.slice(0, 100))} at the same moment; send the file again.`,
            { cause: error, retryable: true },
          ),
        );
      }
      fail(error);
    } finally {
      streams.delete(file);
      // Whatever was not read (a refused file) is drained so the parser can move on or stop.
      if (!file.destroyed) file.resume();
    }
  };

  /**
   * Rejects with the failure once the upload is refused (a disconnect, the caller's signal, the
   * deadline) — unless `settled()` says the awaited step no longer depends on it. Never unhandled.
   */
  const refusal = (settled: () => boolean = () => false) => {
    const refused = new Promise<never>((_, reject) => {
      const onAbort = () => {
        if (!settled()) reject(failure);
      };
      if (controller.signal.aborted) onAbort();
      else controller.signal.addEventListener("abort", onAbort, { once: true });
    });
    refused.catch(() => {});
    return refused;
  };

  /**
   * A save through the limiter: a refusal while it still waits for its slot answers at once (the
   * task, when its turn comes, sees the refusal and does nothing); once it has started, its own
   * outcome is awaited, so a name it committed is known and removed.
   */
  const waitForSlot = <T>(limiter: SaveLimiter, task: () => Promise<T>): Promise<T> => {
    let started = false;
    const queued = limiter(() => {
      started = true;
      return task();
    });
    queued.catch(() => {});
    return Promise.race([queued, refusal(() => started)]);
  };

  const parsed = new Promise<void>((resolve) => {
    parser.on("file", (field, file, info) => {
      fileCount++;
      // The parser errors a file it is cut off in (a refusal, a disconnect) even when nobody reads
      // it any more: that must never be an unhandled 'error'. Readers see errors through `fail`.
      file.on("error", () => {});
      if (failure !== undefined) {
        file.resume();
        return;
      }
      if (options.fileFields && !options.fileFields.includes(field)) {
        file.resume();
        fail(
          new UploadError(
            "E_UPLOAD_MALFORMED",
            `Files are accepted in ${options.fileFields.map((f) => JSON.stringify(f)).join(", ")} only, not in ${JSON.stringify(field.slice(0, 100))}.`,
          ),
        );
        return;
      }
      saves.push(store(fileCount - 1, field, file, info));
    });
    parser.on("field", (name, value, info) => {
      if (info.nameTruncated || info.valueTruncated) {
        fail(
          new UploadError(
            "E_UPLOAD_FIELD_TOO_LARGE",
            `The field ${JSON.stringify(name.slice(0, 100))} is over ${mib(limits.maxFieldSize)}.`,
          ),
        );
        return;
      }
      const { fields } = result;
      const existing = Object.hasOwn(fields, name) ? fields[name] : undefined;
      if (existing === undefined) fields[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else fields[name] = [existing, value];
    });
    parser.on("filesLimit", () =>
      fail(new UploadError("E_UPLOAD_TOO_MANY_FILES", `At most ${limits.maxFiles} files per upload.`)),
    );
    parser.on("fieldsLimit", () =>
      fail(new UploadError("E_UPLOAD_TOO_MANY_FIELDS", `At most ${limits.maxFields} fields per upload.`)),
    );
    parser.on("partsLimit", () =>
      fail(
        new UploadError(
          "E_UPLOAD_TOO_MANY_FIELDS",
          `At most ${limits.maxFiles + limits.maxFields} parts per upload.`,
        ),
      ),
    );
    parser.on("error", (cause: unknown) => {
      // Busboy errors as soon as it meets a bad part (a NUL in a header, a header over its limit),
      // long before the request is complete: only a client that really went away is an abort.
      fail(
        clientGone(request)
          ? new UploadError("E_UPLOAD_ABORTED", "The client closed the connection before the upload ended.", {
              cause,
            })
          : new UploadError("E_UPLOAD_MALFORMED", "The multipart body is malformed.", { cause }),
      );
      resolve();
    });
    parser.on("close", resolve);
    controller.signal.addEventListener(
      "abort",
      () => {
        // Stop reading: the request is refused; the adapter answers and closes the connection.
        request.unpipe(parser);
        releaseStream(parser as unknown as Readable);
        resolve();
      },
      { once: true },
    );
  });

  try {
    if (admission) await Promise.race([admission.ready, refusal()]);
    request.on("data", onData);
    request.pipe(parser);
    await parsed;
    // A file stream ends when the parser reaches the file's end, so saves may still be finishing.
    await Promise.all(saves);
    if (failure === undefined && fileCount < minFiles) {
      fail(
        new UploadError(
          "E_UPLOAD_MALFORMED",
          minFiles === 1 ? "The form holds no file." : `At least ${minFiles} files are needed.`,
        ),
      );
    }
  } catch (error) {
    // Refused while waiting to be admitted: the reason is the failure, thrown below.
    if (failure === undefined) throw error;
  } finally {
    admission?.release();
    stopWatching();
    clearTimeout(deadline);
    options.signal?.removeEventListener("abort", onCallerAbort);
    request.off("data", onData);
    request.off("close", onClose);
    request.off("error", onClose);
  }
  if (failure !== undefined) {
    await Promise.allSettled(saves);
    // All or nothing: a refused request keeps none of its files.
    if (stored.length > 0) await storage.deleteMany(stored).catch(() => {});
    throw failure;
  }
  result.files = ordered.filter(Boolean);
  return result;
}
