/** The HMAC URL signer lives in core (the memory driver signs too); re-exported for fs users. */
export {
  checkSigningKey,
  decodeUrlPath,
  MIN_SIGNING_KEY_BYTES,
  type SignedMethod,
  type SignedRequest,
  signingKeyBytes,
  signUrl,
  UrlSigner,
  type VerifyResult,
  verifySignedRequest,
  verifySignedUrl,
} from "@storages/core";
