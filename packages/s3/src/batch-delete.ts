/**
 * `deleteMany` through DeleteObjects, 1,000 keys a request: a key S3 reports as missing is not a
 * failure, a key it refuses is reported with its own error, and a request that fails as a whole
 * fails each of its keys — except an abort or timeout, which ends the whole call.
 */
import { DeleteObjectsCommand, type S3Client } from "@aws-sdk/client-s3";
import type { DriverCallOptions, DriverDeleteManyResult } from "@storages/core";
import type { FailFunction } from "./errors.js";

/** DeleteObjects takes at most this many keys per request. */
export const DELETE_BATCH_SIZE = 1000;

export interface BatchDeleteTarget {
  client: S3Client;
  bucket: string;
  /** The object key of a storage-relative name. */
  key: (name: string) => string;
  fail: FailFunction;
}

export async function deleteBatches(
  target: BatchDeleteTarget,
  names: string[],
  options: DriverCallOptions,
): Promise<DriverDeleteManyResult> {
  const { client, bucket, key, fail } = target;
  const failures: DriverDeleteManyResult["failures"] = [];
  const byKey = new Map<string, string>();
  for (let start = 0; start < names.length; start += DELETE_BATCH_SIZE) {
    const batch = names.slice(start, start + DELETE_BATCH_SIZE);
    byKey.clear();
    for (const name of batch) byKey.set(key(name), name);
    try {
      const out = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: [...byKey.keys()].map((Key) => ({ Key })), Quiet: true },
        }),
        { abortSignal: options.signal },
      );
      for (const failed of out.Errors ?? []) {
        if (failed.Code === "NoSuchKey") continue;
        const name = (failed.Key !== undefined && byKey.get(failed.Key)) || failed.Key || "";
        failures.push({
          key: name,
          error: fail({ name: failed.Code ?? "Error", message: failed.Message }, { key: name }),
        });
      }
    } catch (error) {
      const mapped = fail(error, { signal: options.signal });
      if (mapped.code === "E_ABORTED" || mapped.code === "E_TIMEOUT") throw mapped;
      for (const name of batch) failures.push({ key: name, error: mapped });
    }
  }
  return { failures };
}
