/**
 * What a command is: a name, its arguments and options (declared with commander), examples for
 * its help, and `run`, which parses nothing itself — it resolves addresses, calls one library
 * function with a typed result, and prints that result through `context.output`.
 *
 * Adding a command (collectstatic, copy/sync/verify, check, nginx…) is one module that exports a
 * `defineCommand({...})` and one line in `commands/index.ts`; the global options, exit codes,
 * error reports, progress, --json/--quiet/--verbose/NO_COLOR and Ctrl-C handling come with it.
 */
import type { Readable, Writable } from "node:stream";
import type { ConfigWarning, StorageRegistry } from "@storages/core";
import type { Command } from "commander";
import type { Location, ResolveOptions } from "./address.js";
import type { ExitCode } from "./errors.js";
import type { Output } from "./output.js";
import type { ProgressView } from "./progress.js";

export interface CommandContext {
  readonly output: Output;
  /** Aborted on Ctrl-C (SIGINT) or SIGTERM: pass it to every storage call. */
  readonly signal: AbortSignal;
  /** Whether the signal fired because of an interrupt. */
  readonly interrupted: boolean;
  readonly cwd: string;
  readonly env: Record<string, string | undefined>;
  /** The config file given with --config, if any (else the app's lookup: STORAGES_CONFIG, storages.config.*). */
  readonly configFile: string | undefined;
  readonly stdin: Readable & { isTTY?: boolean | undefined };
  readonly stdout: Writable;
  /** The named storages, read exactly as the application reads them (loaded on first use). */
  registry(): StorageRegistry;
  /** Configuration warnings seen so far (`config` shows them; other commands only with --verbose). */
  readonly warnings: readonly ConfigWarning[];
  /**
   * A storage and a path from an address (NAME:path, a storage URL, a local path). `write: true`
   * for commands that write: named storages then come as their writer (as deploy tools get them),
   * and a local path need not exist (read from, a missing one is E_NOT_FOUND, and never created).
   * `links`: how a local folder lists symbolic links it does not follow (ResolveOptions).
   */
  resolve(address: string, options?: Pick<ResolveOptions, "write" | "links">): Promise<Location>;
  /** A progress view on stderr (a no-op unless stderr is a terminal and neither --json nor --quiet). */
  progress(): ProgressView;
  /** Asks a yes/no question on the terminal; undefined when there is no terminal to ask. */
  confirm(question: string): Promise<boolean | undefined>;
}

export interface Example {
  command: string;
  what: string;
}

export interface CommandDefinition {
  /** `ls`, `sign-upload`… */
  name: string;
  /** Commander argument syntax: `<src> <dst>`, `[address]`. */
  arguments?: string | undefined;
  /** One line, for `storages --help`. */
  summary: string;
  /** More, for `storages help NAME`. Default: the summary. */
  description?: string | undefined;
  /** Shown under "Examples:" in the command's help. */
  examples: readonly Example[];
  /**
   * All the command does is print what was asked for (ls, cat, get … -): once the reader of stdout
   * has gone (`storages ls -r | head -1`) nothing is left worth doing, and the process stops
   * quietly with exit 0, as tools in a pipe do. Every other command — a verdict (verify, check), a
   * transfer, a summary of what was written — finishes without its stdout and exits with its own
   * code (`storages verify A B | head -1` with differences is 1). A function decides per command
   * line (get prints only when its destination is -). Default false.
   */
  // biome-ignore lint/suspicious/noExplicitAny: each command reads its own options.
  printsOnly?: boolean | ((args: string[], options: any) => boolean) | undefined;
  /** Declares the command's own options (commander's API). */
  configure?: ((command: Command) => void) | undefined;
  /**
   * Does the work. `args` are the positional arguments, `options` the command's own options.
   * Returns the exit code (default 0); throwing ends the command with the error's code.
   */
  // biome-ignore lint/suspicious/noExplicitAny: each command reads its own options.
  run(context: CommandContext, args: string[], options: any): Promise<ExitCode | undefined>;
}

export function defineCommand(definition: CommandDefinition): CommandDefinition {
  return definition;
}
