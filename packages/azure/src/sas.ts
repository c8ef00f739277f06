/**
 * SAS signing: a service SAS with the account key, or a user delegation SAS with a key obtained
 * through a TokenCredential (Entra ID / managed identity: no account key anywhere).
 *
 * The user delegation key is cached and renewed before a SAS could outlive it: a SAS signed with
 * a key stops working when the key expires, whatever its own `se` says. Azure caps a user
 * delegation key (and so the SAS) at 7 days.
 */
import {
  BlobSASPermissions,
  generateBlobSASQueryParameters,
  SASProtocol,
  type StorageSharedKeyCredential,
  type UserDelegationKey,
} from "@azure/storage-blob";
import { AbortedError, InvalidArgumentError } from "@storages/core";

const DAY_MS = 24 * 60 * 60 * 1000;
/** Azure refuses user delegation keys valid for longer than 7 days from now. */
export const MAX_DELEGATION_KEY_LIFETIME_MS = 7 * DAY_MS;
/** Renew a key this long before a SAS would outlive it (clock skew between us and Azure). */
export const DELEGATION_KEY_RENEW_MARGIN_MS = 5 * 60 * 1000;

export type FetchDelegationKey = (startsOn: Date, expiresOn: Date) => Promise<UserDelegationKey>;

export interface DelegationKeyCacheOptions {
  /** How long a freshly requested key lives (ms); default 1 day, at most 7 days. */
  lifetimeMs?: number | undefined;
  /** Clock, for tests. */
  now?: (() => number) | undefined;
}

/**
 * One key at a time, shared by concurrent callers (one request even when 100 URLs are signed at
 * once); a failed request is not cached, so the next call tries again.
 */
export class DelegationKeyCache {
  readonly #fetch: FetchDelegationKey;
  readonly #lifetimeMs: number;
  readonly #now: () => number;
  #current: { key: UserDelegationKey; expiresAt: number } | undefined;
  #pending:
    | { promise: Promise<{ key: UserDelegationKey; expiresAt: number }>; expiresAt: number }
    | undefined;

  constructor(fetch: FetchDelegationKey, options: DelegationKeyCacheOptions = {}) {
    this.#fetch = fetch;
    this.#lifetimeMs = Math.min(options.lifetimeMs ?? DAY_MS, MAX_DELEGATION_KEY_LIFETIME_MS);
    this.#now = options.now ?? Date.now;
  }

  /** A key valid at least until `until` (plus the renewal margin). */
  async get(until: Date, signal?: AbortSignal): Promise<UserDelegationKey> {
    const now = this.#now();
    const needed = until.getTime() + DELEGATION_KEY_RENEW_MARGIN_MS;
    if (needed > now + MAX_DELEGATION_KEY_LIFETIME_MS) {
      throw new InvalidArgumentError(
        "A SAS signed with a user delegation key (TokenCredential) can be valid for at most 7 days: lower expiresIn.",
      );
    }
    if (this.#current && this.#current.expiresAt >= needed) return this.#current.key;
    if (!this.#pending || this.#pending.expiresAt < needed) {
      const startsOn = new Date(now);
      const expiresAt = Math.min(
        Math.max(now + this.#lifetimeMs, needed),
        now + MAX_DELEGATION_KEY_LIFETIME_MS,
      );
      const promise = this.#fetch(startsOn, new Date(expiresAt)).then(
        (key) => {
          const entry = { key, expiresAt: key.signedExpiresOn ? key.signedExpiresOn.getTime() : expiresAt };
          if (!this.#current || entry.expiresAt >= this.#current.expiresAt) this.#current = entry;
          if (this.#pending?.promise === promise) this.#pending = undefined;
          return entry;
        },
        (error: unknown) => {
          if (this.#pending?.promise === promise) this.#pending = undefined;
          throw error;
        },
      );
      this.#pending = { promise, expiresAt };
    }
    const entry = await raceSignal(this.#pending.promise, signal);
    return entry.key;
  }
}

/** Waits for a shared promise without letting one caller's abort fail it for the others. */
async function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return promise;
  if (signal.aborted) throw new AbortedError(undefined, { cause: signal.reason });
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(new AbortedError(undefined, { cause: signal.reason }));
    signal.addEventListener("abort", onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, aborted]);
  } finally {
    if (onAbort) signal.removeEventListener("abort", onAbort);
  }
}

export interface SasRequest {
  /** Full blob name inside the container (prefix included). */
  blobName: string;
  /** Letters of BlobSASPermissions: "r" to read, "cw" to create/write. */
  permissions: string;
  expiresOn: Date;
  /** Response header overrides (rscd / rsct) for a GET. */
  contentDisposition?: string | undefined;
  contentType?: string | undefined;
}

export type SasSigningKey =
  | { kind: "sharedKey"; credential: StorageSharedKeyCredential }
  | { kind: "userDelegation"; cache: DelegationKeyCache; accountName: string };

/**
 * Builds the SAS query string. No start time (`st`): a SAS without one is valid as soon as it is
 * issued, which avoids the classic "signed URL refused for the first minutes" clock-skew bug.
 */
export async function signBlobSas(
  key: SasSigningKey,
  containerName: string,
  request: SasRequest,
  options: { httpsOnly: boolean; signal?: AbortSignal | undefined },
): Promise<string> {
  const values = {
    containerName,
    blobName: request.blobName,
    permissions: BlobSASPermissions.parse(request.permissions),
    expiresOn: request.expiresOn,
    protocol: options.httpsOnly ? SASProtocol.Https : SASProtocol.HttpsAndHttp,
    contentDisposition: request.contentDisposition,
    contentType: request.contentType,
  };
  if (key.kind === "sharedKey") return generateBlobSASQueryParameters(values, key.credential).toString();
  const delegationKey = await key.cache.get(request.expiresOn, options.signal);
  return generateBlobSASQueryParameters(values, delegationKey, key.accountName).toString();
}
