/**
 * What copy, sync and verify share: their options, resolving SRC and DST as folders, running the
 * library function of @storages/migrate with a progress bar, and the report — a summary line (or
 * one JSON document with --json), every failure on stderr, and the exit code: 0 when the
 * destination matches the source and nothing failed, 1 for any missing, different or failed file
 * or a listing that failed part-way (the summary then counts what was done before),
 * 2 for a usage or configuration error, 130 when interrupted.
 */
import { printableName } from "@storages/core";
import type { MigrationOptions, MigrationResult, OverwritePolicy } from "@storages/migrate";
import { type Command, InvalidArgumentError } from "commander";
import type { Location } from "../address.js";
import { parseAddress, refuseFilesystemRoot } from "../address.js";
import type { CommandContext } from "../command.js";
import { EXIT, type ExitCode, UsageError } from "../errors.js";
import { count, formatBytes } from "../format.js";
import { capYoungGeneration } from "../young-generation.js";
import { collect, concurrencyOption, linkPolicy, nonNegativeInteger, skipLinksOption } from "./options.js";

export type MigrationCommand = "copy" | "sync" | "verify";

/** `--shard K/N`: K from 1 to N (the library's index is K - 1). */
export function shardOption(value: string): { index: number; count: number } {
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const k = Number(match?.[1]);
  const n = Number(match?.[2]);
  if (!match || !Number.isSafeInteger(n) || n < 1 || k < 1 || k > n)
    throw new InvalidArgumentError("write K/N with 1 <= K <= N, e.g. --shard 2/4 (worker 2 of 4).");
  return { index: k - 1, count: n };
}

function overwriteOption(value: string): OverwritePolicy {
  if (value === "never" || value === "if-different" || value === "always") return value;
  throw new InvalidArgumentError('use "never", "if-different" (the default) or "always".');
}

/** The options every migration command takes (sync adds --max-delete, verify drops the write ones). */
export function configureMigration(command: Command, name: MigrationCommand): void {
  command
    .option("--include <glob>", "only names matching this glob (repeatable; relative to SRC)", collect)
    .option("--exclude <glob>", "skip names matching this glob (repeatable)", collect)
    .option(
      "--shard <K/N>",
      "only the names of shard K of N (a stable hash of the name): run N workers",
      shardOption,
    )
    .option("--concurrency <n>", "files compared or copied at once (default 16)", concurrencyOption);
  skipLinksOption(command, "the run");
  if (name === "verify") {
    command.option("--size-only", "compare size and time only, not content hashes");
    return;
  }
  command
    .option("--checksum", "compare content hashes where both sides have them (else size and time)")
    .option(
      "--overwrite <policy>",
      "existing files: never | if-different (default) | always",
      overwriteOption,
    )
    .option("-n, --dry-run", "show what would be done, change nothing");
  if (name === "sync")
    command.option(
      "--max-delete <n>",
      "delete nothing if more than N destination files would go",
      nonNegativeInteger,
    );
}

interface CliOptions {
  include?: string[];
  exclude?: string[];
  shard?: { index: number; count: number };
  concurrency?: number;
  skipLinks?: boolean;
  checksum?: boolean;
  sizeOnly?: boolean;
  overwrite?: OverwritePolicy;
  dryRun?: boolean;
  maxDelete?: number;
}

function folder(location: Location): string {
  return location.path === "" || location.path.endsWith("/") ? location.path : `${location.path}/`;
}

