/**
 * The counts of a fault run, kept by the tests themselves and written where the runner asks
 * (STORAGES_TEST_RELIABILITY, a folder): docs/reliability.md is generated from them, never typed.
 */
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface SoakFigures {
  workers: number;
  operationsPerWorker: number;
  operations: number;
  seconds: number;
  /** Operations that ended in a typed error (a fault the policy could not or must not retry). */
  failedCleanly: number;
  faultsInjected: number;
  /** Driver→server connections still open after close() (must be 0). */
  socketsLeft: number;
  /** What each of them last carried. */
  socketsLeftDoing?: string[] | undefined;
  /** Process handles (sockets, files) before the soak and after close(). */
  handlesBefore: number;
  handlesAfter: number;
}

export interface ReliabilityReport {
  backend: string;
  server: string;
  /** Faults the proxy injected, in all and by type. */
  injected: number;
  byType: Record<string, number>;
  /** Calls that met a fault and still succeeded (retried, or resumed). */
  recovered: number;
  /** Calls that ended in the typed error the fault calls for (a stream cut mid-upload, a timeout). */
  failedCleanly: number;
  /**
   * Acknowledged writes missing or different, reads that "succeeded" short or wrong, partial
   * objects visible, unfinished uploads left behind. Must be 0.
   */
  lost: number;
  soak: SoakFigures | undefined;
  /** Checks this server cannot make, with the reason. */
  notVerifiable: string[];
  finishedAt: string;
}

export class Tally {
  recovered = 0;
  failedCleanly = 0;
  lost = 0;
  soak: SoakFigures | undefined;
  readonly notVerifiable: string[] = [];

  /** Writes the report into `dir` as `<backend>.json` (atomically). */
  write(
    dir: string,
    report: Omit<
      ReliabilityReport,
      "recovered" | "failedCleanly" | "lost" | "soak" | "notVerifiable" | "finishedAt"
    >,
  ): string {
    mkdirSync(dir, { recursive: true });
    const full: ReliabilityReport = {
      ...report,
      recovered: this.recovered,
      failedCleanly: this.failedCleanly,
      lost: this.lost,
      soak: this.soak,
      notVerifiable: this.notVerifiable,
      finishedAt: new Date().toISOString(),
    };
    const file = join(dir, `${report.backend}.json`);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(full, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    return file;
  }
}
