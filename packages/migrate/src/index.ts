export * from "./join.js";
export * from "./migrate.js";
export * from "./read-ahead.js";
export * from "./select.js";
