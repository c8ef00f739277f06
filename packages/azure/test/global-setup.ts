/**
 * Finds the Azure server the integration tests talk to.
 *
 * STORAGES_TEST_AZURE_CONNECTION_STRING set (by `npm test` at the repo root, which starts Azurite
 * from npm, or by you for a real account): used as is. Unset and a Docker engine reachable: an
 * Azurite container (@testcontainers/azurite) for this run. Neither: nothing is started and every
 * integration test fails with the message in server.ts — never a silent skip. Unit tests run either way.
 */
import type { TestProject } from "vitest/node";

const IMAGE = "mcr.microsoft.com/azure-storage/azurite:3.35.0";

async function dockerReachable(): Promise<boolean> {
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    return true;
  } catch {
    return false;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  if (process.env.STORAGES_TEST_AZURE_CONNECTION_STRING) return undefined;
  if (!(await dockerReachable())) return undefined;
  const { AzuriteContainer } = await import("@testcontainers/azurite");
  const container = await new AzuriteContainer(IMAGE)
    .withInMemoryPersistence()
    .withSkipApiVersionCheck()
    .start();
  const connectionString = container.getConnectionString();
  process.env.STORAGES_TEST_AZURE_CONNECTION_STRING = connectionString;
  process.env.STORAGES_TEST_AZURE_SERVER = `Azurite (testcontainers, ${IMAGE.split(":")[1]})`;
  project.provide("azureConnectionString", connectionString);
  project.provide("azureServer", process.env.STORAGES_TEST_AZURE_SERVER);
  return async () => {
    await container.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    azureConnectionString?: string;
    azureServer?: string;
  }
}
