/**
 * Everything a command prints goes through here, so every command follows the same conventions:
 *
 * - stdout carries the result only: human text, or with --json one JSON document (or NDJSON, one
 *   object per line, for streamed listings). Notes, warnings, progress and errors go to stderr.
 * - --quiet drops notes, warnings and the summaries of write commands; the data a command was
 *   asked for (a listing, a URL, the bytes of `cat`) is still printed.
 * - --verbose adds debug notes and, for errors, the stack and causes. With --json, stderr is NDJSON
 *   too: each warning, debug note and error one JSON object on a line of its own.
 * - Colour only on a terminal, never with NO_COLOR (https://no-color.org), TERM=dumb or --no-color.
 */
import { styleText } from "node:util";
import { printableName, redactSecrets } from "@storages/core";
import { type ErrorReport, errorLine } from "./errors.js";

export type Style = "bold" | "dim" | "red" | "green" | "yellow" | "cyan";

/** What `Output` writes to: a process's stdio, or anything a test or a script hands it. */
export interface OutputStreams {
  stdout: NodeJS.WritableStream & { isTTY?: boolean | undefined };
  stderr: NodeJS.WritableStream & { isTTY?: boolean | undefined };
}

export interface OutputOptions {
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  verbose?: boolean | undefined;
  /** false: never colour (--no-color). Default: decided from the stream and the environment. */
  color?: boolean | undefined;
  env?: Record<string, string | undefined> | undefined;
}

/** Whether text written to `stream` should be coloured. */
export function colorWanted(
  stream: { isTTY?: boolean | undefined },
  env: Record<string, string | undefined>,
  flag: boolean | undefined,
): boolean {
  if (flag === false) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== "") return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== "" && env.FORCE_COLOR !== "0") return true;
  return stream.isTTY === true && env.TERM !== "dumb";
}

export class Output {
  readonly json: boolean;
  readonly quiet: boolean;
  readonly verbose: boolean;
  readonly streams: OutputStreams;
  readonly #color: { stdout: boolean; stderr: boolean };

  constructor(streams: OutputStreams, options: OutputOptions = {}) {
    const env = options.env ?? process.env;
    this.streams = streams;
    this.json = options.json === true;
    this.quiet = options.quiet === true;
    this.verbose = options.verbose === true && !this.quiet;
    this.#color = {
      stdout: !this.json && colorWanted(streams.stdout, env, options.color),
      stderr: colorWanted(streams.stderr, env, options.color),
    };
  }

  /** Whether stderr is a terminal a person watches (progress bars and questions go there). */
  get interactive(): boolean {
    return this.streams.stderr.isTTY === true;
  }

  /** Styles text for stdout (or stderr) when colour is on. */
  style(style: Style, text: string, stream: "stdout" | "stderr" = "stdout"): string {
    return this.#color[stream] ? styleText(style, text, { validateStream: false }) : text;
  }

  /**
   * The result a command was asked for: one JSON document with --json, else `human(value)`
   * (lines, or nothing). Printed even with --quiet.
   */
  result<T>(value: T, human: (value: T) => string | readonly string[] | undefined): void {
    if (this.json) this.#write("stdout", `${JSON.stringify(value)}\n`);
    else this.#lines("stdout", human(value));
  }

  /**
   * The summary of a write command (what was uploaded, deleted…): one JSON document with --json,
   * else `human(value)` unless --quiet.
   */
  summary<T>(value: T, human: (value: T) => string | readonly string[] | undefined): void {
    if (this.json) this.#write("stdout", `${JSON.stringify(value)}\n`);
    else if (!this.quiet) this.#lines("stdout", human(value));
  }

  /** One entry of a streamed listing: a JSON line with --json, else `human(value)`. */
  item<T>(value: T, human: (value: T) => string): void {
    this.#write("stdout", this.json ? `${JSON.stringify(value)}\n` : `${human(value)}\n`);
  }

  /** A note for the person at the terminal (stderr; not with --quiet or --json). */
  note(message: string): void {
    if (!this.quiet && !this.json) this.#write("stderr", `${message}\n`);
  }

  /**
   * A warning (stderr; not with --quiet). With --json, a JSON line `{"warning":…}`. Redacted here
   * as debug notes are, whatever its source already did: a warning quotes addresses and options.
   */
  warn(message: string, code?: string): void {
    if (this.quiet) return;
    const text = redactSecrets(message);
    this.#write(
      "stderr",
      this.json
        ? `${JSON.stringify({ warning: { code, message: text } })}\n`
        : `${this.style("yellow", "warning", "stderr")}: ${text}\n`,
    );
  }

  /**
   * Only with --verbose (stderr): one line, whatever names it quotes. With --json, a JSON line
   * `{"debug":{"message":…}}` like warnings and errors, so a script reading stderr as NDJSON can
   * run with -v. Redacted as error reports are: a debug line quotes addresses, and ends up in logs.
   */
  debug(message: string): void {
    if (!this.verbose) return;
    const text = redactSecrets(message);
    this.#write(
      "stderr",
      this.json
        ? `${JSON.stringify({ debug: { message: text } })}\n`
        : `${this.style("dim", `debug: ${printableName(text)}`, "stderr")}\n`,
    );
  }

  /** An error that ended the command, or one of several (stderr, also with --quiet). */
  error(report: ErrorReport): void {
    if (this.json) {
      this.#write("stderr", `${JSON.stringify({ error: report })}\n`);
      return;
    }
    this.#write("stderr", `${this.style("red", "error", "stderr")} ${errorLine(report)}\n`);
    for (const cause of report.causes ?? []) this.#write("stderr", `  caused by: ${cause}\n`);
    if (report.stack) this.#write("stderr", `${this.style("dim", report.stack, "stderr")}\n`);
  }

  /** Raw text on stderr (progress libraries, prompts). */
  stderr(text: string): void {
    this.#write("stderr", text);
  }

  #lines(stream: "stdout" | "stderr", lines: string | readonly string[] | undefined): void {
    if (lines === undefined) return;
    const list = typeof lines === "string" ? [lines] : lines;
    if (list.length > 0) this.#write(stream, `${list.join("\n")}\n`);
  }

  #write(stream: "stdout" | "stderr", text: string): void {
    this.streams[stream].write(text);
  }
}
