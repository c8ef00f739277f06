export { type AzureStorageOptions, azureStorage, backend } from "./backend.js";
export {
  BLOCK_GROWTH_INTERVAL,
  DEFAULT_BLOCK_SIZE,
  MAX_BLOB_SIZE,
  MAX_BLOCK_SIZE,
  MAX_BLOCKS,
  maxUnknownLengthSize,
  plannedBlockSize,
} from "./blocks.js";
export { AzureDriver, BATCH_SIZE, SYNC_COPY_MAX_BYTES } from "./driver.js";
export { mapAzureError } from "./errors.js";
export { type AzureDriverOptions, type CredentialKind, OPTION_KEYS } from "./options.js";
export { DelegationKeyCache } from "./sas.js";
