import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { prefixed } from "@storages/core";
import type {
  CollectProgress,
  CollectResult,
  Encoding,
  parseSourceSpec,
  StaticSource,
} from "@storages/staticfiles";
import { type Location, parseAddress } from "../address.js";
import { type CommandContext, defineCommand } from "../command.js";
import { EXIT, UsageError } from "../errors.js";
import { count, formatBytes } from "../format.js";
import { capYoungGeneration } from "../young-generation.js";
import { collect, concurrencyOption, lockWaitOption, positiveInteger } from "./options.js";

/** `--source ./assets` or `--source ./node_modules/pkg/dist=pkg/` (published under `pkg/`). */
function sourceOption(text: string, parse: typeof parseSourceSpec): StaticSource {
  const spec = parse(text);
  if (spec === undefined) throw new UsageError(`--source takes DIR or DIR=PREFIX, got "${text}".`);
  return { ...spec, label: `--source ${text}` };
}

/**
 * `staticfiles` and `staticfiles:` both name the storage. A local folder is opened as a plain
 * folder (no metadata records beside the files, which nginx would serve) with the batch durability
 * policy: static files are rebuildable, so one sync at the end instead of one per file.
 */
function targetAddress(text: string, cwd: string): string {
  if (/^[a-z][a-z0-9_]*$/.test(text)) return `${text}:`;
  if (parseAddress(text).kind !== "path") return text;
  const url = pathToFileURL(resolve(cwd, text));
  url.pathname = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
  return `${url.href}?records=false&durability=batch`;
}

/**
 * A --to target that is, holds or lies inside another configured storage (`--to ./media/`, `--to
 * default:static/`) is refused before anything is read or written: collectstatic writes its
 * original names (css/app.css, favicon.ico) over whatever is there, so an upload named like a
 * static file would be replaced, and only deletions are limited to what it wrote. The named
 * staticfiles storage needs no check: overlapping named storages do not load. A configuration
 * that does not load (a CI job with part of production's environment) leaves nothing to compare.
 */
async function refuseOverlapWithStorages(
  context: CommandContext,
  typed: string,
  target: Location,
): Promise<void> {
  let names: string[];
  try {
    names = (await context.registry().names()).filter((name) => name !== "staticfiles");
  } catch (error) {
    context.output.debug(`--to not compared with the configured storages: ${(error as Error).message}`);
    return;
  }
  if (names.length === 0) return;
  const { overlapOf } = await import("@storages/migrate");
  for (const name of names) {
    let other: Location;
    try {
      other = await context.resolve(`${name}:`);
    } catch (error) {
      context.output.debug(`--to not compared with "${name}": ${(error as Error).message}`);
      continue;
    }
    const overlap = await overlapOf(
      { storage: other.storage, prefix: "", location: other.place },
      { storage: target.storage, prefix: target.path, location: target.place },
    );
    if (overlap === undefined) continue;
    const where =
      overlap.kind === "same"
        ? `is where the "${name}" storage keeps its files`
        : overlap.outer === "source"
          ? `is inside the "${name}" storage (its folder "${overlap.folder}")`
          : `holds the "${name}" storage's files (in its folder "${overlap.folder}")`;
    throw new UsageError(
      `--to ${typed} ${where}: collectstatic would replace any file there named like a static file. Publish static files to a folder or bucket of their own (the staticfiles storage).`,
    );
  }
}

/** The package's ENCODINGS, without loading it for every other command. */
const ENCODINGS: readonly Encoding[] = ["br", "zstd", "gzip"];

function human(r: Omit<CollectResult, "manifest">): string[] {
  const seconds = (r.durationMs / 1000).toFixed(2);
  if (r.nothingChanged) {
    return [
      `nothing changed: ${count(r.found, "file")} already published (release ${r.release}, ${seconds} s)`,
    ];
  }
  const sizes = ENCODINGS.filter((e) => r.bytesAfter[e] > 0)
    .map((e) => `${e} ${formatBytes(r.bytesAfter[e])}`)
    .join(", ");
  return [
    `${r.dryRun ? "would publish" : "published"} release ${r.release}: ${count(r.found, "file")} found, ${r.copied} copied, ${r.unchanged} unchanged`,
    `compressed ${count(r.compressed, "file")} (${r.compressionReused} reused): ${formatBytes(r.bytesBefore)} → ${sizes || "none"}`,
    `${formatBytes(r.bytes)} in ${seconds} s; ${r.written} objects written, ${r.deleted.length} deleted; releases kept: ${r.releases.join(", ")}`,
    ...(r.manifestOut ? [`manifest: ${r.manifestOut}`] : []),
  ];
}

