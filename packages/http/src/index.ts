export * from "./adapters.js";
export * from "./direct.js";
export * from "./errors.js";
export * from "./media.js";
export * from "./respond.js";
export * from "./sniff.js";
export * from "./upload.js";
