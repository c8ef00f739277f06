export * from "./join.js";
export * from "./migrate.js";
export { type Overlap, overlapOf } from "./overlap.js";
export * from "./read-ahead.js";
export * from "./select.js";
