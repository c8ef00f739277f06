export {
  BACKEND_PACKAGES,
  knownSchemes,
  LOCAL_SCHEME,
  memoryBackend,
  type PackageImporter,
  registerBackend,
} from "./backends.js";
export {
  type ConfigWarning,
  type ConfigWarningCode,
  checkOverlaps,
  endpointNamespace,
  type LocatedStorage,
  normalizeKeyPrefix,
} from "./locations.js";
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
export {
  createStorages,
  DEFAULT_LOCAL_BASE_URL,
  DEFAULT_LOCAL_ROOT,
  type FakeOptions,
  FakeStorages,
  type OpenedStorageUrl,
  type OpenStorageUrlOptions,
  openStorageUrl,
  type StorageDescription,
  type StorageEntryInput,
  type StorageMode,
  StorageRegistry,
  type StoragesOptions,
  storages,
} from "./registry.js";
export { type InspectedStorageUrl, inspectStorageUrl } from "./resolve.js";
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
