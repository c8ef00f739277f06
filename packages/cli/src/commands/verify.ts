import { defineCommand } from "../command.js";
import { configureMigration, runMigration } from "./migrate-run.js";

export const verify = defineCommand({
  name: "verify",
  arguments: "<src> <dst>",
  summary: "compare two folders: missing, different and extra files (changes nothing)",
  description:
    "Compares the listings of SRC and DST: sizes, and content hashes where both sides keep them (the listing's, else the stored one), else times. Exit 0 when every file of SRC is at DST with the same content, 1 when any is missing or different, 2 for a usage error. Extra files at DST are reported, not counted as errors.",
  examples: [
    { command: "storages verify /srv/app/media/ media:", what: "after a migration" },
    { command: "storages verify --json media: backup: | jq .missing", what: "for scripts" },
  ],
  configure: (command) => configureMigration(command, "verify"),
  run: (context, args, options) => runMigration("verify", context, args, options),
});
