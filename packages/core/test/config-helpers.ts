/**
 * Stand-ins for the driver packages, for the registry's own unit tests: they record what the
 * registry hands them and build memory drivers. The real packages are exercised against real
 * servers in test/env-switch.test.ts at the repository root.
 */
import {
  type BackendDefinition,
  ConfigError,
  endpointNamespace,
  MemoryDriver,
  normalizeKeyPrefix,
  StorageError,
  storageVariable,
} from "@storages/core";

export interface StubBackend extends BackendDefinition {
  fromUrlCalls: Array<{ url: string; source: string; storageName: string }>;
  created: Array<Record<string, unknown>>;
}

export function stubBackend(name: string, scheme: string, optionKeys: string[]): StubBackend {
  const def: StubBackend = {
    name,
    schemes: [scheme],
    optionKeys,
    fromUrlCalls: [],
    created: [],
    fromUrl(url, context) {
      def.fromUrlCalls.push({ url: url.href, source: context.source, storageName: context.storageName });
      if (scheme !== "file" && url.hostname === "") {
        throw new ConfigError(`${context.source} names no bucket: write it as ${scheme}://bucket/prefix.`);
      }
      const options: Record<string, unknown> =
        scheme === "file"
          ? { root: decodeURIComponent(url.pathname) }
          : { bucket: url.hostname, prefix: url.pathname.slice(1) };
      for (const [k, v] of url.searchParams) options[k] = v;
      const secret = context.env[`STORAGES_${context.storageName.toUpperCase()}_SECRET_ACCESS_KEY`];
      if (secret) options.secretAccessKey = secret;
      return options;
    },
    // What every backend tells core about itself; the real ones are tested in their packages.
    location(options) {
      const o = options as Record<string, string | undefined>;
      if (scheme === "file") return { kind: "dir", path: o.root! };
      return {
        kind: "bucket",
        service: scheme,
        namespace: endpointNamespace(o.endpoint, scheme),
        bucket: o.bucket!.toLowerCase(),
        prefix: normalizeKeyPrefix(o.prefix),
      };
    },
    describe(options) {
      const o = options as Record<string, string | undefined>;
      return scheme === "file"
        ? { location: o.root!, publicUrl: o.baseUrl }
        : { location: `${scheme}://${o.bucket}/${normalizeKeyPrefix(o.prefix)}` };
    },
    secretVariables(storageName) {
      return [{ name: storageVariable(storageName, "SECRET_ACCESS_KEY"), option: "secretAccessKey" }];
    },
    ...(scheme === "file"
      ? {
          localOptions: (context: { directory: string; baseUrl: string }) => ({
            root: context.directory,
            signingBaseUrl: context.baseUrl,
          }),
        }
      : {}),
    create(options) {
      def.created.push(options as Record<string, unknown>);
      if ((options as Record<string, unknown>).explode) throw new Error("driver constructor blew up");
      return new MemoryDriver();
    },
  };
  return def;
}

export interface StubPackages {
  importPackage: (specifier: string) => Promise<unknown>;
  imported: string[];
  backends: Record<"@storages/fs" | "@storages/s3" | "@storages/gcs" | "@storages/azure", StubBackend>;
}

/** Node's own message for a missing package, which the registry recognises. */
export function moduleNotFound(specifier: string): Error {
  const error = new Error(
    `Cannot find package '${specifier}' imported from /app/node_modules/@storages/core/dist/x.js`,
  );
  (error as NodeJS.ErrnoException).code = "ERR_MODULE_NOT_FOUND";
  return error;
}

/** Packages "installed": the others fail the way Node fails for a missing package. */
export function stubPackages(
  installed: string[] = ["@storages/fs", "@storages/s3", "@storages/gcs", "@storages/azure"],
): StubPackages {
  const backends = {
    "@storages/fs": stubBackend("fs", "file", [
      "root",
      "baseUrl",
      "signingBaseUrl",
      "fileMode",
      "directoryMode",
    ]),
    "@storages/s3": stubBackend("s3", "s3", [
      "bucket",
      "prefix",
      "region",
      "endpoint",
      "forcePathStyle",
      "secretAccessKey",
      "explode",
    ]),
    "@storages/gcs": stubBackend("gcs", "gs", ["bucket", "prefix", "projectId", "endpoint"]),
    "@storages/azure": stubBackend("azure", "azure", ["bucket", "prefix", "endpoint"]),
  };
  const imported: string[] = [];
  return {
    imported,
    backends,
    async importPackage(specifier) {
      imported.push(specifier);
      if (!installed.includes(specifier)) throw moduleNotFound(specifier);
      return { backend: backends[specifier as keyof typeof backends] };
    },
  };
}

export async function configError(promise: Promise<unknown> | (() => unknown)): Promise<StorageError> {
  try {
    await (typeof promise === "function" ? promise() : promise);
  } catch (error) {
    if (!StorageError.hasCode(error, "E_CONFIG")) throw error;
    return error;
  }
  throw new Error("expected a ConfigError");
}
