import { parseAddress } from "../address.js";
import { defineCommand } from "../command.js";
import { UsageError } from "../errors.js";
import { concurrencyOption, linkPolicy, skipLinksOption } from "./options.js";
import { runTransfer, stdoutEndpoint } from "./transfer-run.js";

export const get = defineCommand({
  name: "get",
  printsOnly: ([, dst]) => dst === "-",
  arguments: "<src> [dst]",
  summary: "download a file, or a folder (-r), to a local path or stdout (-)",
  description:
    "Downloads SRC to DST (default: the current folder). Into a folder a file keeps its name; otherwise it takes DST's name. Existing local files are replaced. Each file is written completely or not at all (a temporary file renamed at the end), also when interrupted.",
  examples: [
    { command: "storages get default:avatars/me.jpg", what: "→ ./me.jpg" },
    { command: "storages get default:avatars/me.jpg /tmp/x.jpg", what: "→ /tmp/x.jpg" },
    { command: "storages get -r default:exports/2024/ ./exports/", what: "a folder" },
    { command: "storages get backups:db/today.sql - | psql app", what: "to stdout" },
  ],
  configure: (command) =>
    skipLinksOption(
      command
        .option("-r, --recursive", "download a folder: everything below it, names kept")
        .option("--concurrency <n>", "files downloaded at once with -r (default 4)", concurrencyOption),
      "the download",
    ),
  async run(context, [srcText, dstText = "."], options) {
    const src = parseAddress(srcText!);
    if (src.kind === "stdio")
      throw new UsageError("get reads from an address, not stdin: use storages put - DST to upload stdin.");
    const dst = parseAddress(dstText);
    if (dst.kind === "named" || dst.kind === "url") {
      throw new UsageError(
        `get downloads to a local path or - (stdout), and ${dstText} is a storage address: to upload, use storages put; to copy between storages, pipe storages get SRC - | storages put - DST.`,
      );
    }
    // A local folder as source (get -r ./folder ./copy) is read as put -r reads one.
    const source = await context.resolve(srcText!, { links: linkPolicy(options) });
    const target =
      dst.kind === "stdio" ? stdoutEndpoint(context.stdout) : await context.resolve(dstText, { write: true });
    return runTransfer(
      context,
      source,
      target,
      { recursive: options.recursive, concurrency: options.concurrency },
      "downloaded",
    );
  },
});
