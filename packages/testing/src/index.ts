/**
 * @storages/testing: the conformance suite every driver runs against a real server, the name
 * corpora, and small helpers for driver tests.
 */

export { describeConformance } from "./conformance.js";
export type { ConformanceOptions, CreateStorageContext, ServerGap } from "./context.js";
export { findSecretLeak, SERVER_GAPS } from "./context.js";
export { CLASSIFIERS, classifyAzure, classifyGcs, classifyS3 } from "./faults/classify.js";
export {
  type ChaosOptions,
  type Dialect,
  errorAnswer,
  type Fault,
  type FaultHandle,
  FaultProxy,
  type FaultProxyOptions,
  type FaultRule,
  type FaultStats,
  type ProxiedRequest,
  type RequestKind,
} from "./faults/proxy.js";
export { openHandles, type SoakOptions } from "./faults/soak.js";
export {
  bodyMayExceed,
  describeFaults,
  expectNoSecretIn,
  type FaultSuiteOptions,
  printedForms,
} from "./faults/suite.js";
export type { ReliabilityReport, SoakFigures } from "./faults/tally.js";
export { DEFAULT_FUZZ_NAMES, fuzzNames } from "./groups/fuzz.js";
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
