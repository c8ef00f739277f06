import { pipeline } from "node:stream/promises";
import { defineCommand } from "../command.js";
import { EXIT } from "../errors.js";
import { parseRange, readFile } from "../ops/files.js";

export const cat = defineCommand({
  name: "cat",
  printsOnly: true,
  arguments: "<address>",
  summary: "write a file (or a byte range of it) to stdout",
  examples: [
    { command: "storages cat default:reports/today.csv", what: "the whole file" },
    { command: "storages cat --range 0-1023 default:video.mp4 > head.bin", what: "the first KiB" },
    { command: "storages cat --range -200 default:logs/app.log", what: "the last 200 bytes" },
  ],
  configure: (command) =>
    command.option("--range <range>", "bytes START-END (both included), START- (to the end) or -LAST"),
  async run(context, [address], options: { range?: string }) {
    const range = options.range === undefined ? undefined : parseRange(options.range);
    const location = await context.resolve(address!);
    const stream = await readFile(location, { range, signal: context.signal });
    try {
      await pipeline(stream, context.stdout, { end: false, signal: context.signal });
    } catch (error) {
      // The reader went away (`storages cat x | head`): what it wanted was written.
      if ((error as NodeJS.ErrnoException).code === "EPIPE") return EXIT.ok;
      throw error;
    }
    return undefined;
  },
});