export async function runMigration(
  name: MigrationCommand,
  context: CommandContext,
  [srcText, dstText]: string[],
  options: CliOptions,
): Promise<ExitCode> {
  const { output } = context;
  const parsedSource = parseAddress(srcText!);
  const parsedDestination = parseAddress(dstText!);
  for (const parsed of [parsedSource, parsedDestination]) {
    if (parsed.kind === "stdio")
      throw new UsageError(
        `${name} compares two folders: give NAME:path, a storage URL or a local path, not "-".`,
      );
  }
  // One named storage on both sides: resolve both as its writer, so they are one storage and
  // copies stay inside the service.
  const sameNamed =
    parsedSource.kind === "named" &&
    parsedDestination.kind === "named" &&
    parsedSource.storage === parsedDestination.storage;
  const writes = name !== "verify";
  const links = linkPolicy(options);
  const source = await context.resolve(srcText!, { write: sameNamed && writes, links });
  if (source.kind === "path" && !source.directory) {
    await source.close();
    throw new UsageError(
      `${name} works on folders and ${srcText} is not one: give a folder (for one file, use storages put or get).`,
    );
  }
  const destination = await context
    .resolve(dstText!, { write: writes, links })
    .catch(async (error: unknown) => {
      await source.close();
      throw error;
    });
  try {
    // A local file as destination: every copy would fail on it, one error per file.
    if (
      destination.kind === "path" &&
      !destination.directory &&
      (await destination.storage.exists(destination.path))
    )
      throw new UsageError(`${name} works on folders and ${dstText} is a file: give a folder.`);
    if (name === "sync" && !options.dryRun)
      refuseFilesystemRoot(destination, folder(destination), "sync would delete every file SRC lacks");
    const progress = context.progress();
    const migrationOptions: MigrationOptions = {
      include: options.include,
      exclude: options.exclude,
      shard: options.shard,
      concurrency: options.concurrency,
      checksum: name === "verify" ? !options.sizeOnly : options.checksum,
      overwrite: options.overwrite,
      dryRun: options.dryRun,
      maxDelete: options.maxDelete,
      signal: context.signal,
      onProgress: (state) => progress.update(state),
      // Only with --verbose (a line, and the destination's display name, built per file).
      onFile: output.verbose
        ? (event) => {
            if (event.outcome !== "equal")
              output.debug(`${event.outcome} ${destination.display(folder(destination) + event.name)}`);
          }
        : undefined,
    };
    let result: MigrationResult;
    try {
      // Loaded here, not at start-up: every other command's start would pay for it.
      const migrate = await import("@storages/migrate");
      capYoungGeneration();
      result = await migrate[name](
        { storage: source.storage, prefix: folder(source), location: source.place },
        { storage: destination.storage, prefix: folder(destination), location: destination.place },
        migrationOptions,
      );
    } finally {
      progress.stop();
    }
    const interrupted = result.aborted || context.interrupted;
    output.summary({ source: source.text, destination: destination.text, ...result }, (r) =>
      summaryLines(r, interrupted),
    );
    for (const failure of result.failures) {
      if (context.interrupted && failure.code === "E_ABORTED") continue;
      output.error({
        code: failure.code,
        message: `${printableName(source.display(folder(source) + failure.name))}: ${failure.message}`,
      });
    }
    if (result.failed.files > result.failures.length && !interrupted)
      output.error({
        code: "E_FAILED",
        message: `${result.failed.files - result.failures.length} more file(s) failed.`,
      });
    // What stopped the comparison (the counts above are of the files it reached), then what sync
    // did not delete because of it.
    if (result.listingFailed)
      output.error({ code: result.listingFailed.code, message: result.listingFailed.message });
    if (result.deletesSkipped) output.error(result.deletesSkipped);
    if (interrupted) {
      // Said once, as put and get say it: the files stopped midway are not failures to look into.
      output.error({ code: "E_ABORTED", message: interruptedMessage(result) });
      return EXIT.interrupted;
    }
    return result.ok ? EXIT.ok : EXIT.failed;
  } finally {
    await Promise.allSettled([source.close(), destination.close()]);
  }
}

/** What an interrupted run did, and that running it again finishes it. */
function interruptedMessage(r: MigrationResult): string {
  if (r.operation === "verify" || r.dryRun)
    return `interrupted: ${r.operation}${r.dryRun ? " -n" : ""} stopped before it compared every file; nothing was changed: run it again for the whole answer.`;
  const done = [
    r.copied.files > 0 ? `${count(r.copied.files, "file")} copied completely` : "no file was copied",
    r.operation === "sync"
      ? r.deleted.files > 0
        ? `${count(r.deleted.files, "file")} deleted`
        : "none deleted"
      : undefined,
  ].filter(Boolean);
  return `interrupted: ${done.join(", ")}; no partial file is left at the destination: run the same command again to do the rest.`;
}

function summaryLines(r: MigrationResult, interrupted: boolean): string[] {
  const part = (label: string, c: { files: number; bytes: number }) =>
    c.files > 0 ? `${count(c.files, "file")} ${label} (${formatBytes(c.bytes)})` : undefined;
  const would = r.dryRun ? "would be " : "";
  const seconds = r.elapsedMs / 1000;
  const parts = [
    part(`${would}copied`, r.copied),
    part(`${would}deleted`, r.deleted),
    part("equal", r.equal),
    part("different", r.different),
    part("missing", r.missing),
    part("extra", r.extra),
    // Interrupted, the files stopped midway count as failed: most of them are no error of their own.
    part(interrupted ? "stopped or failed" : "failed", r.failed),
  ].filter((p): p is string => p !== undefined);
  const rate =
    r.copied.bytes > 0 && !r.dryRun ? `, ${formatBytes(r.copied.bytes / Math.max(seconds, 0.001))}/s` : "";
  const lines = [
    `${r.operation}: ${parts.length > 0 ? parts.join(", ") : "no files"} in ${seconds.toFixed(1)} s${rate}`,
  ];
  for (const kind of ["missing", "different"] as const) {
    for (const name of r.samples[kind].slice(0, 20)) lines.push(`  ${kind}: ${printableName(name)}`);
    if (r[kind].files > 20) lines.push(`  … ${r[kind].files - 20} more ${kind}`);
  }
  // The error line that follows says what an interrupted run did.
  if (interrupted) return lines;
  // A dry run compares and plans: the destination is as it was, so it cannot be said to match.
  if (r.dryRun)
    lines.push(r.ok ? "Dry run: nothing was changed (run it without -n to do it)." : "NOT OK: see above.");
  else lines.push(r.ok ? "OK: the destination matches the source." : "NOT OK: see above.");
  return lines;
}
