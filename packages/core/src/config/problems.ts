/**
 * How configuration problems reach the operator: every problem of a load in one ConfigError, and
 * no secret in any message — the values of `STORAGES_<NAME>_…` variables are cut out, whatever
 * produced the message (core, a backend's validation, a driver's constructor).
 */
import { ConfigError, StorageError } from "../errors.js";
import { storageVariable } from "./params.js";
import { GLOBAL_VARS } from "./sources.js";

/**
 * Values that may be secrets: every STORAGES_ variable that is not a storage URL or a global
 * setting (`STORAGES_MEDIA_SECRET_ACCESS_KEY`…, whichever backend reads it, loaded or not). They
 * are cut out of every configuration message, whatever produced it.
 */
export function secretValues(
  env: Record<string, string | undefined>,
  urls: ReadonlyMap<string, string>,
): string[] {
  const globals = new Set<string>(Object.values(GLOBAL_VARS));
  const urlVars = new Set([...urls.keys()].map((n) => storageVariable(n)));
  const out: string[] = [];
  for (const [key, raw] of Object.entries(env)) {
    if (!key.startsWith("STORAGES_") || globals.has(key) || urlVars.has(key) || key.endsWith("_LOCAL"))
      continue;
    const value = raw?.trim();
    // Short values (true, 1, 600) would redact innocent words; no credential is that short.
    if (value !== undefined && value.length >= 8) out.push(value);
  }
  return out.sort((a, b) => b.length - a.length);
}

export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) out = out.split(secret).join("[redacted]");
  return out;
}

/** A ConfigError without any secret value; one whose message had to change loses its cause too. */
export function scrubbed(error: unknown, secrets: readonly string[]): unknown {
  if (!StorageError.isInstance(error)) return error;
  const message = scrub(error.message, secrets);
  if (message === error.message) return error;
  return new ConfigError(message);
}

function flatten(problems: unknown[]): unknown[] {
  return problems.flatMap((p) => {
    const nested = (p as { errors?: unknown }).errors;
    return ConfigError.isInstance(p) && Array.isArray(nested) ? flatten(nested) : [p];
  });
}

export function combine(problems: unknown[], secrets: readonly string[]): unknown {
  const all = flatten(problems).map((p) => scrubbed(p, secrets));
  const foreign = all.find((p) => !ConfigError.isInstance(p));
  if (foreign) return foreign;
  if (all.length === 1) return all[0];
  const error = new ConfigError(
    `The storage configuration has ${all.length} problems:\n- ${all.map((p) => (p as Error).message).join("\n- ")}`,
  );
  (error as ConfigError & { errors: unknown[] }).errors = all;
  return error;
}
