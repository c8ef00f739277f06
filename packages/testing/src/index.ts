/**
 * @storages/testing: the conformance suite every driver runs against a real server, the name
 * corpora, and small helpers for driver tests.
 */

export { describeConformance } from "./conformance.js";
export type { ConformanceOptions, CreateStorageContext, ServerGap } from "./context.js";
export { findSecretLeak, SERVER_GAPS } from "./context.js";
export { dispositionFilename, tamperSignature } from "./groups/http.js";
export {
  collect,
  crc32c,
  DeterministicBody,
  digest,
  digestsOf,
  hashStream,
  type LocalDigests,
  randomBytes,
  slowBody,
  streamOf,
} from "./helpers.js";
export { awkwardNames, hostileNames } from "./names.js";
