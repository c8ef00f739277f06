#!/usr/bin/env node
/**
 * `npm run pack-check`: what users install is what we test.
 *
 * 1. builds, then `npm pack`s every publishable package (packages/*) and checks each tarball: a
 *    LICENSE and README, no *.tsbuildinfo, repository/homepage/bugs/keywords, and @storages/core as
 *    a peer dependency (never a dependency) of the drivers and testing;
 * 2. creates a project OUTSIDE the workspace (a temporary folder, removed afterwards), installs the
 *    tarballs there (third-party dependencies from npm's cache, else the registry), typechecks the
 *    apps in scripts/pack-check/ as a strict consumer (strict, exactOptionalPropertyTypes,
 *    skipLibCheck off) and runs them: the README quick start and named storages from the
 *    environment; runs the installed `storages` bin through npx (--help, and a put/ls/cat round
 *    trip);
 * 3. copies @storages/core a second time under @storages/fs (as npm nests a second version) and
 *    runs scripts/pack-check/two-copies.ts: errors, the registry and mirror() across the copies.
 *
 * Called by .ci/run after the tests (not by `npm test`: it checks packaging, installs a project of
 * its own and needs no server; `npm test` stays the tests against the servers).
 */
import { spawn } from "node:child_process";
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { toolCommand, toolEnv } from "./tool.mjs";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const APPS = join(ROOT, "scripts", "pack-check");
const problems = [];

function run(command, args, { cwd = ROOT, capture = false, input, env = {} } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd,
      env: { ...toolEnv(), ...env },
      stdio: [input === undefined ? "ignore" : "pipe", capture ? "pipe" : "inherit", "inherit"],
    });
    child.stdin?.end(input);
    let out = "";
    child.stdout?.on("data", (chunk) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(out) : reject(new Error(`\`${command} ${args.join(" ")}\` exited with ${code}`)),
    );
  });
}

async function publishablePackages() {
  const found = [];
  for (const dir of (await readdir(join(ROOT, "packages"))).sort()) {
    const manifest = JSON.parse(await readFile(join(ROOT, "packages", dir, "package.json"), "utf8"));
    if (!manifest.private) found.push({ dir, manifest });
  }
  return found;
}

/** What every tarball must hold and declare. */
function checkTarball({ dir, manifest }, files) {
  const where = manifest.name;
  const paths = files.map((f) => f.path);
  for (const required of ["LICENSE", "README.md", "package.json"])
    if (!paths.includes(required)) problems.push(`${where}: the tarball has no ${required}`);
  for (const path of paths.filter((p) => p.endsWith(".tsbuildinfo")))
    problems.push(`${where}: the tarball contains build state ${path}`);
  if (!paths.some((p) => p === "dist/index.js") || !paths.some((p) => p === "dist/index.d.ts"))
    problems.push(`${where}: the tarball has no dist/index.js and dist/index.d.ts (built?)`);
  if (manifest.repository?.directory !== `packages/${dir}`)
    problems.push(`${where}: repository.directory must be "packages/${dir}"`);
  for (const field of ["homepage", "bugs", "license"])
    if (!manifest[field]) problems.push(`${where}: package.json has no ${field}`);
  if (!manifest.keywords?.length) problems.push(`${where}: package.json has no keywords`);
  if (manifest.name !== "@storages/core") {
    if (manifest.dependencies?.["@storages/core"])
      problems.push(`${where}: @storages/core must be a peer dependency, not a dependency`);
    if (!manifest.peerDependencies?.["@storages/core"])
      problems.push(`${where}: @storages/core is not a peer dependency`);
  }
}

const packages = await publishablePackages();
const work = await mkdtemp(join(tmpdir(), "storages-pack-check-"));
let failed = false;
const cleanUp = () => rm(work, { recursive: true, force: true });
for (const signal of ["SIGINT", "SIGTERM"])
  process.once(signal, () => cleanUp().finally(() => process.exit(130)));
