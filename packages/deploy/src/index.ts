export { type AccessResult, accessFindings, lookupUser, probeAccess } from "./access.js";
export { caddyConfig, renderCaddy } from "./caddy.js";
export { type CheckOptions, type CheckReport, checkDeployment } from "./check.js";
export { BACKUP_MARKER, findAppDir, findBackupMarker } from "./filesystem.js";
export { FINDING_IDS, type Finding, type FindingId, IGNORE_VARIABLE, type Severity } from "./findings.js";
export {
  type ConfigurationInput,
  type DeploymentLayout,
  type DeployStorage,
  loadLayout,
  type StorageRole,
} from "./layout.js";
export { readStaticManifest } from "./manifest.js";
export { BROTLI_STATIC_MODULE, nginxConfig, renderNginx } from "./nginx.js";
export { loadPlan, planServer, type ServerConfigOptions, type ServerPlan } from "./server-plan.js";
export {
  ACCEL_HEADER,
  accelRedirectPath,
  HASHED_NAME_PATTERN,
  IMMUTABLE_CACHE,
  internalPrefix,
  PRIVATE_CACHE,
  SHORT_CACHE,
} from "./serving.js";
