/**
 * A key's value in a record parsed from JSON (a manifest, its build state): only the record's own
 * keys count, so a file called "__proto__" or "constructor" finds nothing it did not write.
 */
export function own<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined;
}
