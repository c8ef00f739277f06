/**
 * The bucket and container checks against real servers: Ceph RGW (S3) and Azurite (Azure Blob),
 * each misconfiguration built on the server (a missing bucket, wrong credentials, an endpoint
 * nobody answers on, ACLs and bucket policies, container access levels, CORS), and the correct
 * setup passing. The probes' test objects must be gone afterwards.
 */
import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  PutBucketAclCommand,
  PutBucketCorsCommand,
  PutBucketPolicyCommand,
  PutBucketVersioningCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type CheckOptions, checkDeployment, type FindingId } from "../src/index.js";

const S3_MISSING =
  "No S3 server: run `npm test` from the repository root (it starts Ceph RGW), or set STORAGES_TEST_S3_ENDPOINT, STORAGES_TEST_S3_ACCESS_KEY_ID and STORAGES_TEST_S3_SECRET_ACCESS_KEY.";
const AZURE_MISSING =
  "No Azure server: run `npm test` from the repository root (it starts Azurite), or set STORAGES_TEST_AZURE_CONNECTION_STRING.";

/** The storages under test only; versioning has its own tests, so elsewhere its warning is ignored (knowingly). */
async function check(env: Record<string, string>, extra: Partial<CheckOptions> = {}) {
  return checkDeployment({
    env,
    cwd: "/",
    configFile: false,
    mountInfo: "",
    timeout: 15_000,
    ignore: ["media-versioning-off"],
    ...extra,
  });
}

const idsOf = (r: { findings: { id: FindingId }[] }) => r.findings.map((f) => f.id).sort();

