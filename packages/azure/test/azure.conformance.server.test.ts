/**
 * The shared conformance suite against a real Azure Blob server: Azurite from npm in CI
 * (`npm test` at the root starts it), any account through STORAGES_TEST_AZURE_CONNECTION_STRING.
 * Private storages live under unique prefixes of one fresh private container, public ones in a
 * fresh container with public access "blob"; both are deleted afterwards.
 */

import type { ContainerClient } from "@azure/storage-blob";
import { Storage } from "@storages/core";
import { describeConformance } from "@storages/testing";
import { AzureDriver } from "../src/index.js";
import { connectionString, freshContainer, removeContainers, serverLabel, serviceClient } from "./server.js";

let privateContainer: Promise<ContainerClient> | undefined;
let publicContainer: Promise<ContainerClient> | undefined;

function containerFor(visibility: "public" | "private"): Promise<ContainerClient> {
  if (visibility === "public") {
    publicContainer ??= freshContainer("conformance-pub", "blob");
    return publicContainer;
  }
  const given = process.env.STORAGES_TEST_AZURE_CONTAINER;
  privateContainer ??= given
    ? Promise.resolve(serviceClient().getContainerClient(given))
    : freshContainer("conformance");
  return privateContainer;
}

describeConformance({
  name: "azure",
  server: serverLabel(),
  // Azurite keeps blobs in LokiJS and sorts names as JavaScript strings (UTF-16 code units).
  ...(process.env.STORAGES_TEST_AZURE_CONNECTION_STRING?.includes("devstoreaccount1") && {
    serverGaps: {
      listingOrder:
        "Azurite sorts names by UTF-16 code units (astral characters before U+E000–U+FFFF), not by code point",
    },
  }),
  async createStorage({ prefix, visibility = "private", overwrite }) {
    const container = await containerFor(visibility);
    const driver = new AzureDriver({
      connectionString: connectionString(),
      container: container.containerName,
      prefix,
      visibility,
    });
    return new Storage(driver, { visibility, overwrite });
  },
  teardown: removeContainers,
  // Azurite performs every check of the suite (SAS tamper/expiry, anonymous access, conditional
  // create, staged blocks); no server gap to declare.
});
