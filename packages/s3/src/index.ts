export { backend, type S3StorageOptions, s3Storage } from "./backend.js";
export { DELETE_BATCH_SIZE, S3Driver } from "./driver.js";
export { toStorageError as s3ErrorToStorageError } from "./errors.js";
export {
  DEFAULT_PART_SIZE,
  DEFAULT_QUEUE_SIZE,
  OPTION_KEYS,
  type ResolvedS3Options,
  resolveOptions,
  type S3DriverOptions,
  type ServerSideEncryption,
} from "./options.js";
export {
  type ChecksumMode,
  inferProfile,
  PROFILE_NAMES,
  PROFILES,
  type ProfileName,
  type ProviderProfile,
} from "./profiles.js";
export { buildPublicUrl } from "./urls.js";
