// Stores files in a local folder, serves them over HTTP the way a bucket would, and shows every kind
// of URL working: a public one, a signed one (and a tampered copy refused), and a signed upload.
//
//   node examples/local/main.js           run the tour; in a terminal, keep serving it until Ctrl-C
//   node examples/local/main.js --once    run the tour and exit (0 when every check passed)
//   node examples/local/main.js --serve   keep serving even when not in a terminal
//
// Every URL it prints answers while it runs: it stays up in a terminal, and when it exits (not a
// terminal, CI, --once) it says that the URLs above are gone with it.
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StorageError } from "@storages/core";
import { createFsHandler, fsStorage } from "@storages/fs";

const interactive = Boolean(process.stdin.isTTY && process.stdout.isTTY) && !process.env.CI;
const keepServing = process.argv.includes("--serve") || (interactive && !process.argv.includes("--once"));
const port = Number(process.env.PORT ?? 0);
const folder = await mkdtemp(join(tmpdir(), "storages-demo-"));

let failures = 0;
function check(ok, what) {
  console.log(`  ${ok ? "ok  " : "FAIL"} ${what}`);
  if (!ok) failures += 1;
}

// A real application reads the key from STORAGES_<NAME>_SIGNING_SECRET; the demo makes a fresh one.
const signingKey = randomBytes(32);
const server = createServer();
server.listen(port, "127.0.0.1");
await once(server, "listening");
const origin = `http://127.0.0.1:${server.address().port}`;

// Two storages, two folders: public media (plain URLs) and private documents (signed URLs only).
const media = fsStorage({ root: join(folder, "media"), baseUrl: `${origin}/media/` });
const documents = fsStorage({
  root: join(folder, "private"),
  signing: { key: signingKey, baseUrl: `${origin}/private/` },
});
const serveMedia = createFsHandler(media);
const serveDocuments = createFsHandler(documents);
server.on("request", (req, res) => {
  if (req.url === "/") {
    index().then(
      (html) => res.writeHead(200, { "content-type": "text/html; charset=utf-8" }).end(html),
      () => res.writeHead(500).end(),
    );
    return;
  }
  serveMedia(req, res, () =>
    serveDocuments(req, res, () => {
      res.writeHead(404, { "content-type": "text/plain" }).end("Not found\n");
    }),
  );
});

/** The page at "/": every stored file, as a public URL or a signed URL made for this request. */
async function index() {
  const html = (text) => text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const items = [];
  for (const [label, storage] of [
    ["media (public)", media],
    ["private (signed, valid 10 minutes)", documents],
  ]) {
    for await (const entry of storage.list("", { recursive: true })) {
      const href = await storage.url(entry.name, { expiresIn: 600 });
      items.push(`<li>${label}: <a href="${html(href)}">${html(entry.name)}</a> (${entry.size} bytes)</li>`);
    }
  }
  return `<!doctype html><title>storages local demo</title><h1>storages local demo</h1><ul>${items.join("")}</ul>\n`;
}

try {
  console.log(`storages local demo — files in ${folder}, served at ${origin}\n`);

  console.log("1. save");
  const first = await media.save("avatars/ada.txt", "Ada Lovelace's avatar (pretend it is a JPEG)\n");
  const second = await media.save("avatars/ada.txt", "another upload with the same name\n");
  console.log(`  saved ${first.name} (${first.size} bytes) and ${second.name}: the taken name got a suffix`);
  check(second.name !== first.name, "a second upload never replaces the first");
  const invoice = await documents.save("invoices/2024-001.txt", "Invoice 2024-001: 3 × tea, 4.50 EUR\n");
  console.log(`  saved private ${invoice.name}`);

  console.log("\n2. public URL");
  const publicUrl = await media.url(first.name);
  console.log(`  ${publicUrl}`);
  const publicResponse = await fetch(publicUrl);
  check(
    publicResponse.status === 200,
    `GET → ${publicResponse.status} ${publicResponse.headers.get("content-type")}`,
  );
  check((await publicResponse.text()).startsWith("Ada"), "body is the saved file");

  console.log("\n3. signed URL of a private file (valid 10 minutes, as a download)");
  const signedUrl = await documents.signedUrl(invoice.name, { expiresIn: 600, download: "invoice.txt" });
  console.log(`  ${signedUrl}`);
  const signedResponse = await fetch(signedUrl);
  check(
    signedResponse.status === 200,
    `GET → ${signedResponse.status}, ${signedResponse.headers.get("content-disposition")}`,
  );
  check((await signedResponse.text()).startsWith("Invoice"), "body is the private file");
  const unsigned = await fetch(`${origin}/private/${invoice.name}`);
  check(unsigned.status === 403, `the same file without a signature → ${unsigned.status}`);
  const tampered = signedUrl.replace("2024-001", "2024-002");
  const tamperedResponse = await fetch(tampered);
  check(
    tamperedResponse.status === 403,
    `a tampered URL → ${tamperedResponse.status} (${(await tamperedResponse.text()).trim()})`,
  );

  console.log("\n4. signed upload (what a browser would do), limited to 1 KiB");
  const upload = await documents.signedUpload("uploads/note.txt", {
    contentType: "text/plain",
    maxBytes: 1024,
    expiresIn: 300,
  });
  const put = await fetch(upload.url, {
    method: "PUT",
    headers: upload.headers,
    body: "uploaded by a browser\n",
  });
  check(put.status === 200, `PUT ${upload.name} → ${put.status}`);
  check((await documents.readText(upload.name)) === "uploaded by a browser\n", "the upload is stored");
  const tooBig = await fetch(upload.url, { method: "PUT", headers: upload.headers, body: "x".repeat(2048) });
  check(tooBig.status === 413, `PUT of 2 KiB → ${tooBig.status}, nothing kept`);

  console.log("\n5. what is stored");
  for (const storage of [media, documents]) {
    for await (const entry of storage.list("", { recursive: true })) {
      console.log(`  ${storage === media ? "media  " : "private"} ${entry.name} (${entry.size} bytes)`);
    }
  }

  console.log("\n6. errors are typed");
  try {
    await media.readText("../private/invoices/2024-001.txt");
    check(false, "a path traversal was refused");
  } catch (error) {
    check(
      StorageError.isInstance(error) && error.code === "E_PATH_TRAVERSAL",
      `path traversal → ${error.code}`,
    );
  }
} catch (error) {
  failures += 1;
  console.error("\nThe demo failed:", error);
}

console.log(failures === 0 ? "\nAll checks passed." : `\n${failures} check(s) failed.`);
if (keepServing && failures === 0) {
  console.log(`\nStill serving: open ${origin}/ for a page linking every file (files in ${folder}).`);
  console.log("Press Ctrl-C to stop; the folder is removed then.");
  const stop = async () => {
    server.closeAllConnections();
    server.close();
    await rm(folder, { recursive: true, force: true });
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
} else {
  server.closeAllConnections();
  server.close();
  await rm(folder, { recursive: true, force: true });
  console.log(
    `Stopped serving ${origin}: the URLs above answered during the tour and are gone now. ` +
      "Run `node examples/local/main.js` in a terminal (or add --serve) to keep them up.",
  );
  process.exitCode = failures === 0 ? 0 : 1;
}
