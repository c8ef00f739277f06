/**
 * Starts the upload service on HOST:PORT (default 127.0.0.1:3000), with storages configured by the
 * environment alone. Prints one JSON line `{"listening":"http://…"}` when ready.
 *
 *   STORAGES_MODE=local node server.js                      # every storage a folder under ./.storages
 *   STORAGES_DEFAULT=s3://media?region=eu-west-1 … node server.js
 */
import { createServer } from "node:http";
import { StorageError, storages } from "@storages/core";
import { createApp } from "./app.js";

let handler;
try {
  handler = await createApp(storages);
} catch (error) {
  // A ConfigError says which variable is wrong and how to fix it; it never holds a secret.
  console.error(StorageError.isInstance(error) ? `storage configuration: ${error.message}` : error);
  process.exit(1);
}

const host = process.env.HOST ?? "127.0.0.1";
const server = createServer(handler);
server.listen(Number(process.env.PORT ?? 3000), host, () => {
  const { port } = server.address();
  console.log(JSON.stringify({ listening: `http://${host}:${port}` }));
});

async function shutdown() {
  server.close();
  server.closeIdleConnections();
  await storages.close();
}
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
