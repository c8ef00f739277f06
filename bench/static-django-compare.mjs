#!/usr/bin/env node
/**
 * collectstatic vs Django's ManifestStaticFilesStorage, reference by reference, on the corpus of
 * ../shared/reference/static-bench (gen_corpus.py) and on edge cases Django gets wrong.
 *
 *   node bench/static-django-compare.mjs [CORPUS_DIR]     (default /tmp/static-bench)
 *
 * Needs Debian's python3-django (3.2) at /usr/bin/python3 and the corpus generated
 * (`/usr/bin/python3 gen_corpus.py --out /tmp/static-bench/assets`; the Django project djproj/
 * copied to /tmp/static-bench/djproj). A bench script, not a CI test: it needs apt packages and a
 * 78 MB corpus that CI does not carry.
 *
 * 1. Runs Django's ManifestStaticFilesStorage and ours on the same sources.
 * 2. For every CSS file, lists its references with our parser in the source, in Django's output and
 *    in ours (same order: both only replace URLs). Every reference Django rewrote must be rewritten
 *    by ours to a published file that exists and is the same original file, with the same query
 *    and fragment.
 * 3. Edge cases, each run by both: a missing source map, a missing url() target, an @import chain
 *    deeper than Django's 5 passes, image-set().
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { dirname, join, posix } from "node:path";
import { fsStorage } from "@storages/fs";
import { collectStatic, initParsers, parseReferences, resolveReference } from "@storages/staticfiles";

const LB = process.argv[2] ?? "/tmp/static-bench";
const PY = "/usr/bin/python3";
const DJ = join(LB, "djproj");
const SOURCES = [
  { dir: join(LB, "assets/django-admin"), prefix: "" },
  { dir: join(LB, "assets/frontend"), prefix: "" },
  { dir: join(LB, "assets/vendor"), prefix: "vendor" },
];

function django(assets, root) {
  try {
    const out = execFileSync(PY, ["manage.py", "collectstatic", "--noinput"], {
      cwd: DJ,
      env: { ...process.env, LB_STORAGE: "manifest", LB_STATIC_ROOT: root, LB_ASSETS: assets },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    return { ok: true, out };
  } catch (error) {
    const text = `${error.stdout ?? ""}${error.stderr ?? ""}`.trim().split("\n");
    return { ok: false, out: text.slice(-1)[0] };
  }
}

async function ours(sources, root) {
  await rm(root, { recursive: true, force: true });
  const target = fsStorage({ root });
  try {
    return await collectStatic({
      sources,
      target,
      cwd: root,
      manifestOut: false,
      encodings: [],
      cacheDir: join(root, "..", "cache-compare"),
    });
  } finally {
    await target.close();
  }
}

function splitUrl(url) {
  const cut = url.search(/[?#]/);
  return cut < 0 ? { path: url, suffix: "" } : { path: url.slice(0, cut), suffix: url.slice(cut) };
}

async function compareCorpus() {
  if (!existsSync(join(LB, "assets"))) throw new Error(`No corpus at ${LB}/assets: run gen_corpus.py first.`);
  const djRoot = join(LB, "cmp-django");
  const ourRoot = join(LB, "cmp-ours");
  await rm(djRoot, { recursive: true, force: true });
  const dj = django(join(LB, "assets"), djRoot);
  if (!dj.ok) throw new Error(`Django failed on the corpus: ${dj.out}`);
  const djPaths = JSON.parse(await readFile(join(djRoot, "staticfiles.json"), "utf8")).paths;
  const djOriginal = new Map(Object.entries(djPaths).map(([o, h]) => [h, o]));
  const result = await ours(SOURCES, ourRoot);
  const files = result.manifest.files;
  const ourOriginal = new Map(Object.entries(files).map(([o, e]) => [e.name, o]));
  await initParsers();
  const stats = { cssFiles: 0, references: 0, djangoRewrote: 0, oursToo: 0, oursOnly: 0, problems: [] };
  for (const [original, djName] of Object.entries(djPaths)) {
    if (!original.endsWith(".css")) continue;
    stats.cssFiles++;
    // The source Django used: the first source that has it (its finder order, as ours).
    const source = SOURCES.map((s) => {
      const rel = s.prefix ? original.slice(s.prefix.length + 1) : original;
      if (s.prefix && !original.startsWith(`${s.prefix}/`)) return undefined;
      return join(s.dir, rel);
    }).find((p) => p && existsSync(p));
    const srcText = await readFile(source, "utf8");
    const djText = await readFile(join(djRoot, djName), "utf8");
    const ourText = await readFile(join(ourRoot, files[original].name), "utf8");
    const a = parseReferences("css", srcText, original).references;
    const b = parseReferences("css", djText, djName).references;
    const c = parseReferences("css", ourText, files[original].name).references;
    if (a.length !== b.length || a.length !== c.length) {
      stats.problems.push(
        `${original}: ${a.length} references in the source, ${b.length} in Django's, ${c.length} in ours`,
      );
      continue;
    }
    for (let i = 0; i < a.length; i++) {
      stats.references++;
      const src = a[i].url;
      const theirs = b[i].url;
      const mine = c[i].url;
      if (mine !== src && theirs === src) stats.oursOnly++;
      if (theirs === src) continue;
      stats.djangoRewrote++;
      if (mine === src) {
        stats.problems.push(`${original}:${a[i].line}: Django rewrote ${src} → ${theirs}; ours left it`);
        continue;
      }
      const theirTarget = resolveReference(theirs, djName, "/static/");
      const myTarget = resolveReference(mine, files[original].name, "/static/");
      if (theirTarget.kind !== "file" || myTarget.kind !== "file") {
        stats.problems.push(`${original}:${a[i].line}: ${theirs} / ${mine} do not both name files`);
        continue;
      }
      if (!existsSync(join(ourRoot, myTarget.name))) {
        stats.problems.push(`${original}:${a[i].line}: ours names ${myTarget.name}, which was not published`);
        continue;
      }
      const same = djOriginal.get(theirTarget.name) === ourOriginal.get(myTarget.name);
      const sameSuffix = splitUrl(theirs).suffix === splitUrl(mine).suffix;
      if (!same || !sameSuffix) {
        stats.problems.push(
          `${original}:${a[i].line}: Django → ${theirs} (${djOriginal.get(theirTarget.name)}), ours → ${mine} (${ourOriginal.get(myTarget.name)})`,
        );
        continue;
      }
      stats.oursToo++;
    }
  }
  return { stats, warnings: result.warnings.length };
}

async function edgeCase(name, files) {
  const base = join(LB, "edge", name);
  await rm(base, { recursive: true, force: true });
  for (const dir of ["django-admin", "frontend", "vendor"])
    await mkdir(join(base, "assets", dir), { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    const path = join(base, "assets/frontend", file);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, text);
  }
  const dj = django(join(base, "assets"), join(base, "django"));
  const result = await ours([{ dir: join(base, "assets/frontend") }], join(base, "ours"));
  return { name, django: dj.ok ? "ok" : `FAILED: ${dj.out}`, ours: result, base };
}

async function rewrittenIn(root, name, result) {
  return readFile(join(root, result.manifest.files[name].name), "utf8");
}

// Two chains of 12 imports, one named upwards and one downwards: whatever order Django's finder
// lists a folder in, one of them needs more than its 5 passes.
const deep = {};
const LEVELS = 12;
for (const chain of ["up", "down"]) {
  for (let i = 0; i < LEVELS; i++) {
    const n = chain === "up" ? i : LEVELS - 1 - i;
    const next = chain === "up" ? i + 1 : LEVELS - 2 - i;
    deep[`css/${chain}${n}.css`] =
      i < LEVELS - 1 ? `@import "${chain}${next}.css";\n.l${n}{}` : `.l${n}{background:url(../img/x.png)}`;
  }
}
deep["img/x.png"] = "png";

const corpus = await compareCorpus();
console.log("## Corpus: every reference Django rewrites, checked against ours\n");
console.log(`CSS files: ${corpus.stats.cssFiles}; references: ${corpus.stats.references}`);
console.log(
  `Django rewrote ${corpus.stats.djangoRewrote}; ours rewrote ${corpus.stats.oursToo} of those to the same file (existing, same query/fragment)`,
);
console.log(
  `ours also rewrote ${corpus.stats.oursOnly} that Django left as written; our warnings: ${corpus.warnings}`,
);
console.log(`problems: ${corpus.stats.problems.length}`);
for (const p of corpus.stats.problems.slice(0, 20)) console.log(`  ${p}`);

console.log("\n## Edge cases\n");
console.log("| case | Django 3.2 ManifestStaticFilesStorage | storages collectstatic |");
console.log("|---|---|---|");
const cases = [
  await edgeCase("missing-source-map", {
    "css/app.css": `.a{}\n/*# sourceMappingURL=app.css.map */\n`,
    "js/app.js": `a();\n//# sourceMappingURL=app.js.map\n`,
  }),
  await edgeCase("missing-url-target", {
    "css/app.css": `.a{background:url(../img/gone.png)}\n.b{color:red}`,
  }),
  await edgeCase("deep-import-chain", deep),
  await edgeCase("image-set", {
    "css/app.css": `.a{background-image:image-set("../img/a.png" 1x, "../img/a@2x.png" 2x)}`,
    "img/a.png": "a",
    "img/a@2x.png": "a2",
  }),
];
for (const c of cases) {
  let oursText = `ok, ${c.ours.warnings.length} warning(s)`;
  if (c.name === "deep-import-chain") {
    // Every link of both chains names the final hashed name of the next file.
    let good = 0;
    for (const [name, text] of Object.entries(deep)) {
      if (!name.endsWith(".css")) continue;
      const out = await rewrittenIn(join(c.base, "ours"), name, c.ours);
      const ref = parseReferences("css", out, name).references[0];
      const to = resolveReference(ref.url, c.ours.manifest.files[name].name, "/static/");
      const meant = resolveReference(parseReferences("css", text, name).references[0].url, name, "/static/");
      if (to.kind === "file" && meant.kind === "file" && c.ours.manifest.files[meant.name].name === to.name)
        good++;
    }
    oursText += `; ${good} of ${LEVELS * 2} links name the final hashed file`;
  }
  let djangoText = c.django;
  if (c.name === "image-set") {
    const text = await rewrittenIn(join(c.base, "ours"), "css/app.css", c.ours);
    oursText += `; ${text.match(/image-set\([^)]*\)/)?.[0]}`;
    if (c.django === "ok") {
      const paths = JSON.parse(await readFile(join(c.base, "django/staticfiles.json"), "utf8")).paths;
      const theirs = await readFile(join(c.base, "django", paths["css/app.css"]), "utf8");
      djangoText = `ok, but not rewritten: ${theirs.match(/image-set\([^)]*\)/)?.[0]}`;
    }
  }
  if (c.name === "missing-source-map" && c.django === "ok") {
    const paths = JSON.parse(await readFile(join(c.base, "django/staticfiles.json"), "utf8")).paths;
    const theirs = await readFile(join(c.base, "django", paths["css/app.css"]), "utf8");
    djangoText = `ok (3.2 does not read source maps: \`${theirs.trim().split("\n").pop()}\`; 4.x fails the run on a missing map)`;
  }
  console.log(`| ${c.name} | ${djangoText.replaceAll("|", "\\|")} | ${oursText.replaceAll("|", "\\|")} |`);
}
void posix;