export const collectstatic = defineCommand({
  name: "collectstatic",
  summary: "publish static files: hashed names, rewritten references, precompressed, incremental",
  description:
    "Collects the static files of the --source folders (default: the \"staticfiles\" folders of package.json; first found wins), gives them content-hashed names, rewrites the references between them (CSS url()/@import/image-set(), source maps), precompresses them (br, gzip, zstd siblings) and publishes what changed to the staticfiles storage (or --to). Writes the manifest to the target (staticfiles.json and .storages/releases/<release>.json) and to --manifest-out for the app's build. A run with nothing changed reads only the sources' stat data and the stored manifest. Keeps the files of the last --keep releases; deletes only files collectstatic wrote.",
  examples: [
    {
      command: "storages collectstatic --source ./assets --source ./dist",
      what: "to the staticfiles storage",
    },
    {
      command: "storages collectstatic --source ./node_modules/ui-kit/dist=ui-kit/",
      what: "a folder under a prefix",
    },
    {
      command: "storages collectstatic --source ./assets --to s3://app-static/static?region=eu-west-1",
      what: "to a URL",
    },
    { command: "storages collectstatic --source ./assets --dry-run --json", what: "what would be published" },
    {
      command: "storages collectstatic --source ./assets --release $GIT_SHA --keep 5 --strict",
      what: "in CI",
    },
  ],
  configure: (command) =>
    command
      .option(
        "--source <dir[=prefix]>",
        'a static source folder (repeatable; first found wins; default: "staticfiles" in package.json)',
        collect,
      )
      .option(
        "--packages",
        'also collect installed packages that declare "staticfiles" in their package.json',
      )
      .option(
        "--ignore <glob>",
        "leave out names matching (repeatable; default: dot files, *~, CVS/)",
        collect,
      )
      .option("--to <name|url>", "where to publish (default: the staticfiles storage)")
      .option("--dry-run", "compute and report; write nothing")
      .option("--clear", "first delete every file earlier runs wrote (never others)")
      .option("--keep <n>", "releases whose files are kept (default 3)", positiveInteger)
      .option("--strict", "a reference to a missing file is an error (nothing is published)")
      .option("--manifest-out <path>", "the app's copy of the manifest (default ./staticfiles.json)")
      .option("--no-manifest-out", "do not write the app's copy")
      .option("--no-compress", "no precompressed siblings")
      .option("--encodings <list>", "precompression encodings, comma-separated (default br,gzip,zstd)")
      .option("--modules", 'also rewrite relative ES module specifiers (import "./a.js")')
      .option("--no-originals", "do not also publish each file under its original name")
      .option("--base-url <path>", "path root-relative references start with (default /static/)")
      .option("--release <id>", "release id (default: derived from the files' hashes)")
      .option("--concurrency <n>", "uploads at once (default 8)", concurrencyOption)
      .option(
        "--lock-wait <duration>",
        "how long to wait while another run publishes to the target (default 10m; 0: fail at once)",
        lockWaitOption,
      )
      .option("--break-lock", "remove the target's lock first (the run that held it is known to be dead)"),
  async run(context, _args, options) {
    const staticfiles = await import("@storages/staticfiles");
    // --source flags, else the folders the app's package.json declares ("staticfiles").
    const sources: StaticSource[] = options.source
      ? options.source.map((text: string) => sourceOption(text, staticfiles.parseSourceSpec))
      : await staticfiles.appSources(context.cwd);
    if (sources.length === 0 && !options.packages) {
      throw new UsageError(
        'collectstatic needs the folders your static files are in: --source DIR (repeatable), or "staticfiles": ["assets", "dist=app/"] in package.json (or --packages).',
      );
    }
    const location = await context.resolve(targetAddress(options.to ?? "staticfiles", context.cwd), {
      write: true,
    });
    if (options.to !== undefined) await refuseOverlapWithStorages(context, options.to, location);
    const target = location.path === "" ? location.storage : prefixed(location.storage, location.path);
    // Both given, one of them is a mistake: say which to drop rather than silently keep the last.
    if (options.encodings !== undefined && options.compress === false)
      throw new UsageError(
        "--encodings and --no-compress contradict each other: drop --no-compress to precompress with those encodings, or drop --encodings.",
      );
    let encodings = options.compress === false ? [] : ENCODINGS;
    if (options.encodings !== undefined) {
      const list = String(options.encodings)
        .split(",")
        .map((e) => e.trim())
        .filter(Boolean);
      for (const e of list) {
        if (!(ENCODINGS as readonly string[]).includes(e))
          throw new UsageError(`--encodings: "${e}" is not one of ${ENCODINGS.join(", ")}.`);
      }
      encodings = list as typeof encodings;
    }
    const progress = context.progress();
    const show = (p: CollectProgress) => {
      if (p.phase !== "publish" && p.phase !== "compress" && p.phase !== "hash") return;
      progress.update({
        bytesDone: p.bytesDone,
        bytesKnown: p.phase === "publish" ? p.bytesTotal : undefined,
        filesDone: p.done,
        filesKnown: p.total,
        complete: true,
      });
    };
    let result: CollectResult;
    try {
      capYoungGeneration();
      result = await staticfiles.collectStatic({
        sources,
        packages: options.packages,
        ignore: options.ignore,
        target,
        cwd: context.cwd,
        baseUrlPath: options.baseUrl,
        release: options.release,
        keep: options.keep,
        dryRun: options.dryRun,
        clear: options.clear,
        strict: options.strict,
        encodings,
        rewriteModules: options.modules,
        originals: options.originals,
        manifestOut: options.manifestOut === false ? false : options.manifestOut,
        concurrency: options.concurrency,
        lockWaitMs: options.lockWait,
        breakLock: options.breakLock,
        onLockWait: (holder, waitMs) =>
          context.output.warn(
            `${staticfiles.describeHolder(holder)} is publishing to this target: waiting for it (at most ${Math.round(waitMs / 1000)} s: --lock-wait).`,
            "lock-wait",
          ),
        signal: context.signal,
        onProgress: show,
      });
    } finally {
      progress.stop();
      await location.close();
    }
    for (const warning of result.warnings) context.output.warn(warning.message, warning.code);
    const { manifest: _manifest, ...report } = result;
    context.output.summary(report, human);
    return EXIT.ok;
  },
});
