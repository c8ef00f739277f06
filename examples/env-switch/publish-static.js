/**
 * Deploy step: publishes ./static to the `staticfiles` storage, wherever the environment puts it.
 * It asks for the writer explicitly: the storage application code gets is read-only.
 * (A real project runs `storages collectstatic`, which also hashes names and writes a manifest.)
 */
import { createReadStream } from "node:fs";
import { readdir, stat } from "node:fs/promises";
import { join, relative } from "node:path";
import { StorageError, storages } from "@storages/core";

const source = join(import.meta.dirname, "static");

async function* files(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* files(path);
    else if (entry.isFile()) yield path;
  }
}

try {
  const writer = await storages.getWriter("staticfiles");
  let count = 0;
  for await (const path of files(source)) {
    const name = relative(source, path).split("\\").join("/");
    await writer.save(name, createReadStream(path), {
      overwrite: true,
      size: (await stat(path)).size,
      cacheControl: "public, max-age=300",
    });
    count++;
  }
  console.log(JSON.stringify({ published: count, backend: writer.backend }));
  await storages.close();
} catch (error) {
  console.error(StorageError.isInstance(error) ? `publish-static: ${error.message}` : error);
  process.exitCode = 1;
}
