/**
 * The `storages` program: commander declares the global options and one sub-command per
 * CommandDefinition; `main()` runs one command line and returns its exit code. Everything that is
 * the same for every command lives here: global options, the context, error reports, exit codes,
 * interruption, closing what was opened.
 */
import { readFileSync } from "node:fs";
import type { Readable, Writable } from "node:stream";
import type { ConfigWarning, StorageRegistry } from "@storages/core";
import { Command, CommanderError, Option } from "commander";
import { type Location, type ResolveOptions, resolveAddress } from "./address.js";
import type { CommandContext, CommandDefinition } from "./command.js";
import { COMMANDS } from "./commands/index.js";
import { type ErrorReport, EXIT, type ExitCode, errorReport, exitCodeFor } from "./errors.js";
import { checkConfigFile, loadEnvFiles, openConfiguration } from "./ops/config.js";
import { Output, type OutputStreams } from "./output.js";
import { createProgress } from "./progress.js";

const VERSION = (
  JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
).version;

/** Where a run reads and writes: the process's stdio, or a script's own streams. */
export interface CliIo extends OutputStreams {
  stdin: Readable & { isTTY?: boolean | undefined };
  stdout: Writable & { isTTY?: boolean | undefined };
  stderr: Writable & { isTTY?: boolean | undefined };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted when the user interrupts (the bin wires SIGINT and SIGTERM to it). */
  signal?: AbortSignal | undefined;
  /**
   * Told, once a command line is parsed, whether its command only prints (CommandDefinition
   * printsOnly): the bin decides with it what a reader of stdout that goes away means; and how
   * to report an error in the command's output form (a JSON line with --json), for the one it
   * reports itself (a second Ctrl-C).
   */
  started?:
    | ((command: { printsOnly: boolean; reportError: (report: ErrorReport) => void }) => void)
    | undefined;
}

interface GlobalOptions {
  json?: boolean;
  quiet?: boolean;
  verbose?: boolean;
  color?: boolean;
  envFile?: string[];
  config?: string;
}

const ROOT_HELP = `
Addresses:
  NAME:path        a named storage, configured as the app configures it (default:avatars/me.jpg)
  scheme://…       a storage URL: s3://bucket/prefix?region=…, file:///abs/path, gs://bucket/…,
                   azure://account/container/…, memory://
  ./path, /path    a local file or folder
  -                stdin (put) or stdout (get)

Configuration (read as the app reads it): STORAGES_<NAME> variables, STORAGES_MODE=local|remote,
storages.config.{json,js,mjs,ts} in the working directory (or --config / STORAGES_CONFIG), and
.env files given with -e FILE or --env-file FILE, loaded as node --env-file loads them.
Node itself reads every --env-file FILE on a command line before storages starts
(nodejs/node#54232): a missing file ends there with Node's "node: FILE: not found" (exit 9), and a
NODE_OPTIONS line in the file applies to this command too. Node does not look at -e FILE: a missing
or unreadable file is storages' own usage error (exit 2, a JSON error with --json).

Exit codes:
  0    done
  1    some operations failed (a missing file, a refused write, a network error)
  2    usage or configuration error: nothing was attempted
  130  interrupted (Ctrl-C or SIGTERM): the running operation was aborted

Docs: https://github.com/storages/storages/blob/main/docs/cli.md`;

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function examplesHelp(definition: CommandDefinition): string {
  if (definition.examples.length === 0) return "";
  const width = Math.min(48, Math.max(...definition.examples.map((e) => e.command.length)));
  const lines = definition.examples.map((e) =>
    e.command.length > width
      ? `  ${e.command}\n  ${" ".repeat(width)}  ${e.what}`
      : `  ${e.command.padEnd(width)}  ${e.what}`,
  );
  return `\nExamples:\n${lines.join("\n")}\n`;
}

/** The command line's context: configuration, addresses, output, progress, confirmation. */
class Context implements CommandContext {
  readonly warnings: ConfigWarning[] = [];
  readonly #opened: Location[] = [];
  #registry: StorageRegistry | undefined;

  constructor(
    readonly output: Output,
    private readonly io: CliIo,
    private readonly globals: GlobalOptions,
    readonly signal: AbortSignal,
  ) {}

  get interrupted(): boolean {
    return this.io.signal?.aborted === true;
  }
  get cwd(): string {
    return this.io.cwd;
  }
  get env(): Record<string, string | undefined> {
    return this.io.env;
  }
  get configFile(): string | undefined {
    return this.globals.config;
  }
  get stdin() {
    return this.io.stdin;
  }
  get stdout() {
    return this.io.stdout;
  }

