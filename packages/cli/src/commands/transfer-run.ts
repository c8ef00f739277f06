/**
 * What put and get share: running `transfer()` with a progress bar, and reporting its result —
 * one JSON document, or a summary line; every failure on stderr; exit 1 when a file failed; on
 * Ctrl-C, what was written and what was not.
 */
import type { Readable, Writable } from "node:stream";
import { printableName } from "@storages/core";
import type { CommandContext } from "../command.js";
import { EXIT, type ExitCode, errorReport } from "../errors.js";
import { count, formatBytes } from "../format.js";
import {
  type Endpoint,
  type TransferFailure,
  type TransferOptions,
  type TransferredFile,
  transfer,
} from "../ops/transfer.js";

export interface TransferReport {
  files: TransferredFile[];
  failures: Array<{ from: string; to: string; error: ReturnType<typeof errorReport> }>;
  copied: number;
  bytes: number;
  aborted: boolean;
}

export async function runTransfer(
  context: CommandContext,
  src: Endpoint,
  dst: Endpoint,
  options: TransferOptions,
  verb: "uploaded" | "downloaded",
): Promise<ExitCode> {
  const { output } = context;
  const progress = dst.kind === "stdio" ? { update() {}, stop() {} } : context.progress();
  const files: TransferredFile[] = [];
  const failures: TransferFailure[] = [];
  let result: Awaited<ReturnType<typeof transfer>>;
  try {
    result = await transfer(src, dst, {
      ...options,
      signal: context.signal,
      onProgress: (state) => progress.update(state),
      onFile: (file) => {
        files.push(file);
        output.debug(`${verb} ${file.from} → ${file.to} (${formatBytes(file.size)})`);
      },
      onFailure: (failure) => failures.push(failure),
    });
  } finally {
    progress.stop();
  }
  const interrupted = result.aborted || context.interrupted;
  const report: TransferReport = {
    files,
    failures: failures.map((f) => ({ from: f.from, to: f.to, error: errorReport(f.error, output.verbose) })),
    copied: result.files,
    bytes: result.bytes,
    aborted: interrupted,
  };
  const toStdout = dst.kind === "stdio";
  if (!toStdout) {
    output.summary(report, (r) => {
      if (r.copied === 1 && r.failures.length === 0) {
        const [file] = r.files;
        return `${verb} ${file!.from} → ${file!.to} (${formatBytes(file!.size)})`;
      }
      if (r.copied === 0 && (r.failures.length > 0 || interrupted)) return undefined;
      return `${verb} ${count(r.copied, "file")} (${formatBytes(r.bytes)})`;
    });
  }
  for (const failure of report.failures) {
    if (interrupted && failure.error.code === "E_ABORTED") continue;
    output.error({
      ...failure.error,
      message: `${printableName(failure.from)} → ${printableName(failure.to)}: ${failure.error.message}`,
    });
  }
  if (interrupted) {
    const stopped = report.failures.filter((f) => f.error.code === "E_ABORTED").map((f) => f.to);
    // stdout cannot take back what it was given: its reader has the first part of the file only.
    const parts = toStdout
      ? [`${report.failures[0]?.from ?? "the file"} was cut short: stdout got only the first part of it`]
      : [
          report.copied > 0 ? `${count(report.copied, "file")} ${verb} completely` : "no file was written",
          stopped.length > 0 ? `${stopped.join(", ")} stopped midway and not written` : undefined,
        ].filter(Boolean);
    output.error({ code: "E_ABORTED", message: `interrupted: ${parts.join("; ")}.` });
    return EXIT.interrupted;
  }
  return report.failures.length > 0 ? EXIT.failed : EXIT.ok;
}

/** stdout as a transfer destination that never ends the process's stdout. */
export function stdoutEndpoint(stream: Writable): Endpoint {
  return { kind: "stdio", text: "-", stream };
}

export function stdinEndpoint(stream: Readable): Endpoint {
  return { kind: "stdio", text: "-", stream };
}
