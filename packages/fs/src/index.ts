export {
  backend,
  type FsBackendOptions,
  type FsStorageOptions,
  fsStorage,
  signingSecretVar,
} from "./backend.js";
export { FsDriver, type FsDriverOptions, type FsSigningOptions } from "./driver.js";
export { createFsHandler, type FsHandlerOptions, type FsRequestHandler } from "./handler.js";
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
