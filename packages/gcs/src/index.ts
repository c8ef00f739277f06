export { backend, type GcsStorageOptions, gcsStorage } from "./backend.js";
export { GcsDriver } from "./driver.js";
export { toStorageError } from "./errors.js";
export type { GcsDriverOptions, ServiceAccountKey } from "./options.js";
