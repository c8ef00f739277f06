export {
  BACKEND_PACKAGES,
  knownSchemes,
  memoryBackend,
  type PackageImporter,
  registerBackend,
} from "./backends.js";
export {
  type ConfigWarning,
  type ConfigWarningCode,
  checkOverlaps,
  type LocatedStorage,
  locationFromUrl,
  type StorageLocation,
} from "./locations.js";
export {
  createStorages,
  DEFAULT_LOCAL_BASE_URL,
  DEFAULT_LOCAL_ROOT,
  type FakeOptions,
  FakeStorages,
  type StorageDescription,
  type StorageEntryInput,
  type StorageMode,
  StorageRegistry,
  type StoragesOptions,
  storages,
} from "./registry.js";
export { CONFIG_FILE_NAMES, GLOBAL_VARS, type StorageEntry } from "./sources.js";
export {
  envVarFor,
  type ParsedStorageUrl,
  parseStorageUrl,
  STORAGE_LEVEL_PARAMS,
  type StorageLevelOptions,
} from "./url.js";
