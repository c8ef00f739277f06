import { defineCommand } from "../command.js";
import { UsageError } from "../errors.js";
import { fileUrl, isAbsoluteUrl } from "../ops/urls.js";
import { expiresOption } from "./options.js";

export const url = defineCommand({
  name: "url",
  arguments: "<address>",
  summary: "print a file's URL: public, or signed and expiring",
  description:
    "Prints the URL to hand a browser: a public storage's public (or CDN) URL, a private storage's signed URL. --expires or --download ask for a signed URL (a public URL can neither expire nor force a download).",
  examples: [
    { command: "storages url default:avatars/me.jpg", what: "public or signed, by the storage's visibility" },
    { command: "storages url --expires 10m private:invoices/2024-01.pdf", what: "signed, valid 10 minutes" },
    {
      command: "storages url --download invoice.pdf private:invoices/2024-01.pdf",
      what: "browsers save it as invoice.pdf",
    },
    { command: "storages url --json --signed default:a.jpg | jq -r .url", what: "for scripts" },
  ],
  configure: (command) =>
    command
      .option("--expires <duration>", "lifetime of a signed URL: 600, 10m, 1h, 7d (default: the storage's)")
      .option("--download [name]", "make browsers download the file (with this name)")
      .option("--signed", "a signed URL, even for a public storage")
      .option("--public", "the public URL, even for a private storage (it may not be readable)"),
  async run(
    context,
    [address],
    options: { expires?: string; download?: string | boolean; signed?: boolean; public?: boolean },
  ) {
    if (options.signed && options.public)
      throw new UsageError("--signed and --public exclude each other: keep one.");
    // `--download ""` (an unset variable) signed a URL that downloads nothing: say so instead.
    if (typeof options.download === "string" && options.download.trim() === "")
      throw new UsageError(
        "--download is empty: give the name browsers save the file under, or --download alone, after the address (storages url ADDRESS --download), for the file's own name.",
      );
    const expiresIn = expiresOption(options.expires);
    const location = await context.resolve(address!);
    const result = await fileUrl(location, {
      kind: options.signed ? "signed" : options.public ? "public" : "auto",
      expiresIn,
      download: options.download,
      signal: context.signal,
    });
    // A local storage's baseUrl is often a path ("/media/"): the URL is the app's to serve, under
    // its own origin; a script that fetches it as it is gets nothing.
    // The note never repeats the URL: a signed one carries its signature, and stderr goes to logs.
    if (!isAbsoluteUrl(result.url)) {
      context.output.warn(
        `The URL is relative: the app serves it, under its own origin. For an absolute one, set the storage's ${result.signed ? "signingBaseUrl=" : "publicUrl= (or baseUrl=)"} to a URL with a scheme and host.`,
        "relative-url",
      );
    }
    context.output.result(result, (r) => r.url);
    return undefined;
  },
});
