/**
 * The Azure server integration tests run against, and the containers they create.
 * Every run uses fresh, uniquely named containers and deletes them afterwards.
 */
import { randomBytes } from "node:crypto";
import { BlobServiceClient, type ContainerClient } from "@azure/storage-blob";

export const NO_SERVER_MESSAGE =
  "No Azure server for the integration tests: run `npm test` from the repository root (it starts Azurite), " +
  "or start one with `node scripts/servers/azurite.mjs start` and set STORAGES_TEST_AZURE_CONNECTION_STRING " +
  "(and STORAGES_TEST_AZURE_SERVER) to what it prints (or run Azurite with `docker compose up -d azurite`).";

export function connectionString(): string {
  const value = process.env.STORAGES_TEST_AZURE_CONNECTION_STRING;
  if (!value) throw new Error(NO_SERVER_MESSAGE);
  return value;
}

export function serverLabel(): string {
  return process.env.STORAGES_TEST_AZURE_SERVER || "Azure (STORAGES_TEST_AZURE_CONNECTION_STRING)";
}

export function serviceClient(): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(connectionString());
}

/** Containers created by this test file, removed by removeContainers(). */
const created: ContainerClient[] = [];

export async function freshContainer(tag: string, access?: "blob"): Promise<ContainerClient> {
  const name = `${tag}-${Date.now().toString(36)}-${randomBytes(4).toString("hex")}`.slice(0, 63);
  const container = serviceClient().getContainerClient(name);
  await container.create(access ? { access } : {});
  created.push(container);
  return container;
}

export async function removeContainers(): Promise<void> {
  const all = created.splice(0);
  await Promise.all(all.map((c) => c.deleteIfExists()));
}