  registry(): StorageRegistry {
    this.#registry ??= openConfiguration({
      env: this.io.env,
      cwd: this.io.cwd,
      configFile: this.globals.config,
      // Layout warnings belong to `storages config` (and the app's own start-up), not to every ls.
      onWarning: (warning) => {
        this.warnings.push(warning);
        this.output.debug(`configuration warning ${warning.code}: ${warning.message}`);
      },
    });
    return this.#registry;
  }

  async resolve(address: string, options: Pick<ResolveOptions, "write" | "links"> = {}): Promise<Location> {
    const location = await resolveAddress(address, {
      registry: this.registry(),
      cwd: this.io.cwd,
      write: options.write,
      links: options.links,
    });
    this.#opened.push(location);
    this.output.debug(
      `${location.text} → ${location.storage.backend} storage${location.storageName ? ` "${location.storageName}"` : ""}, ${location.directory ? "folder" : "file"} "${location.path}"`,
    );
    return location;
  }

  progress() {
    return createProgress(this.output);
  }

  async confirm(question: string): Promise<boolean | undefined> {
    if (this.io.stdin.isTTY !== true || this.io.stderr.isTTY !== true) return undefined;
    // Loaded on the first question only: every command's start would pay for it.
    const { createInterface } = await import("node:readline/promises");
    const rl = createInterface({ input: this.io.stdin, output: this.io.stderr });
    try {
      const answer = await rl.question(`${question} [y/N] `, { signal: this.signal });
      return /^y(es)?$/i.test(answer.trim());
    } catch {
      return false;
    } finally {
      rl.close();
    }
  }

  /** Releases every storage opened for this command line. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#opened.map((l) => l.close()), this.#registry?.close()]);
  }
}

async function execute(
  definition: CommandDefinition,
  args: string[],
  options: Record<string, unknown>,
  globals: GlobalOptions,
  io: CliIo,
): Promise<ExitCode> {
  const output = new Output(io, {
    json: globals.json,
    quiet: globals.quiet,
    verbose: globals.verbose,
    color: globals.color,
    env: io.env,
  });
  const context = new Context(output, io, globals, io.signal ?? new AbortController().signal);
  const { printsOnly } = definition;
  io.started?.({
    printsOnly: typeof printsOnly === "function" ? printsOnly(args, options) : printsOnly === true,
    reportError: (report) => output.error(report),
  });
  let code: ExitCode;
  try {
    loadEnvFiles(globals.envFile ?? [], io.env, io.cwd);
    checkConfigFile(globals.config, io.cwd);
    code = (await definition.run(context, args, options)) ?? EXIT.ok;
    if (context.interrupted) code = EXIT.interrupted;
  } catch (error) {
    const report = errorReport(error, output.verbose);
    if (context.interrupted) {
      report.code = "E_ABORTED";
      report.message = `interrupted: ${definition.name} was stopped before it finished.`;
    }
    output.error(report);
    code = exitCodeFor(error, context.interrupted);
  }
  // After an interrupt, drivers may still be cleaning up (removing a temporary file, aborting a
  // multipart upload): closing their clients now could cut that short. The process exits once
  // they are done.
  if (!context.interrupted) await context.close();
  return code;
}

/** Builds the program; `onRun` receives each command's exit code. */
export function buildProgram(
  io: CliIo,
  onRun: (code: ExitCode) => void,
  commands: readonly CommandDefinition[] = COMMANDS,
  json = false,
): Command {
  const program = new Command("storages")
    .description(
      "One command over every named storage (local folders, S3 and S3-compatible servers, GCS, Azure Blob), read from the same configuration as the app.",
    )
    .version(VERSION, "-V, --version", "print the version")
    .option("--json", "print one JSON document (NDJSON for listings) on stdout; no progress")
    .option("-q, --quiet", "print only the data asked for and errors: no notes, warnings or progress")
    .option("-v, --verbose", "print debug notes, and the stack and causes of errors")
    .addOption(new Option("--no-color", "never colour the output (also: NO_COLOR=1)"))
    .option(
      "-e, --env-file <file>",
      "load a .env file first, as node --env-file does (repeatable; prefer -e FILE: see Configuration)",
      collect,
    )
    .option("--config <file>", "the storages config file (default: STORAGES_CONFIG, else storages.config.*)")
    .helpCommand("help [command]", "show help for a command, with examples")
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: (text, write) =>
        write(
          json
            ? `${JSON.stringify({ error: { code: "E_USAGE", message: text.replace(/^error: /, "").trim() } })}\n`
            : `${text.trimEnd()}\n(storages help lists the commands; storages help COMMAND shows one, with examples)\n`,
        ),
    })
    .addHelpText("after", ROOT_HELP);

  for (const definition of commands) {
    const command = program
      .command(definition.name)
      .summary(definition.summary)
      .description(definition.description ?? definition.summary)
      .allowExcessArguments(false);
    if (definition.arguments) command.arguments(definition.arguments);
    definition.configure?.(command);
    command.addHelpText("after", examplesHelp(definition));
    command.action(async (...actionArgs: unknown[]) => {
      const self = actionArgs.at(-1) as Command;
      const positional = actionArgs
        .slice(0, -2)
        .flatMap((a) => (a === undefined ? [] : Array.isArray(a) ? a : [a]));
      onRun(
        await execute(
          definition,
          positional as string[],
          self.opts(),
          self.optsWithGlobals<GlobalOptions>(),
          io,
        ),
      );
    });
  }
  return program;
}

/** Runs one command line (`argv` without node and the script) and returns its exit code. */
export async function main(
  argv: readonly string[],
  io: CliIo,
  commands?: readonly CommandDefinition[],
): Promise<ExitCode> {
  let code: ExitCode = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c), commands, argv.includes("--json"));
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return EXIT.usage;
  }
  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    throw error;
  }
  return code;
}
