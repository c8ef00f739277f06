/**
 * Without STORAGES_TEST_S3_ENDPOINT, and with a Docker engine reachable, start MinIO (the
 * docker-compose service) through testcontainers for this run. Without either, nothing is started
 * and the integration tests fail with instructions: never a silent skip.
 */
import type { TestProject } from "vitest/node";

const MINIO_IMAGE = "minio/minio:RELEASE.2025-04-22T22-12-26Z";

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  project.provide("s3TestServer", null);
  if (process.env.STORAGES_TEST_S3_ENDPOINT) return undefined;
  let runtimeReachable = false;
  try {
    const { getContainerRuntimeClient } = await import("testcontainers");
    await getContainerRuntimeClient();
    runtimeReachable = true;
  } catch {
    runtimeReachable = false;
  }
  if (!runtimeReachable) return undefined;
  const { MinioContainer } = await import("@testcontainers/minio");
  const container = await new MinioContainer(MINIO_IMAGE).start();
  project.provide("s3TestServer", {
    endpoint: container.getConnectionUrl(),
    region: "us-east-1",
    accessKeyId: container.getUsername(),
    secretAccessKey: container.getPassword(),
    profile: "minio",
    label: `MinIO (${MINIO_IMAGE.split(":")[1]}, testcontainers)`,
  });
  return async () => {
    await container.stop();
  };
}
