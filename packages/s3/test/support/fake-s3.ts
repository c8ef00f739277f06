/**
 * A recording stand-in for the HTTP layer under a real S3Client: the SDK serialises and signs
 * every request as it would for a server, and the test sees exactly what the driver sent. For unit
 * tests of what goes over the wire only — no claim about any server rests on it.
 */
import { Readable } from "node:stream";
import { S3Client } from "@aws-sdk/client-s3";

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string | string[] | null>;
  headers: Record<string, string>;
  body: string;
  /** The body's bytes, copied when the response is sent (a buffer reused too early shows here). */
  bytes: Buffer;
}

export interface FakeResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: string;
}

export type Responder = (request: RecordedRequest) => FakeResponse | undefined;

export const FAKE_SECRET = "fakeSecretKeyThatMustNeverLeak0123456789";

async function readBody(body: unknown): Promise<Buffer> {
  if (body === undefined || body === null) return Buffer.alloc(0);
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof Uint8Array) return Buffer.from(body); // a copy
  if (typeof (body as AsyncIterable<unknown>)[Symbol.asyncIterator] === "function") {
    const chunks: Buffer[] = [];
    for await (const chunk of body as AsyncIterable<Uint8Array | string>) chunks.push(Buffer.from(chunk));
    return Buffer.concat(chunks);
  }
  return Buffer.from(String(body));
}

export function fakeS3(
  responder: Responder = () => undefined,
  options: { responseDelayMs?: number; checksums?: "WHEN_REQUIRED" | "WHEN_SUPPORTED" } = {},
): { client: S3Client; requests: RecordedRequest[] } {
  const requests: RecordedRequest[] = [];
  const requestHandler = {
    async handle(request: {
      method: string;
      path: string;
      query?: Record<string, string | string[] | null>;
      headers: Record<string, string>;
      body?: unknown;
    }) {
      // Like a server, answer only after a while: the body must stay untouched until then.
      if (options.responseDelayMs)
        await new Promise((resolve) => setTimeout(resolve, options.responseDelayMs));
      const bytes = await readBody(request.body);
      const recorded: RecordedRequest = {
        method: request.method,
        path: decodeURIComponent(request.path),
        query: { ...request.query },
        headers: Object.fromEntries(Object.entries(request.headers).map(([k, v]) => [k.toLowerCase(), v])),
        body: bytes.toString("utf8"),
        bytes,
      };
      requests.push(recorded);
      const response = responder(recorded) ?? {};
      const body = response.body ?? "";
      return {
        response: {
          statusCode: response.status ?? 200,
          reason: undefined,
          headers: { "content-length": String(Buffer.byteLength(body)), ...response.headers },
          body: Readable.from(body === "" ? [] : [Buffer.from(body)]),
        },
      };
    },
    updateHttpClientConfig() {},
    httpHandlerConfigs() {
      return {};
    },
  };
  const client = new S3Client({
    region: "us-east-1",
    endpoint: "http://127.0.0.1:9",
    forcePathStyle: true,
    credentials: { accessKeyId: "FAKEACCESSKEY", secretAccessKey: FAKE_SECRET },
    requestChecksumCalculation: options.checksums ?? "WHEN_REQUIRED",
    responseChecksumValidation: options.checksums ?? "WHEN_REQUIRED",
    maxAttempts: 1,
    requestHandler,
  });
  return { client, requests };
}

export function xmlError(code: string, status: number): FakeResponse {
  return {
    status,
    headers: { "content-type": "application/xml" },
    body: `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code} from the fake</Message></Error>`,
  };
}
