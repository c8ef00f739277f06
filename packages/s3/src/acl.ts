/**
 * Per-object ACLs: whether this bucket takes them (configured, or — with `acl: "auto"` — asked once
 * of the bucket's ownership controls), the canned ACL a write or copy sends, and whether an object's
 * grants make it public (and setting them). One place for the rule, so writes, copies, signed uploads and
 * get/setVisibility agree.
 */
import {
  GetBucketOwnershipControlsCommand,
  GetObjectAclCommand,
  type Grant,
  type ObjectCannedACL,
  PutObjectAclCommand,
  type S3Client,
} from "@aws-sdk/client-s3";
import type { Visibility } from "@storages/core";
import { errorName, type FailFunction } from "./errors.js";
import type { ResolvedS3Options } from "./options.js";

const ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers";

/** Whether an object's grants let everyone read it. */
function grantsPublicRead(grants: Grant[] | undefined): boolean {
  return (grants ?? []).some(
    (grant) =>
      grant.Grantee?.URI === ALL_USERS &&
      (grant.Permission === "READ" || grant.Permission === "FULL_CONTROL"),
  );
}

export class BucketAcls {
  // Private fields: the client config holds the credentials, and #fields stay out of JSON and inspect.
  readonly #client: S3Client;
  readonly #options: ResolvedS3Options;
  readonly #fail: FailFunction;
  #aclProbe: Promise<boolean> | undefined;

  constructor(client: S3Client, options: ResolvedS3Options, fail: FailFunction) {
    this.#client = client;
    this.#options = options;
    this.#fail = fail;
  }

  /** Whether canned ACLs are sent: per configuration, or (auto) as the bucket's ownership controls say. */
  async enabled(signal: AbortSignal): Promise<boolean> {
    const { acl } = this.#options;
    if (acl !== "auto") return acl;
    this.#aclProbe ??= this.#probeAcls(signal).catch((error: unknown) => {
      this.#aclProbe = undefined; // a transient failure must not decide for the driver's lifetime
      throw this.#fail(error, { signal });
    });
    return this.#aclProbe;
  }

  async #probeAcls(signal: AbortSignal): Promise<boolean> {
    try {
      const out = await this.#client.send(
        new GetBucketOwnershipControlsCommand({ Bucket: this.#options.bucket }),
        { abortSignal: signal },
      );
      return !(out.OwnershipControls?.Rules ?? []).some(
        (rule) => rule.ObjectOwnership === "BucketOwnerEnforced",
      );
    } catch (error) {
      const name = errorName(error);
      // No ownership controls: a legacy bucket, where ACLs work.
      if (name === "OwnershipControlsNotFoundError") return true;
      // Not allowed to ask, or a server without the API: try ACLs; a refusal says what to configure.
      if (name === "AccessDenied" || name === "NotImplemented" || name === "MethodNotAllowed") return true;
      throw error;
    }
  }

  /** The canned ACL for a write, or undefined to leave access to the bucket (private by default). */
  async cannedAcl(visibility: Visibility, signal: AbortSignal): Promise<ObjectCannedACL | undefined> {
    // A new object (an overwrite too) is private unless its own request says otherwise, so only
    // "public" needs a header; leaving "private" out also keeps writes working on ACL-less buckets.
    if (visibility === "private" || this.#options.acl === false) return undefined;
    return (await this.enabled(signal)) ? "public-read" : undefined;
  }

  /** Gives one object (`key`; `name` is for messages) the canned ACL of `visibility`. */
  async put(name: string, key: string, visibility: Visibility, signal: AbortSignal): Promise<void> {
    try {
      await this.#client.send(
        new PutObjectAclCommand({
          Bucket: this.#options.bucket,
          Key: key,
          ACL: visibility === "public" ? "public-read" : "private",
        }),
        { abortSignal: signal },
      );
    } catch (error) {
      throw this.#fail(error, { key: name, signal });
    }
  }

  /** Whether one object's (`key`; `name` is for messages) grants let everyone read it. */
  async isPublic(name: string, key: string, signal: AbortSignal): Promise<boolean> {
    try {
      const out = await this.#client.send(
        new GetObjectAclCommand({ Bucket: this.#options.bucket, Key: key }),
        {
          abortSignal: signal,
        },
      );
      return grantsPublicRead(out.Grants);
    } catch (error) {
      throw this.#fail(error, { key: name, signal });
    }
  }
}
