// @storages/http/browser — uploads from a web page, with progress and abort, the same page code
// for every backend: a form upload through the app, or a direct upload to the storage (S3 or GCS
// POST policy, Azure SAS PUT, the fs handler's signed PUT) described by the app's descriptor.
// Plain ESM, no dependencies, no build step: <script type="module"> can import it as is.

/** An upload the server refused: `status`, and `code`/`message` from the typed JSON body when there is one. */
export class UploadFailed extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = "UploadFailed";
    this.status = status;
    this.code = code;
  }
}

function abortError() {
  return new DOMException("The upload was aborted.", "AbortError");
}

function failure(xhr) {
  let code = `HTTP_${xhr.status}`;
  let message = `The server answered ${xhr.status}.`;
  const text = xhr.responseText || "";
  try {
    const body = JSON.parse(text);
    if (body?.error?.code) ({ code, message } = body.error);
  } catch {
    // S3-style XML errors: <Code>EntityTooLarge</Code><Message>…</Message>
    const xmlCode = /<Code>([^<]+)<\/Code>/.exec(text)?.[1];
    const xmlMessage = /<Message>([^<]+)<\/Message>/.exec(text)?.[1];
    if (xmlCode) code = xmlCode;
    if (xmlMessage) message = xmlMessage;
  }
  return new UploadFailed(xhr.status, code, message);
}

/**
 * One HTTP request with upload progress (XMLHttpRequest is what reports it) and abort.
 * Resolves with { status, body } on a 2xx, rejects with UploadFailed or an AbortError.
 */
function send(method, url, body, { headers = {}, onProgress, signal } = {}) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortError());
    const xhr = new XMLHttpRequest();
    xhr.open(method, url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => {
      if (onProgress && event.lengthComputable) {
        onProgress({
          loaded: event.loaded,
          total: event.total,
          fraction: event.total ? event.loaded / event.total : 1,
        });
      }
    };
    const onAbort = () => xhr.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    const done = () => signal?.removeEventListener("abort", onAbort);
    xhr.onload = () => {
      done();
      if (xhr.status >= 200 && xhr.status < 300) {
        let parsed = xhr.responseText;
        try {
          parsed = JSON.parse(xhr.responseText);
        } catch {}
        resolve({ status: xhr.status, body: parsed });
      } else reject(failure(xhr));
    };
    xhr.onerror = () => {
      done();
      reject(
        new UploadFailed(0, "NETWORK", "The upload could not reach the server (network error or CORS)."),
      );
    };
    xhr.onabort = () => {
      done();
      reject(abortError());
    };
    xhr.send(body);
  });
}

/**
 * Uploads `file` as the descriptor says: a POST of its fields and then the file, or a PUT of the
 * bare file with its headers. Resolves when the storage has it (confirm it next).
 */
export function uploadWithDescriptor(descriptor, file, options = {}) {
  if (descriptor.method === "POST") {
    const form = new FormData();
    for (const [name, value] of Object.entries(descriptor.fields ?? {})) form.append(name, value);
    form.append(descriptor.fileField ?? "file", file);
    return send("POST", descriptor.url, form, options);
  }
  return send(descriptor.method ?? "PUT", descriptor.url, file, {
    ...options,
    headers: descriptor.headers ?? {},
  });
}

async function postJson(url, body, signal) {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
    credentials: "same-origin",
  });
  const parsed = await response.json().catch(() => ({}));
  if (!response.ok) {
    throw new UploadFailed(
      response.status,
      parsed?.error?.code ?? `HTTP_${response.status}`,
      parsed?.error?.message ?? `The server answered ${response.status}.`,
    );
  }
  return parsed;
}

/**
 * A direct upload, start to end: asks the app for a descriptor (`issueUrl`), sends the file to
 * the storage, asks the app to confirm it (`confirmUrl`). Resolves with the confirmed file
 * ({ name, size, contentType, … }); rejects with UploadFailed (a refusal, the storage's or the
 * app's) or an AbortError.
 */
export async function directUpload(file, { issueUrl, confirmUrl, onProgress, signal } = {}) {
  const descriptor = await postJson(
    issueUrl,
    { filename: file.name, contentType: file.type, size: file.size },
    signal,
  );
  await uploadWithDescriptor(descriptor, file, { onProgress, signal });
  return postJson(confirmUrl, { token: descriptor.token }, signal);
}

/** A form upload through the app (handleUpload on the server): resolves with its JSON answer. */
export async function formUpload(url, formData, { onProgress, signal } = {}) {
  const { body } = await send("POST", url, formData, {
    onProgress,
    signal,
    headers: { accept: "application/json" },
  });
  return body;
}