describe("buckets on Ceph RGW", () => {
  const endpoint = process.env.STORAGES_TEST_S3_ENDPOINT;
  const accessKeyId = process.env.STORAGES_TEST_S3_ACCESS_KEY_ID ?? "";
  const secretAccessKey = process.env.STORAGES_TEST_S3_SECRET_ACCESS_KEY ?? "";
  const region = process.env.STORAGES_TEST_S3_REGION || "us-east-1";
  const bucket = `storages-deploy-${randomBytes(4).toString("hex")}`;
  let admin: S3Client;

  const envFor = (url: string, secret = secretAccessKey) => ({
    STORAGES_DEFAULT: url,
    STORAGES_DEFAULT_ACCESS_KEY_ID: accessKeyId,
    STORAGES_DEFAULT_SECRET_ACCESS_KEY: secret,
  });
  const s3Url = (name: string, params: string) =>
    `s3://${name}/media?endpoint=${endpoint}&region=${region}&forcePathStyle=true&${params}`;

  beforeAll(async () => {
    if (!endpoint) throw new Error(S3_MISSING);
    admin = new S3Client({
      endpoint,
      region,
      forcePathStyle: true,
      credentials: { accessKeyId, secretAccessKey },
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    await admin.send(new CreateBucketCommand({ Bucket: bucket }));
  });

  afterAll(async () => {
    if (!admin) return;
    const left = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
    if (left.Contents?.length) {
      await admin.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: left.Contents.map((o) => ({ Key: o.Key! })) },
        }),
      );
    }
    await admin.send(new DeleteBucketCommand({ Bucket: bucket }));
    admin.destroy();
  });

  it("passes a public media bucket whose files are readable and whose listing is not, and leaves nothing behind", async () => {
    const report = await check(envFor(s3Url(bucket, "visibility=public")));
    expect(report.findings).toEqual([]);
    expect(report.ok).toBe(true);
    const left = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(left.KeyCount ?? 0).toBe(0);
  });

  it("passes a private one that nobody reads anonymously", async () => {
    const report = await check(envFor(s3Url(bucket, "visibility=private")));
    expect(report.findings).toEqual([]);
  });

  it("catches a missing bucket, wrong credentials and an endpoint nobody answers on", async () => {
    expect(idsOf(await check(envFor(s3Url(`${bucket}-missing`, "visibility=private"))))).toEqual([
      "bucket-missing",
    ]);
    const wrong = await check(envFor(s3Url(bucket, "visibility=private"), "wrong-secret-value"));
    expect(idsOf(wrong)).toEqual(["bucket-credentials"]);
    expect(JSON.stringify(wrong)).not.toContain("wrong-secret-value");
    const nobody = await check({
      ...envFor(s3Url(bucket, "visibility=private")),
      STORAGES_DEFAULT: `s3://${bucket}/media?endpoint=http://127.0.0.1:9&region=${region}&forcePathStyle=true`,
    });
    expect(idsOf(nobody)).toEqual(["bucket-unreachable"]);
  });

  it("catches a public storage whose files are not readable (no public ACL written)", async () => {
    const report = await check(envFor(s3Url(bucket, "visibility=public&acl=false")));
    expect(idsOf(report)).toEqual(["public-not-readable"]);
    expect(report.findings[0]!.message).toContain("HTTP 403");
  });

  /** A bucket policy with one statement about anonymous GetObject on `resource`. */
  const anonymousGet = (effect: "Allow" | "Deny", resource: string) =>
    admin.send(
      new PutBucketPolicyCommand({
        Bucket: bucket,
        Policy: JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Effect: effect,
              Principal: "*",
              Action: ["s3:GetObject"],
              Resource: [`arn:aws:s3:::${bucket}/${resource}`],
            },
          ],
        }),
      }),
    );

  it("catches a private storage that a bucket policy makes readable to anyone", async () => {
    await anonymousGet("Allow", "*");
    try {
      expect(idsOf(await check(envFor(s3Url(bucket, "visibility=private"))))).toEqual(["private-readable"]);
    } finally {
      await anonymousGet("Deny", "nothing");
    }
  });

  it("catches a bucket that lists its files to anyone (public-read bucket ACL)", async () => {
    await admin.send(new PutBucketAclCommand({ Bucket: bucket, ACL: "public-read" }));
    try {
      const report = await check(envFor(s3Url(bucket, "visibility=public")));
      expect(idsOf(report)).toEqual(["bucket-lists-anonymously"]);
    } finally {
      await admin.send(new PutBucketAclCommand({ Bucket: bucket, ACL: "private" }));
    }
  });

  it("after a deploy (--base-url): a bucket serving uploads itself serves HTML active; a private one serves nothing unsigned", async () => {
    // The site in front answers (404 to all): a private storage's internal URL on it is requested
    // too, and a site that gave no answer would be url-unreachable, not a pass.
    const front = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => front.listen(0, "127.0.0.1", resolve));
    onTestFinished(() => new Promise<void>((resolve) => front.close(() => resolve())));
    const port = (front.address() as AddressInfo).port;
    const site = { baseUrl: `http://127.0.0.1:${port}/`, origin: "https://www.example.com" };
    const open = await check(envFor(s3Url(bucket, "visibility=public")), site);
    expect(idsOf(open)).toEqual(["cors-blocks-uploads", "media-not-inert"]);
    const inert = open.findings.find((f) => f.id === "media-not-inert")!;
    expect(inert.message).toContain("no X-Content-Type-Options: nosniff");
    expect(inert.message).toContain("served inline as active content");
    const closed = await check(envFor(s3Url(bucket, "visibility=private")), site);
    expect(idsOf(closed)).toEqual(["cors-blocks-uploads"]);
    const left = await admin.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(left.KeyCount ?? 0).toBe(0);
  });

  it("warns when the media bucket keeps no versions, and not once versioning is on", async () => {
    const off = await check(envFor(s3Url(bucket, "visibility=private")), { ignore: [] });
    expect(idsOf(off)).toEqual(["media-versioning-off"]);
    expect(off.findings[0]!.severity).toBe("warning");
    expect(off.ok).toBe(true);
    const versioned = `${bucket}-v`;
    await admin.send(new CreateBucketCommand({ Bucket: versioned }));
    try {
      await admin.send(
        new PutBucketVersioningCommand({ Bucket: versioned, VersioningConfiguration: { Status: "Enabled" } }),
      );
      const on = await check(envFor(s3Url(versioned, "visibility=private")), { ignore: [] });
      expect(on.findings).toEqual([]);
      expect(on.notes).toContain("default: bucket versioning on");
    } finally {
      const versions = await admin.send(new ListObjectVersionsCommand({ Bucket: versioned }));
      const all = [...(versions.Versions ?? []), ...(versions.DeleteMarkers ?? [])];
      if (all.length > 0) {
        await admin.send(
          new DeleteObjectsCommand({
            Bucket: versioned,
            Delete: { Objects: all.map((v) => ({ Key: v.Key!, VersionId: v.VersionId })) },
          }),
        );
      }
      await admin.send(new DeleteBucketCommand({ Bucket: versioned }));
    }
  });

  it("catches CORS that blocks the app's browser uploads, and passes once the rule is there", async () => {
    const origin = "https://app.example.com";
    const blocked = await check(envFor(s3Url(bucket, "visibility=private")), { origin });
    expect(idsOf(blocked)).toEqual(["cors-blocks-uploads"]);
    expect(blocked.findings[0]!.fix).toContain(origin);
    await admin.send(
      new PutBucketCorsCommand({
        Bucket: bucket,
        CORSConfiguration: {
          CORSRules: [
            {
              AllowedOrigins: [origin],
              AllowedMethods: ["PUT", "POST"],
              AllowedHeaders: ["*"],
              ExposeHeaders: ["ETag"],
            },
          ],
        },
      }),
    );
    expect((await check(envFor(s3Url(bucket, "visibility=private")), { origin })).findings).toEqual([]);
  });
});

