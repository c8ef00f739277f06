/**
 * Named storages on the real servers `npm test` starts (RGW, Azurite, the GCS emulator) and on
 * local folders, as STORAGES_<NAME> variables — the same variables for the library in this process
 * and for the built CLI in a child process. Each one is fresh (a bucket, container or folder of its
 * own) and removed by `cleanup`. A server whose STORAGES_TEST_* variables are missing fails the
 * test with the command to run; nothing is skipped.
 */
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createStorages, type Storage } from "@storages/core";
import { removeBucket } from "../../packages/s3/test/support/server.js";

export type BackendId = "fs" | "s3" | "azure" | "gcs";

export interface NamedStorage {
  /** The storage name (`src`, `dst`…): STORAGES_<NAME> in `env`. */
  name: string;
  env: Record<string, string>;
  cleanup(): Promise<void>;
}

const RUN = `mig${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

function need(variable: string): string {
  const value = process.env[variable];
  if (!value)
    throw new Error(
      `${variable} is not set: run \`npm test\` from the repository root (it starts RGW, Azurite and the GCS emulator), or start them with \`npm run servers -- start\` and export .storages-run/servers.env.`,
    );
  return value;
}

let counter = 0;

export async function namedStorage(backend: BackendId, name: string): Promise<NamedStorage> {
  const variable = `STORAGES_${name.toUpperCase()}`;
  const unique = `${RUN}-${name.replace(/_/g, "-")}-${counter++}`;
  switch (backend) {
    case "fs": {
      const dir = await mkdtemp(join(tmpdir(), "storages-migrate-"));
      return {
        name,
        env: { [variable]: `file://${dir}/files?visibility=private` },
        cleanup: () => rm(dir, { recursive: true, force: true }),
      };
    }
    case "s3": {
      const { S3Client, CreateBucketCommand } = await import("@aws-sdk/client-s3");
      const endpoint = need("STORAGES_TEST_S3_ENDPOINT");
      const region = process.env.STORAGES_TEST_S3_REGION ?? "us-east-1";
      const credentials = {
        accessKeyId: need("STORAGES_TEST_S3_ACCESS_KEY_ID"),
        secretAccessKey: need("STORAGES_TEST_S3_SECRET_ACCESS_KEY"),
      };
      const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
      await client.send(new CreateBucketCommand({ Bucket: unique }));
      const profile = process.env.STORAGES_TEST_S3_PROFILE;
      const query = new URLSearchParams({
        endpoint,
        region,
        visibility: "private",
        ...(profile ? { profile } : {}),
      });
      return {
        name,
        env: {
          [variable]: `s3://${unique}?${query}`,
          [`${variable}_ACCESS_KEY_ID`]: credentials.accessKeyId,
          [`${variable}_SECRET_ACCESS_KEY`]: credentials.secretAccessKey,
        },
        async cleanup() {
          // Objects and the multipart uploads a killed run left open, then the bucket.
          await removeBucket(client, unique).catch(() => undefined);
          client.destroy();
        },
      };
    }
    case "azure": {
      const { BlobServiceClient } = await import("@azure/storage-blob");
      const connectionString = need("STORAGES_TEST_AZURE_CONNECTION_STRING");
      const account = /(?:^|;)\s*AccountName=([^;]+)/i.exec(connectionString)?.[1];
      const service = BlobServiceClient.fromConnectionString(connectionString);
      await service.createContainer(unique);
      return {
        name,
        env: {
          [variable]: `azure://${account}/${unique}?visibility=private`,
          [`${variable}_CONNECTION_STRING`]: connectionString,
        },
        cleanup: async () => {
          await service.deleteContainer(unique).catch(() => undefined);
        },
      };
    }
    case "gcs": {
      const endpoint = need("STORAGES_TEST_GCS_ENDPOINT");
      const projectId = need("STORAGES_TEST_GCS_PROJECT");
      const bucket = process.env.STORAGES_TEST_GCS_BUCKET ?? `${RUN}-bucket`;
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const key = JSON.stringify({
        type: "service_account",
        project_id: projectId,
        client_email: `storages-migrate@${projectId}.iam.gserviceaccount.com`,
        private_key: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
      });
      const query = new URLSearchParams({ endpoint, projectId, visibility: "private" });
      return {
        name,
        env: { [variable]: `gs://${bucket}/${unique}/?${query}`, [`${variable}_CREDENTIALS_JSON`]: key },
        async cleanup() {
          await emptyAndRemove(name, this.env);
        },
      };
    }
  }
}

/** Deletes every file of a named storage. */
async function emptyAndRemove(name: string, env: Record<string, string>): Promise<void> {
  const registry = createStorages({ env, configFile: false, onWarning: () => {} });
  const storage = await registry.getWriter(name);
  await storage.deletePrefix("").catch(() => undefined);
  await storage.close();
}

/** The writable storages of the given named storages, from their variables alone. */
export async function open(...named: NamedStorage[]): Promise<Storage[]> {
  const env = Object.assign({}, ...named.map((n) => n.env));
  const registry = createStorages({ env, configFile: false, onWarning: () => {} });
  return Promise.all(named.map((n) => registry.getWriter(n.name)));
}
