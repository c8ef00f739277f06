/**
 * Finds the GCS server the integration tests talk to.
 *
 * STORAGES_TEST_GCS_ENDPOINT (or _BUCKET for real GCS) set — by `npm test` at the repository root,
 * which starts the Cloud Storage emulator, or by you: used as is. Unset and a Docker engine
 * reachable: a fake-gcs-server container (@testcontainers/gcloud, the docker-compose service of
 * docs/backends/gcs.compose.yml) for this run. Neither: nothing is started and the conformance test
 * fails with the message in server.ts — never a silent skip. Unit tests run either way.
 */
import type { TestProject } from "vitest/node";

const IMAGE = "fsouza/fake-gcs-server:1.52.2";

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
  if (process.env.STORAGES_TEST_GCS_ENDPOINT || process.env.STORAGES_TEST_GCS_BUCKET) return undefined;
  if (!(await dockerReachable())) return undefined;
  const { CloudStorageEmulatorContainer } = await import("@testcontainers/gcloud");
  const container = await new CloudStorageEmulatorContainer(IMAGE).start();
  const endpoint = container.getEmulatorEndpoint();
  const env = {
    STORAGES_TEST_GCS_ENDPOINT: endpoint,
    STORAGES_TEST_GCS_PROJECT: "demo-storages",
    STORAGES_TEST_GCS_SERVER: `fake-gcs-server ${IMAGE.split(":")[1]} (testcontainers)`,
  };
  Object.assign(process.env, env);
  project.provide("gcsTestEnv", env);
  return async () => {
    await container.stop();
  };
}

declare module "vitest" {
  export interface ProvidedContext {
    gcsTestEnv?: Record<string, string>;
  }
}
