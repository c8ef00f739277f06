/**
 * Progress of long transfers, drawn by cli-progress on stderr — only when stderr is a terminal and
 * neither --json nor --quiet is given, so scripts and pipes never see it.
 */
import { createRequire } from "node:module";
import type cliProgressModule from "cli-progress";
import { formatBytes } from "./format.js";
import type { Output } from "./output.js";

/** What a long operation reports as it goes (see `transfer`'s `onProgress`). */
export interface ProgressState {
  bytesDone: number;
  /** Bytes of everything found so far; undefined when a size cannot be known (stdin). */
  bytesKnown: number | undefined;
  filesDone: number;
  filesKnown: number;
  /** False while a listing is still finding files (the totals may grow). */
  complete: boolean;
}

export interface ProgressView {
  update(state: ProgressState): void;
  stop(): void;
}

const NONE: ProgressView = { update() {}, stop() {} };

export function createProgress(output: Output): ProgressView {
  if (output.json || output.quiet || !output.interactive) return NONE;
  // Required only when a bar is drawn: scripts and pipes (most runs) never load it.
  const cliProgress = createRequire(import.meta.url)("cli-progress") as typeof cliProgressModule;
  let bar: cliProgressModule.SingleBar | undefined;
  let withTotal: boolean | undefined;
  const started = Date.now();
  const make = (known: boolean) =>
    new cliProgress.SingleBar(
      {
        stream: output.streams.stderr,
        format: known
          ? "{bar} {percentage}% | {done} / {size} | {files} | {rate} | ETA {eta_formatted}"
          : "{done} | {files} | {rate} | {duration_formatted}",
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
        fps: 8,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
  return {
    update(state) {
      const known = state.bytesKnown !== undefined && state.complete;
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      const payload = {
        done: formatBytes(state.bytesDone),
        size: state.bytesKnown === undefined ? "?" : formatBytes(state.bytesKnown),
        files: `${state.filesDone}/${state.filesKnown}${state.complete ? "" : "+"} files`,
        rate: `${formatBytes(state.bytesDone / seconds)}/s`,
      };
      const total = Math.max(state.bytesKnown ?? 0, 1);
      if (bar === undefined || withTotal !== known) {
        bar?.stop();
        bar = make(known);
        withTotal = known;
        bar.start(total, state.bytesDone, payload);
        return;
      }
      if (known) bar.setTotal(total);
      bar.update(state.bytesDone, payload);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