describe("containers on Azurite", () => {
  const connection = process.env.STORAGES_TEST_AZURE_CONNECTION_STRING;
  const created: ContainerClient[] = [];
  let service: BlobServiceClient;
  let account = "";

  beforeAll(() => {
    if (!connection) throw new Error(AZURE_MISSING);
    service = BlobServiceClient.fromConnectionString(connection);
    account = service.accountName;
  });
  afterAll(async () => {
    await Promise.all(created.map((c) => c.deleteIfExists()));
  });

  async function container(access?: "blob" | "container"): Promise<string> {
    const name = `deploy-${Date.now().toString(36)}-${randomBytes(3).toString("hex")}`;
    const c = service.getContainerClient(name);
    await c.create(access ? { access } : {});
    created.push(c);
    return name;
  }

  const envFor = (name: string, params: string, secret = connection!) => ({
    STORAGES_DEFAULT: `azure://${account}/${name}/media?${params}`,
    STORAGES_DEFAULT_CONNECTION_STRING: secret,
  });

  it("passes a private container, and a public one whose access level is blob", async () => {
    expect((await check(envFor(await container(), "visibility=private"))).findings).toEqual([]);
    expect((await check(envFor(await container("blob"), "visibility=public"))).findings).toEqual([]);
  });

  it("warns when blob soft delete is off, and not once it is on", async () => {
    const name = await container();
    const off = await check(envFor(name, "visibility=private"), { ignore: [] });
    expect(idsOf(off)).toEqual(["media-versioning-off"]);
    expect(off.findings[0]!.message).toContain("soft delete off");
    await service.setProperties({ deleteRetentionPolicy: { enabled: true, days: 7 } });
    try {
      const on = await check(envFor(name, "visibility=private"), { ignore: [] });
      expect(on.findings).toEqual([]);
      expect(on.notes).toContain("default: soft delete on (7 days)");
    } finally {
      await service.setProperties({ deleteRetentionPolicy: { enabled: false } });
    }
  });

  it("catches a missing container and a wrong account key", async () => {
    expect(
      idsOf(await check(envFor(`missing-${randomBytes(3).toString("hex")}`, "visibility=private"))),
    ).toEqual(["bucket-missing"]);
    const badKey = connection!.replace(
      /AccountKey=[^;]+/,
      `AccountKey=${Buffer.from("x".repeat(64)).toString("base64")}`,
    );
    const wrong = await check(envFor(await container(), "visibility=private", badKey));
    expect(idsOf(wrong)).toEqual(["bucket-credentials"]);
  });

  it("catches a public storage on a private container, a private one on a public container, and container-level listing", async () => {
    expect(idsOf(await check(envFor(await container(), "visibility=public")))).toEqual([
      "public-not-readable",
    ]);
    // The Azure driver itself refuses to write private files into a public container (so the app
    // fails too): the check reports that refusal, with the driver's reason.
    const privateOnPublic = await check(envFor(await container("blob"), "visibility=private"));
    expect(idsOf(privateOnPublic)).toEqual(["storage-write-refused"]);
    expect(privateOnPublic.findings[0]!.message).toContain("allows anonymous read access");
    expect(idsOf(await check(envFor(await container("container"), "visibility=public")))).toEqual([
      "bucket-lists-anonymously",
    ]);
  });
});
