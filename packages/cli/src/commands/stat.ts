import { defineCommand } from "../command.js";
import { columns, formatBytes, formatDate } from "../format.js";
import { statFile } from "../ops/files.js";

export const stat = defineCommand({
  name: "stat",
  arguments: "<address>",
  summary: "show a file's size, date, type, ETag, checksums and metadata",
  examples: [
    { command: "storages stat default:avatars/me.jpg", what: "one file's details" },
    { command: "storages stat --json private:invoices/2024-01.pdf", what: "as JSON" },
  ],
  async run(context, [address]) {
    const location = await context.resolve(address!);
    const info = await statFile(location, { signal: context.signal });
    context.output.result({ ...info, address: location.display(info.name) }, (s) => {
      const rows: string[][] = [
        ["name", s.name],
        ["address", s.address],
        ["size", `${s.size} (${formatBytes(s.size)})`],
        ["modified", formatDate(s.lastModified)],
      ];
      if (s.contentType) rows.push(["content-type", s.contentType]);
      if (s.etag) rows.push(["etag", s.etag]);
      if (s.cacheControl) rows.push(["cache-control", s.cacheControl]);
      if (s.contentDisposition) rows.push(["disposition", s.contentDisposition]);
      if (s.contentEncoding) rows.push(["encoding", s.contentEncoding]);
      if (s.visibility) rows.push(["visibility", s.visibility]);
      for (const [algorithm, value] of Object.entries(s.checksums ?? {})) rows.push([algorithm, value ?? ""]);
      for (const [key, value] of Object.entries(s.metadata)) rows.push([`meta ${key}`, value]);
      return columns(rows);
    });
    return undefined;
  },
});
