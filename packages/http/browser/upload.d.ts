export interface UploadProgress {
  loaded: number;
  total: number;
  /** loaded / total, 0…1 */
  fraction: number;
}

export interface SendOptions {
  onProgress?: ((progress: UploadProgress) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** The descriptor the app's issue endpoint returns (DirectUploadDescriptor in @storages/http). */
export interface UploadDescriptor {
  method: "PUT" | "POST";
  url: string;
  headers?: Record<string, string>;
  fields?: Record<string, string>;
  fileField?: string;
  name: string;
  token: string;
}

export class UploadFailed extends Error {
  readonly status: number;
  readonly code: string;
}

export function uploadWithDescriptor(
  descriptor: UploadDescriptor,
  file: Blob,
  options?: SendOptions,
): Promise<{ status: number; body: unknown }>;

export function directUpload(
  file: File,
  options: SendOptions & { issueUrl: string; confirmUrl: string },
): Promise<{ name: string; size: number; contentType: string; originalName: string }>;

export function formUpload(url: string, formData: FormData, options?: SendOptions): Promise<unknown>;