try {
  console.log("pack-check: building");
  await run(...toolCommand("turbo", ["run", "build", "--output-logs=errors-only"]));

  const tarballs = join(work, "tarballs");
  await mkdir(tarballs);
  const packed = JSON.parse(
    await run(
      "npm",
      [
        "pack",
        "--json",
        "--pack-destination",
        tarballs,
        ...packages.map((p) => `--workspace=packages/${p.dir}`),
      ],
      { capture: true },
    ),
  );
  for (const pkg of packages) {
    const entry = packed.find((p) => p.name === pkg.manifest.name);
    if (!entry) problems.push(`${pkg.manifest.name}: npm pack produced no tarball`);
    else checkTarball(pkg, entry.files);
  }
  console.log(
    `pack-check: packed ${packed.map((p) => `${p.name} (${(p.size / 1024).toFixed(0)} KiB)`).join(", ")}`,
  );

  // A consumer project outside the workspace: nothing resolves to the repository's sources.
  const app = join(work, "app");
  await mkdir(app);
  const rootManifest = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8"));
  const dependencies = Object.fromEntries(packed.map((p) => [p.name, `file:${join(tarballs, p.filename)}`]));
  for (const tool of ["typescript", "@types/node"]) dependencies[tool] = rootManifest.devDependencies[tool];
  await writeFile(
    join(app, "package.json"),
    `${JSON.stringify({ name: "pack-check-app", private: true, type: "module", dependencies }, null, 2)}\n`,
  );
  for (const file of await readdir(APPS)) await cp(join(APPS, file), join(app, file));
  console.log(`pack-check: installing the tarballs into ${app}`);
  await run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: app,
  });

  const node = (file) => run(process.execPath, ["--disable-warning=ExperimentalWarning", file], { cwd: app });
  console.log(
    "pack-check: typechecking against the published .d.ts (strict, exactOptionalPropertyTypes, skipLibCheck off)",
  );
  await run(process.execPath, [join(app, "node_modules", "typescript", "bin", "tsc"), "-p", app], {
    cwd: app,
  });
  await node("quickstart.ts");
  await node("registry.ts");
  await node("drivers.ts");
  await node("cli.ts");
  await node("uploads.ts");

  // The storages command, as an app runs it: npx resolves the installed bin.
  console.log("pack-check: npx storages --help, and put/ls/cat through the installed bin");
  const storagesCli = (args, options = {}) =>
    run("npx", ["--no", "--", "storages", ...args], {
      cwd: app,
      capture: true,
      ...options,
      env: { STORAGES_DEFAULT: `file://${join(app, "cli-media")}`, ...options.env },
    });
  const help = await storagesCli(["--help"]);
  for (const command of [
    "ls",
    "stat",
    "cat",
    "put",
    "get",
    "rm",
    "copy",
    "sync",
    "verify",
    "url",
    "sign-upload",
    "config",
  ]) {
    if (!new RegExp(`^  ${command} `, "m").test(help))
      problems.push(`@storages/cli: storages --help does not list ${command}`);
  }
  const put = JSON.parse(
    await storagesCli(["--json", "put", "-", "default:notes/hello.txt"], { input: "hello from the tarball" }),
  );
  if (put.copied !== 1) problems.push(`@storages/cli: put reported ${JSON.stringify(put)}`);
  const listed = await storagesCli(["ls", "-r", "default:"]);
  if (listed !== "notes/hello.txt\n") problems.push(`@storages/cli: ls printed ${JSON.stringify(listed)}`);
  const cat = await storagesCli(["cat", "default:notes/hello.txt"]);
  if (cat !== "hello from the tarball") problems.push(`@storages/cli: cat printed ${JSON.stringify(cat)}`);
  const backup = `file://${join(app, "cli-backup")}/`;
  const copied = JSON.parse(await storagesCli(["--json", "copy", "default:", backup]));
  const verified = JSON.parse(await storagesCli(["--json", "verify", "default:", backup]));
  if (copied.copied?.files !== 1 || verified.ok !== true || verified.equal?.files !== 1)
    problems.push(`@storages/cli: copy/verify reported ${JSON.stringify({ copied, verified })}`);

  // A second copy of core, nested under one driver, as npm installs a second version.
  const core = join(app, "node_modules", "@storages", "core");
  const nested = join(app, "node_modules", "@storages", "fs", "node_modules", "@storages", "core");
  await mkdir(dirname(nested), { recursive: true });
  await cp(core, nested, { recursive: true });
  await node("two-copies.ts");
} catch (error) {
  failed = true;
  console.error(`pack-check: ${error?.message ?? error}`);
} finally {
  await cleanUp();
}
for (const problem of problems) console.error(`pack-check: ${problem}`);
if (failed || problems.length) {
  console.error("pack-check: FAILED");
  process.exit(1);
}
console.log("pack-check: every package packs, installs, typechecks and runs outside the workspace");
