/**
 * Anonymous HTTP requests for the probes: no credentials, no redirects followed (a redirect to a
 * login page is not "readable"), a timeout on every request, bodies read only up to a bound.
 */

export interface ProbeResponse {
  status: number;
  headers: Headers;
  /** The first `maxBody` bytes, as text. */
  body: string;
}

export interface ProbeRequest {
  method?: string | undefined;
  headers?: Record<string, string> | undefined;
  timeout: number;
  signal?: AbortSignal | undefined;
  /** Default 64 KiB. */
  maxBody?: number | undefined;
}

/** A request's outcome: a response, or the reason none came (never thrown). */
export type ProbeOutcome = { ok: true; response: ProbeResponse } | { ok: false; reason: string };

async function readBounded(res: Response, max: number): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString("utf8");
}

export async function probe(url: string, request: ProbeRequest): Promise<ProbeOutcome> {
  const timeout = AbortSignal.timeout(request.timeout);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  try {
    const res = await fetch(url, {
      method: request.method ?? "GET",
      headers: request.headers,
      redirect: "manual",
      credentials: "omit",
      signal,
    });
    const body = request.method === "HEAD" ? "" : await readBounded(res, request.maxBody ?? 65_536);
    return { ok: true, response: { status: res.status, headers: res.headers, body } };
  } catch (error) {
    const e = error as Error & { cause?: { code?: string; message?: string } };
    if (timeout.aborted) return { ok: false, reason: `no answer within ${request.timeout} ms` };
    return { ok: false, reason: e.cause?.code ?? e.cause?.message ?? e.message };
  }
}

/** A URL safe to print: no query string (a signature), no user info. */
export function printableUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = "";
    u.password = "";
    const signed = u.search !== "";
    u.search = "";
    return `${u.toString()}${signed ? "?…" : ""}`;
  } catch {
    return "(invalid URL)";
  }
}
