import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import type { CheckReport, Finding } from "@storages/deploy";
// The light entry (the ids alone): the checks themselves are loaded when the command runs.
import { FINDING_IDS } from "@storages/deploy/findings";
import { defineCommand } from "../command.js";
import { EXIT, pathProblem, UsageError } from "../errors.js";
import { MAX_CONCURRENCY, wholeNumber } from "./options.js";

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter((v) => v.trim() !== "")];
}

/** The longest delay a Node timer takes: a longer one warns (TimeoutOverflowWarning) and fires at once. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * A count option of check: parsed here, not by commander, so that the message names the value and
 * what to give.
 */
function positive(value: string | undefined, option: string, max?: number): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value, 1, max);
  if (n === undefined) {
    const range = max === undefined ? "above 0" : `from 1 to ${max}`;
    throw new UsageError(`${option} ${JSON.stringify(value)}: give a whole number ${range} (digits only).`);
  }
  return n;
}

function timeoutOption(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = wholeNumber(value, 1, MAX_TIMEOUT_MS);
  if (n !== undefined) return n;
  // A number of milliseconds, only too long: say the limit (a longer timer would fire at once).
  if (wholeNumber(value, MAX_TIMEOUT_MS + 1, Number.POSITIVE_INFINITY) !== undefined) {
    throw new UsageError(
      `--timeout ${value}: at most ${MAX_TIMEOUT_MS} ms (about 24.8 days, the longest timer Node has). Give milliseconds per request, e.g. --timeout 30000.`,
    );
  }
  throw new UsageError(
    `--timeout ${JSON.stringify(value)}: give milliseconds per request, a whole number from 1 to ${MAX_TIMEOUT_MS} (e.g. --timeout 30000).`,
  );
}

/** --app-dir: an existing folder, or a usage error naming it (a typo would judge nothing). */
function appDirOption(cwd: string, value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const dir = resolve(cwd, value);
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (error) {
    throw new UsageError(
      `--app-dir ${value}: ${dir} ${pathProblem(error)}. Give the application's directory (the one with its package.json), or leave --app-dir out.`,
    );
  }
  if (!isDirectory) {
    throw new UsageError(
      `--app-dir ${value}: ${dir} is a file, not a folder. Give the application's directory (the one with its package.json), or leave --app-dir out.`,
    );
  }
  return dir;
}

function findingLines(f: Finding, style: (s: "red" | "yellow" | "dim", t: string) => string): string[] {
  const label = f.severity === "error" ? style("red", "error  ") : style("yellow", "warning");
  return [
    `${label} ${f.id}${f.storage ? ` [${f.storage}]` : ""}: ${f.message}`,
    `        ${style("dim", "fix:")} ${f.fix}`,
  ];
}

