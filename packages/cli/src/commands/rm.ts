import { type PartialFailureError, StorageError } from "@storages/core";
import { refuseFilesystemRoot } from "../address.js";
import { defineCommand } from "../command.js";
import { EXIT, errorReport, UsageError } from "../errors.js";
import { count } from "../format.js";
import { remove } from "../ops/files.js";

export const rm = defineCommand({
  name: "rm",
  arguments: "<address>",
  summary: "delete a file, or every file below a folder (-r, confirmed)",
  description:
    "Deletes the file at ADDRESS (a missing file is an error: exit 1). With -r, deletes every file below the folder, page by page; this asks for confirmation on a terminal, and needs --yes anywhere else.",
  examples: [
    { command: "storages rm default:avatars/old.jpg", what: "one file" },
    { command: "storages rm -r default:tmp/", what: "every file below tmp/ (asks first)" },
    { command: "storages rm -r --yes exports:2023/", what: "in a script: no question" },
  ],
  configure: (command) =>
    command
      .option("-r, --recursive", "delete every file below the folder")
      .option("-y, --yes", "do not ask for confirmation (required with -r without a terminal)"),
  async run(context, [address], options: { recursive?: boolean; yes?: boolean }) {
    const { output } = context;
    const location = await context.resolve(address!, { write: true });
    const prefix = location.path === "" || location.path.endsWith("/") ? location.path : `${location.path}/`;
    const what =
      prefix === "" ? `EVERY file of ${location.text}` : `every file below ${location.display(prefix)}`;
    if (options.recursive) refuseFilesystemRoot(location, prefix, "rm -r would delete every file");
    if (options.recursive && !options.yes) {
      const confirmed = await context.confirm(`Delete ${what}?`);
      if (confirmed === undefined) {
        throw new UsageError(`rm -r deletes ${what}: add --yes to confirm (there is no terminal to ask).`);
      }
      if (!confirmed) {
        output.note("Cancelled: nothing was deleted.");
        return EXIT.failed;
      }
    }
    try {
      const result = await remove(location, { recursive: options.recursive, signal: context.signal });
      output.summary({ ...result, address: location.display(result.path) }, (r) =>
        r.recursive
          ? r.deleted === 0
            ? `nothing to delete below ${r.address}`
            : `deleted ${count(r.deleted, "file")} below ${r.address}`
          : `deleted ${r.address}`,
      );
      return undefined;
    } catch (error) {
      if (context.interrupted && options.recursive) {
        output.error({
          code: "E_ABORTED",
          message: `interrupted: some files below ${location.display(prefix)} may already be deleted; run the same command again to delete the rest.`,
        });
        return EXIT.interrupted;
      }
      if (StorageError.hasCode(error, "E_PARTIAL_FAILURE")) {
        for (const failure of (error as PartialFailureError).failures) {
          const report = errorReport(failure.error, output.verbose);
          output.error({ ...report, message: `${location.display(failure.path)}: ${report.message}` });
        }
      }
      throw error;
    }
  },
});
