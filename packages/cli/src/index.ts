/**
 * @storages/cli as a library: everything the `storages` command does, callable from a script with
 * typed results, and the pieces its commands are built from (for the commands other packages add).
 */
export {
  type Location,
  type ParsedAddress,
  parseAddress,
  type ResolveOptions,
  requireFile,
  resolveAddress,
} from "./address.js";
export { type CommandContext, type CommandDefinition, defineCommand, type Example } from "./command.js";
export { COMMANDS } from "./commands/index.js";
export { type ErrorReport, EXIT, type ExitCode, errorReport, exitCodeFor, UsageError } from "./errors.js";
export {
  type ConfigReport,
  type ConfigurationOptions,
  describeConfig,
  loadEnvFiles,
  openConfiguration,
  type StorageReport,
} from "./ops/config.js";
export {
  type ListOptions,
  list,
  parseRange,
  type RangeSpec,
  type RemoveResult,
  readFile,
  remove,
  statFile,
} from "./ops/files.js";
export {
  type Endpoint,
  type TransferFailure,
  type TransferOptions,
  type TransferResult,
  type TransferredFile,
  transfer,
} from "./ops/transfer.js";
export {
  type FileUrl,
  type FileUrlOptions,
  fileUrl,
  type SignedUploadReport,
  type SignUploadOptions,
  signUpload,
} from "./ops/urls.js";
export { Output, type OutputOptions, type OutputStreams } from "./output.js";
export { buildProgram, type CliIo, main } from "./program.js";
export type { ProgressState, ProgressView } from "./progress.js";