export const check = defineCommand({
  name: "check",
  summary:
    "check a deployment: storage layout, permissions, buckets, static manifest, and (--base-url) the live URLs",
  description:
    "Reads the same configuration as the app and reports each problem with its fix and a stable id: static and media overlapping, media in a release directory, in the app's code, on an ephemeral filesystem or without a declared backup (.storages-backup), static writable or media not writable by the app's user (--as-user), URL prefixes without their slash, equal or nested, buckets missing, unreachable or refusing the credentials, public storages not readable or private ones readable anonymously, anonymous listings, CORS blocking browser uploads, and a static manifest missing or naming missing files. With --base-url it also requests the manifest's files and media probes on the live site. Silence a finding knowingly with --ignore ID (or STORAGES_CHECK_IGNORE). Exit 1 when an error remains.\n\n" +
    `Finding ids (docs/deployment.md says what each means): ${FINDING_IDS.join(", ")}.`,
  examples: [
    { command: "storages --env-file .env.production check", what: "before switching traffic to a release" },
    { command: "sudo storages check --as-user www-data", what: "permissions as the app's user" },
    { command: "storages check --base-url https://www.example.com --sample 200", what: "after the deploy" },
    { command: "storages check --ignore media-without-backup --json", what: "for CI" },
  ],
  configure: (command) =>
    command
      .option("--ignore <id>", "silence a finding by id (repeatable, or comma-separated)", collect)
      .option("--base-url <url>", "the live site: request static files and media probes there")
      .option("--sample <n>", "request at most N manifest entries (default: all)")
      .option("--as-user <name>", "check permissions as this user (needs root)")
      .option(
        "--app-dir <dir>",
        "the application's directory (default: the nearest package.json from here up)",
      )
      .option("--mountinfo <file>", "judge this /proc/self/mountinfo instead of this machine's")
      .option("--origin <url>", "the app's origin for the CORS check (default: --base-url's)")
      .option("--offline", "no network: skip bucket probes and URL checks")
      .option("--concurrency <n>", "parallel requests (default 8)")
      .option("--timeout <ms>", "per request, in milliseconds (default 10000, at most 2147483647)"),
  async run(
    context,
    _args,
    options: {
      ignore?: string[];
      baseUrl?: string;
      sample?: string;
      asUser?: string;
      appDir?: string;
      mountinfo?: string;
      origin?: string;
      offline?: boolean;
      concurrency?: string;
      timeout?: string;
    },
  ) {
    let mountInfo: string | undefined;
    if (options.mountinfo !== undefined) {
      const file = resolve(context.cwd, options.mountinfo);
      try {
        mountInfo = readFileSync(file, "utf8");
      } catch (error) {
        throw new UsageError(
          `--mountinfo ${options.mountinfo}: ${file} ${pathProblem(error)}. Give a copy of a machine's /proc/self/mountinfo, or leave --mountinfo out.`,
        );
      }
    }
    for (const [option, value, needs, keep] of [
      ["--base-url", options.baseUrl, "requesting the live URLs needs", "check the live site"],
      ["--origin", options.origin, "the CORS check it is for needs", "check CORS for that origin"],
    ] as const) {
      if (value !== undefined && !/^https?:\/\/[^/]/.test(value)) {
        throw new UsageError(`${option} ${value}: give an http(s) URL (https://www.example.com).`);
      }
      // Both are only used over the network, which --offline turns off: one of them is a mistake.
      if (value !== undefined && options.offline === true) {
        throw new UsageError(
          `${option} and --offline contradict each other: ${needs} the network. Drop --offline to ${keep}, or drop ${option}.`,
        );
      }
    }
    const appDir = appDirOption(context.cwd, options.appDir);
    const sample = positive(options.sample, "--sample");
    const concurrency = positive(options.concurrency, "--concurrency", MAX_CONCURRENCY);
    const timeout = timeoutOption(options.timeout);
    // Loaded here, not at start-up: every other command's start would pay for it.
    const { checkDeployment } = await import("@storages/deploy");
    const report: CheckReport = await checkDeployment({
      env: context.env,
      cwd: context.cwd,
      configFile: context.configFile,
      ignore: options.ignore,
      baseUrl: options.baseUrl,
      sample,
      asUser: options.asUser,
      appDir,
      mountInfo,
      origin: options.origin,
      network: options.offline !== true,
      concurrency,
      timeout,
      signal: context.signal,
    });
    const { output } = context;
    for (const note of report.notes) output.note(output.style("dim", note, "stderr"));
    output.result(report, (r) => {
      const errors = r.findings.filter((f) => f.severity === "error").length;
      return [
        ...r.findings.flatMap((f) => findingLines(f, (s, t) => output.style(s, t))),
        ...(r.ignored.length > 0 ? [`ignored: ${r.ignored.map((f) => f.id).join(", ")}`] : []),
        r.ok
          ? output.style(
              "green",
              `ok: no errors${r.findings.length ? `, ${r.findings.length} warning(s)` : ""}`,
            )
          : output.style("red", `${errors} error(s), ${r.findings.length - errors} warning(s)`),
      ];
    });
    return report.ok ? EXIT.ok : EXIT.failed;
  },
});
