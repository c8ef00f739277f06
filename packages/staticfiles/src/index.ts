export { appSources, parseSourceSpec } from "./app-sources.js";
export { collectStatic, MissingReferenceError } from "./collect.js";
export { DEFAULT_IGNORE, type FoundFile, findFiles, packageSources, type StaticSource } from "./finders.js";
export {
  describeHolder,
  LOCK_NAME,
  PublishLockedError,
  type PublishLockHolder,
  readPublishLock,
} from "./lock.js";
export * from "./manifest.js";
export {
  CACHE_IMMUTABLE,
  CACHE_SHORT,
  HASH_LENGTH,
  hashedName,
  isCompressible,
  looksBundlerHashed,
} from "./names.js";
export {
  initParsers,
  type ParsedFile,
  parseReferences,
  type Reference,
  type Resolved,
  replaceLastSegment,
  resolveReference,
} from "./references.js";
export { prune } from "./releases.js";
export {
  expressStatic,
  fastifyStatic,
  type ServeStaticOptions,
  type StaticHandler,
  serveStatic,
  staticRequestListener,
} from "./serve.js";
export type * from "./types.js";
export * from "./urls.js";
