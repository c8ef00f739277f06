import { fstatSync, statSync } from "node:fs";
import type { Readable } from "node:stream";
import { checkHeaderOptions, checkMetadata } from "@storages/core";
import { parseAddress } from "../address.js";
import { defineCommand } from "../command.js";
import { UsageError } from "../errors.js";
import {
  collect,
  concurrencyOption,
  contentTypeOption,
  linkPolicy,
  metadataOption,
  skipLinksOption,
  visibilityOption,
} from "./options.js";
import { runTransfer, stdinEndpoint } from "./transfer-run.js";

/**
 * Whether stdin is the null device: nothing was piped in. Cron, systemd and `docker run` without
 * -i give a command /dev/null, and Node opens it in place of a closed stdin (`<&-`); reading it is
 * an empty upload that would replace yesterday's backup with nothing.
 */
function stdinIsNullDevice(stdin: Readable): boolean {
  const fd = (stdin as { fd?: unknown }).fd;
  if (typeof fd !== "number") return false; // a pipe, a socket, a script's own stream
  try {
    const stat = fstatSync(fd);
    return stat.isCharacterDevice() && stat.rdev === statSync("/dev/null").rdev;
  } catch {
    return false; // no /dev/null (Windows): nothing to tell apart
  }
}

export const put = defineCommand({
  name: "put",
  arguments: "<src> <dst>",
  summary: "upload a local file, a folder (-r) or stdin (-) to an address",
  description:
    "Uploads SRC (a local file, a local folder with -r, or - for stdin) to DST. Into a folder (NAME:, a trailing /) a file keeps its name; otherwise it takes DST's name. Existing files are replaced, as cp does; with --no-overwrite a taken name gets a fresh suffix instead (the name stored is printed). Streams: memory stays bounded whatever the size. Each file is written completely or not at all, also when interrupted.",
  examples: [
    { command: "storages put photo.jpg default:avatars/", what: "→ default:avatars/photo.jpg" },
    { command: "storages put photo.jpg default:avatars/me.jpg", what: "→ default:avatars/me.jpg" },
    { command: "storages put -r ./build/ staticfiles:", what: "a folder, everything below it" },
    { command: "pg_dump app | storages put - backups:db/today.sql", what: "stdin, streamed" },
    {
      command:
        "storages put --cache-control 'public, max-age=60' --content-type text/csv data.csv default:exports/",
      what: "with headers",
    },
  ],
  configure: (command) =>
    skipLinksOption(
      command
        .option("-r, --recursive", "upload a folder: everything below it, names kept")
        .option("--content-type <type>", "Content-Type of every file (default: from the name's extension)")
        .option("--cache-control <value>", "Cache-Control of every file")
        .option("--visibility <public|private>", "visibility of every file (default: the storage's)")
        .option("--metadata <key=value>", "custom metadata (repeatable)", collect)
        .option("--no-overwrite", "keep existing files: a taken name gets a fresh suffix")
        .option("--concurrency <n>", "files uploaded at once with -r (default 4)", concurrencyOption),
      "the upload",
    ),
  async run(context, [srcText, dstText], options) {
    const src = parseAddress(srcText!);
    if (src.kind === "named" || src.kind === "url") {
      throw new UsageError(
        `put uploads a local file or folder (or - for stdin), and ${srcText} is a storage address: to download it, use storages get ${srcText} …`,
      );
    }
    if (parseAddress(dstText!).kind === "stdio") {
      throw new UsageError(
        "put writes to an address (NAME:path, a storage URL or a local path), not to stdout: use storages cat or get to read.",
      );
    }
    if (src.kind === "stdio" && stdinIsNullDevice(context.stdin)) {
      throw new UsageError(
        `put - uploads what is piped in, and stdin is /dev/null (closed, or a cron job, a service or docker run without -i): nothing was written to ${dstText}. Pipe the data in (pg_dump app | storages put - ${dstText}), or give a file.`,
      );
    }
    const contentType = contentTypeOption(options.contentType);
    const metadata = metadataOption(options.metadata);
    const dst = await context.resolve(dstText!, { write: true });
    // Checked as save() checks them, but once: refused there, a folder would fail file by file.
    for (const [flag, check] of [
      ["--cache-control", () => checkHeaderOptions({ cacheControl: options.cacheControl })],
      ["--metadata", () => checkMetadata(metadata, dst.storage.capabilities)],
    ] as const) {
      try {
        check();
      } catch (error) {
        throw new UsageError(`${flag}: ${(error as Error).message}`);
      }
    }
    // Nothing piped in and a person at the keyboard: without a word it would seem to hang.
    if (src.kind === "stdio" && context.stdin.isTTY === true)
      context.output.note(
        `Reading what you type for ${dst.text}: end it with Ctrl-D on a line of its own (Ctrl-C stops, nothing written). To upload a file, pipe it in or name it.`,
      );
    const source =
      src.kind === "stdio"
        ? stdinEndpoint(context.stdin)
        : await context.resolve(srcText!, { links: linkPolicy(options) });
    return runTransfer(
      context,
      source,
      dst,
      {
        recursive: options.recursive,
        overwrite: options.overwrite,
        contentType,
        cacheControl: options.cacheControl,
        visibility: visibilityOption(options.visibility),
        metadata,
        concurrency: options.concurrency,
      },
      "uploaded",
    );
  },
});
