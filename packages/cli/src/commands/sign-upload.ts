import { shellQuote } from "@storages/core";
import { defineCommand } from "../command.js";
import { UsageError } from "../errors.js";
import { columns, formatBytes } from "../format.js";
import { isAbsoluteUrl, type SignedUploadReport, signUpload } from "../ops/urls.js";
import { contentTypeOption, expiresOption, sizeOption } from "./options.js";

/**
 * Where curl sends a signed URL that is a path on the app's own site (an fs storage signs for where
 * createFsHandler is mounted, e.g. `signingBaseUrl=/private/`): a placeholder the user replaces,
 * under a reserved domain that never resolves to anyone's server.
 */
const ORIGIN_PLACEHOLDER = "https://YOUR-SITE.example";

/** A curl command that performs the upload: the quickest way to check one, and a reference for clients. */
function curlFor(upload: SignedUploadReport): string {
  const { url } = upload;
  const target = shellQuote(
    isAbsoluteUrl(url) ? url : `${ORIGIN_PLACEHOLDER}${url.startsWith("/") ? "" : "/"}${url}`,
  );
  if (upload.method === "PUT") {
    const headers = Object.entries(upload.headers).map(([k, v]) => `-H ${shellQuote(`${k}: ${v}`)} `);
    return `curl -X PUT ${headers.join("")}--data-binary @FILE ${target}`;
  }
  const fields = Object.entries(upload.fields).map(([k, v]) => `-F ${shellQuote(`${k}=${v}`)} `);
  return `curl ${fields.join("")}-F file=@FILE ${target}`;
}

export const signUploadCommand = defineCommand({
  name: "sign-upload",
  arguments: "<address>",
  summary: "print a signed upload (method, URL, fields, headers) a client can use without credentials",
  description:
    "Prints what an HTTP client (a browser, curl) must send to upload one file without credentials: the method, the URL, the form fields (POST) or headers (PUT), the name the file will have, and when it expires. With the storage's default overwrite: false the name gets a fresh suffix now; --overwrite keeps it. A URL that is a path on the app's own site (an fs storage with signingBaseUrl=/media/) is printed as it is signed; the curl command puts https://YOUR-SITE.example in front of it, to replace with that site's origin.",
  examples: [
    { command: "storages sign-upload default:avatars/me.png --content-type image/png", what: "a PUT upload" },
    {
      command: "storages sign-upload --max-bytes 10MiB --method post default:uploads/x.bin",
      what: "a size-limited POST",
    },
    { command: "storages sign-upload --json default:a.txt | jq .url", what: "for scripts" },
  ],
  configure: (command) =>
    command
      .option("--expires <duration>", "lifetime: 600, 10m, 1h (default: the storage's)")
      .option("--content-type <type>", "the Content-Type the client must send: a MIME type (image/png)")
      .option(
        "--max-bytes <size>",
        "largest body the server accepts, 1 or more (needs a method that enforces it)",
      )
      .option("--method <put|post>", "default: PUT, or POST when --max-bytes needs it")
      .option("--overwrite", "keep the name as given (replace an existing file)")
      .option("--no-overwrite", "give the name a fresh suffix (the default for media storages)"),
  async run(context, [address], options) {
    const method = options.method === undefined ? undefined : String(options.method).toLowerCase();
    if (method !== undefined && method !== "put" && method !== "post") {
      throw new UsageError(`--method is put or post, not "${options.method}".`);
    }
    const expiresIn = expiresOption(options.expires);
    const contentType = contentTypeOption(options.contentType);
    const maxBytes = sizeOption(options.maxBytes, "--max-bytes", { min: 1 });
    const location = await context.resolve(address!, { write: true });
    const upload = await signUpload(location, {
      expiresIn,
      contentType,
      maxBytes,
      method: method as "put" | "post" | undefined,
      overwrite: options.overwrite,
      signal: context.signal,
    });
    if (!isAbsoluteUrl(upload.url)) {
      context.output.note(
        `note: the URL is a path on the site that serves this storage (where the app mounts createFsHandler): in the curl command, replace ${ORIGIN_PLACEHOLDER} with that site's origin.`,
      );
    }
    context.output.result(
      { ...upload, address: location.display(upload.name), curl: curlFor(upload) },
      (u) => {
        const rows = [
          ["method", u.method],
          ["url", u.url],
          ...Object.entries(u.headers).map(([k, v]) => ["header", `${k}: ${v}`]),
          ...Object.entries(u.fields).map(([k, v]) => ["field", `${k}=${v}`]),
          ["name", u.name],
          ["address", u.address],
          ["expires", u.expiresAt],
        ];
        if (u.maxBytes !== undefined) rows.push(["max bytes", `${u.maxBytes} (${formatBytes(u.maxBytes)})`]);
        return [...columns(rows), "", u.curl];
      },
    );
    return undefined;
  },
});
