/**
 * What a request to each service is for, told from its method, path, query and headers: the fault
 * rules pick requests by it ("the download", "the upload"), so a test says which step fails without
 * knowing the service's URL scheme.
 */
import type { Dialect, ProxiedRequest, RequestKind } from "./proxy.js";

type Request = Omit<ProxiedRequest, "kind">;

function parse(request: Request): { path: string; query: URLSearchParams } {
  const url = new URL(request.url, "http://proxy.invalid");
  return { path: url.pathname, query: url.searchParams };
}

/** S3, path style: /bucket/key?… */
export function classifyS3(request: Request): RequestKind {
  const { path, query } = parse(request);
  const objectPath = path.split("/").filter(Boolean).length > 1;
  switch (request.method) {
    case "HEAD":
      return objectPath ? "metadata" : "other";
    case "GET":
      if (query.has("acl")) return "metadata";
      if (!objectPath || query.has("list-type") || query.has("uploads")) return "list";
      return "download";
    case "PUT":
      if (request.headers["x-amz-copy-source"] !== undefined) return "copy";
      if (query.has("acl") || !objectPath) return "other";
      return "upload";
    case "POST":
      if (query.has("delete")) return "delete";
      return objectPath ? "upload" : "other";
    case "DELETE":
      // Aborting a multipart upload is the upload's own cleanup, not a delete of a file.
      return query.has("uploadId") ? "other" : objectPath ? "delete" : "other";
    default:
      return "other";
  }
}

/** The GCS JSON API: /storage/v1/b/{bucket}/o[/{object}], /upload/storage/v1/…, /download/… */
export function classifyGcs(request: Request): RequestKind {
  const { path, query } = parse(request);
  if (path.startsWith("/upload/")) return "upload";
  if (path.startsWith("/download/")) return "download";
  const object = /^\/storage\/v1\/b\/[^/]+\/o(\/.*)?$/.exec(path);
  if (!object) return "other";
  const rest = object[1];
  switch (request.method) {
    case "GET":
      if (rest === undefined || rest === "/") return "list";
      if (/\/acl(\/|$)/.test(rest)) return "metadata";
      return query.get("alt") === "media" ? "download" : "metadata";
    case "POST":
      if (rest !== undefined && /\/(rewriteTo|copyTo)\//.test(rest)) return "copy";
      return "other";
    case "DELETE":
      return rest === undefined ? "other" : "delete";
    default:
      return "other";
  }
}

/** Azure Blob, path style: /account/container/blob?… */
export function classifyAzure(request: Request): RequestKind {
  const { path, query } = parse(request);
  const blobPath = path.split("/").filter(Boolean).length > 2;
  const comp = query.get("comp");
  switch (request.method) {
    case "HEAD":
      return blobPath ? "metadata" : "other";
    case "GET":
      if (comp === "list") return "list";
      if (!blobPath) return "other";
      return comp === null ? "download" : "metadata";
    case "PUT":
      if (!blobPath) return "other";
      if (request.headers["x-ms-copy-source"] !== undefined) return "copy";
      if (comp === null || comp === "block" || comp === "blocklist") return "upload";
      return "other";
    case "DELETE":
      return blobPath ? "delete" : "other";
    case "POST":
      return comp === "batch" ? "delete" : "other";
    default:
      return "other";
  }
}

export const CLASSIFIERS: Record<Dialect, (request: Request) => RequestKind> = {
  s3: classifyS3,
  gcs: classifyGcs,
  azure: classifyAzure,
};
