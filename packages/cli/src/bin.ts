/**
 * The `storages` process: runs one command line with the process's stdio, turns Ctrl-C (SIGINT)
 * and SIGTERM into the command's AbortSignal, and exits with the command's code.
 */
import module from "node:module";

// Node ≥ 22.1 keeps the compiled code of the modules a command loads (in NODE_COMPILE_CACHE, else
// the OS temp folder): later starts skip parsing and compiling them. Older Nodes run as before.
module.enableCompileCache?.();
// Imported after the cache is on, so that the program's own modules are cached too.
const { EXIT } = await import("./errors.js");
const { main } = await import("./program.js");

const controller = new AbortController();
// process.stdin is made on first use (a stream over the pipe, file or terminal: ~5 ms and 2.5 MiB
// at start-up); only `put -` and confirmation questions read it.
let stdinUsed = false;
let signals = 0;
/** The command's own error report (a JSON line under --json), once a command has started. */
let reportError: ((report: { code: string; message: string }) => void) | undefined;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    signals++;
    if (signals > 1) {
      const message = `A second interrupt (${signal}): exiting now, without waiting for clean-up.`;
      if (reportError) reportError({ code: "E_ABORTED", message });
      else process.stderr.write(`\n${message}\n`);
      process.exit(EXIT.interrupted);
    }
    controller.abort(new Error(`${signal}`));
    // Reading stdin would keep the process alive after the command has stopped.
    if (stdinUsed) process.stdin.destroy();
  });
}

// A reader of stdout that went away (`storages ls | head`) wants no more. A command that only
// prints stops there, exit 0, as tools in a pipe do (so does help, or anything before a command
// starts); any other (`storages verify A B | head -1`, `put -r … | head`) drops the rest of its
// stdout and finishes, its work done and its exit code kept: a verdict or a failure is not lost
// to the pipe (CommandDefinition printsOnly).
let printsOnly = true;
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
  if (printsOnly) process.exit(EXIT.ok);
});
// A reader of the notes and errors that went away (`storages put -r -v … 2>&1 >log | head`) is no
// reason to stop: an uncaught EPIPE would end the process mid-transfer, its temporary files left
// behind. The rest of stderr is dropped; the command finishes, with its exit code.
process.stderr.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE" && error.code !== "ERR_STREAM_DESTROYED") throw error;
});

const code = await main(process.argv.slice(2), {
  get stdin() {
    stdinUsed = true;
    return process.stdin;
  },
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: process.cwd(),
  signal: controller.signal,
  started: (command) => {
    printsOnly = command.printsOnly;
    reportError = command.reportError;
  },
});
process.exitCode = code;
// The process ends by itself once the drivers are done (after an interrupt, they may still be
// removing a temporary file or aborting an upload). Whatever else holds it open (a socket nobody
// closed) gets a bounded time, counted once the output has reached its reader.
const flushed = (stream: NodeJS.WriteStream) =>
  new Promise<void>((resolve) => stream.write("", () => resolve()));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
setTimeout(() => process.exit(code), controller.signal.aborted ? 15_000 : 2_000).unref();
