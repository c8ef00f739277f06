export {
  BACKEND_PACKAGES,
  knownSchemes,
  LOCAL_SCHEME,
  memoryBackend,
  type PackageImporter,
  registerBackend,
} from "./backends.js";
export { type FakeOptions, FakeStorages } from "./fakes.js";
export {
  DEFAULT_LOCAL_BASE_URL,
  DEFAULT_LOCAL_ROOT,
  type StorageEntryInput,
  type StorageMode,
  type StoragesOptions,
} from "./load.js";
export {
  type ConfigWarning,
  type ConfigWarningCode,
  checkOverlaps,
  directoryWarnings,
  endpointNamespace,
  findOverlaps,
  isWithin,
  type LocatedStorage,
  type MountEntry,
  mountFor,
  normalizeKeyPrefix,
  parseMountInfo,
  readMountInfo,
  resolveExisting,
  type StorageOverlap,
  type WarningContext,
} from "./locations.js";
export { type OpenedStorageUrl, type OpenStorageUrlOptions, openStorageUrl } from "./open-url.js";
export {
  type ByteSize,
  closest,
  type DurationUnit,
  describeValue,
  didYouMean,
  formatSize,
  OptionChecker,
  OptionError,
  parseBoolean,
  parseDuration,
  parseHttpUrl,
  parseInteger,
  parseOneOf,
  parsePositiveInt,
  parsePublicUrl,
  parseSize,
  parseString,
  parseVisibility,
  type Range,
  secretVariablesOf,
  storageVariable,
  urlParam,
} from "./params.js";
export { createStorages, type StorageDescription, StorageRegistry, storages } from "./registry.js";
export { type InspectedStorageUrl, inspectStorageUrl, STATICFILES } from "./resolve.js";
export { CONFIG_FILE_NAMES, GLOBAL_VARS, type StorageEntry } from "./sources.js";
export {
  envVarFor,
  type ParsedStorageUrl,
  parseStorageUrl,
  STORAGE_LEVEL_PARAMS,
  type StorageLevelOptions,
} from "./url.js";
export {
  implicitVisibility,
  type SplitOptions,
  splitStorageOptions,
  storageFromOptions,
} from "./visibility.js";
