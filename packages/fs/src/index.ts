export { backend, type FsBackendOptions, type FsStorageOptions, fsStorage } from "./backend.js";
export { FsDriver } from "./driver.js";
export { createFsHandler, type FsHandlerOptions, type FsRequestHandler } from "./handler.js";
export {
  type FsDriverOptions,
  type FsSigningOptions,
  type LinkPolicy,
  resolveFsOptions,
} from "./options.js";
export { RESERVED_PREFIX } from "./paths.js";
export {
  decodeUrlPath,
  MIN_SIGNING_KEY_BYTES,
  type SignedMethod,
  type SignedRequest,
  signUrl,
  type VerifyResult,
  verifySignedRequest,
  verifySignedUrl,
} from "./signer.js";
