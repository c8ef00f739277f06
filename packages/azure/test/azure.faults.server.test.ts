/**
 * The Azure driver through the fault proxy to the real server (Azurite in CI): retries, timeouts,
 * cut uploads and downloads, secrets, and the concurrency soak (@storages/testing describeFaults).
 * Unfinished uploads are uncommitted blocks, listed with Get Block List straight from the server.
 */
import type { ContainerClient } from "@azure/storage-blob";
import { describeFaults } from "@storages/testing";
import { AzureDriver } from "../src/index.js";
import { connectionString, freshContainer, removeContainers, serverLabel } from "./server.js";

/** Account, key and blob endpoint of the test connection string (Azurite's well-known ones in CI). */
function parseConnectionString(text: string) {
  const fields = new Map(
    text
      .split(";")
      .filter((part) => part.includes("="))
      .map((part) => [part.slice(0, part.indexOf("=")).toLowerCase(), part.slice(part.indexOf("=") + 1)]),
  );
  const accountName = fields.get("accountname");
  const accountKey = fields.get("accountkey");
  const blobEndpoint = fields.get("blobendpoint");
  if (!accountName || !accountKey || !blobEndpoint)
    throw new Error(
      "The fault suite needs a connection string with AccountName, AccountKey and BlobEndpoint.",
    );
  return { accountName, accountKey, blobEndpoint: new URL(blobEndpoint) };
}

const { accountName, accountKey, blobEndpoint } = parseConnectionString(connectionString());
let container: Promise<ContainerClient> | undefined;

/** Blobs under `prefix` that hold uncommitted blocks: what a failed staged upload must not leave. */
async function uncommittedBlocks(prefix: string): Promise<string[]> {
  const client = await container!;
  const left: string[] = [];
  for await (const blob of client.listBlobsFlat({ prefix, includeUncommitedBlobs: true })) {
    const list = await client.getBlockBlobClient(blob.name).getBlockList("uncommitted");
    if ((list.uncommittedBlocks ?? []).length > 0)
      left.push(`${blob.name} (${list.uncommittedBlocks!.length} blocks)`);
  }
  return left;
}

const driver = async (endpoint: string, prefix: string, key = accountKey) => {
  container ??= freshContainer("faults");
  const { containerName } = await container;
  return new AzureDriver({
    accountName,
    accountKey: key,
    // Path style, as Azurite serves it: the proxy's origin, then the account.
    endpoint: `${endpoint}${blobEndpoint.pathname.replace(/\/$/, "")}`,
    container: containerName,
    prefix,
  });
};

describeFaults({
  name: "azure",
  server: serverLabel(),
  dialect: "azure",
  upstream: blobEndpoint.origin,
  createDriver: ({ endpoint, prefix }) => driver(endpoint, prefix),
  leftovers: (prefix) => uncommittedBlocks(`${prefix}/`),
  secrets: [accountKey],
  badCredentials: async ({ endpoint, prefix }) => {
    const wrong = Buffer.from("not the account key, 64 bytes long, so it passes as one ........").toString(
      "base64",
    );
    return { driver: await driver(endpoint, prefix, wrong), secrets: [wrong] };
  },
  teardown: removeContainers,
});
