import { defineCommand } from "../command.js";
import { configureMigration, runMigration } from "./migrate-run.js";

export const sync = defineCommand({
  name: "sync",
  arguments: "<src> <dst>",
  summary: "make a folder of another storage identical: copy, then delete what SRC lacks",
  description:
    "Does what copy does, then — only when every copy succeeded — deletes the files of DST that SRC does not have. --max-delete N deletes nothing when more than N would go (a wrong SRC must not empty a bucket). Exit 0 when DST matches SRC, 1 otherwise, 2 for a usage error.",
  examples: [
    { command: "storages sync --max-delete 100 media: backup:", what: "mirror, at most 100 deletions" },
    { command: "storages sync -n media: backup:", what: "what would be copied and deleted" },
  ],
  configure: (command) => configureMigration(command, "sync"),
  run: (context, args, options) => runMigration("sync", context, args, options),
});
