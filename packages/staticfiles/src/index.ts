export * from "./manifest.js";
export * from "./urls.js";
