import { defineCommand } from "../command.js";
import { configureMigration, runMigration } from "./migrate-run.js";

export const copy = defineCommand({
  name: "copy",
  arguments: "<src> <dst>",
  summary: "copy a folder to another storage: only what is missing or different; resumable",
  description:
    "Compares the listings of SRC and DST and copies every file that is missing or different at DST (size and time, or content hashes with --checksum), keeping content type, cache control, disposition and metadata, and checking each file's MD5 at DST. Every file is written whole or not at all: a run killed at any moment and started again does only what is left. Exit 0 when DST matches SRC, 1 when any file failed or stayed different, 2 for a usage error.",
  examples: [
    { command: "storages copy /srv/app/media/ media:", what: "a server's disk to the media bucket" },
    { command: "storages copy media: 'gs://backup-bucket/media/'", what: "S3 to GCS" },
    { command: "storages copy --shard 2/4 media: backup:", what: "worker 2 of 4" },
    { command: "storages copy -n --json media: backup:", what: "what would be copied" },
  ],
  configure: (command) => configureMigration(command, "copy"),
  run: (context, args, options) => runMigration("copy", context, args, options),
});
