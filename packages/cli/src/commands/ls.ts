import { type ListEntry, printableName } from "@storages/core";
import { defineCommand } from "../command.js";
import { formatDate } from "../format.js";
import { noStoragesNote } from "../ops/config.js";
import { list } from "../ops/files.js";
import { linkPolicy, skipLinksOption } from "./options.js";

/** What `ls --json` prints per entry (one JSON line each). */
export interface ListedEntry {
  type: "file" | "directory";
  /** Storage-relative name. */
  name: string;
  /** The entry as an address (`default:avatars/me.jpg`). */
  address: string;
  size?: number | undefined;
  lastModified?: string | undefined;
  etag?: string | undefined;
}

export const ls = defineCommand({
  name: "ls",
  printsOnly: true,
  arguments: "[address]",
  summary: "list a folder (or the configured storages, with no address)",
  description:
    "Lists the files and folders at an address: one level, or every file below it with -r. A file's address lists that file. With no address, lists the configured storages. --json prints one JSON object per line (NDJSON).",
  examples: [
    { command: "storages ls", what: "the configured storages" },
    { command: "storages ls default:", what: "the top level of the default storage" },
    {
      command: "storages ls -r --long default:avatars/",
      what: "every file below avatars/, with size and date",
    },
    { command: "storages ls 's3://bucket/exports/?region=eu-west-1'", what: "a bucket, by URL" },
    { command: "storages ls --json -r staticfiles: | jq -r .name", what: "names, for scripts" },
  ],
  configure: (command) =>
    skipLinksOption(
      command
        .option("-r, --recursive", "every file below the folder, not one level")
        .option("-l, --long", "show size, date and ETag"),
      "ls -r",
    ),
  async run(context, [address], options: { recursive?: boolean; long?: boolean; skipLinks?: boolean }) {
    const { output } = context;
    if (address === undefined) {
      const storages = await context.registry().describe();
      if (storages.length === 0) output.note(noStoragesNote(context.cwd));
      for (const s of storages) {
        output.item(
          {
            name: s.name,
            backend: s.backend,
            location: s.location,
            visibility: s.visibility,
            readOnly: s.readOnly,
          },
          (v) => `${`${v.name}:`.padEnd(16)} ${v.backend.padEnd(6)} ${v.visibility.padEnd(8)} ${v.location}`,
        );
      }
      return undefined;
    }
    // Every file below a local folder, or an error naming the linked folder that hides some; one
    // level shows what the folder holds as a storage sees it (a link to a folder left out).
    const location = await context.resolve(address, {
      links: options.recursive ? linkPolicy(options) : undefined,
    });
    const prefix = location.path === "" || location.path.endsWith("/") ? location.path : `${location.path}/`;
    // A bucket filled by other tools may hold a name with a line break or an escape sequence.
    const shown = (name: string) => printableName(name.startsWith(prefix) ? name.slice(prefix.length) : name);
    const line = (entry: ListEntry): string => {
      const name = entry.type === "directory" ? `${shown(entry.name)}/` : shown(entry.name);
      if (!options.long) return entry.type === "directory" ? output.style("cyan", name) : name;
      if (entry.type === "directory")
        return `${"".padEnd(20)}  ${"DIR".padStart(14)}  ${output.style("cyan", name)}`;
      return `${formatDate(entry.lastModified)}  ${String(entry.size).padStart(14)}  ${name}${entry.etag ? `  ${output.style("dim", entry.etag)}` : ""}`;
    };
    for await (const entry of list(location, { recursive: options.recursive, signal: context.signal })) {
      const listed: ListedEntry =
        entry.type === "file"
          ? {
              type: "file",
              name: entry.name,
              address: location.display(entry.name),
              size: entry.size,
              lastModified: entry.lastModified.toISOString(),
              etag: entry.etag,
            }
          : { type: "directory", name: entry.name, address: location.display(`${entry.name}/`) };
      output.item(listed, () => line(entry));
    }
    return undefined;
  },
});
