/** Complete multipart bodies a connected client sends whose first part header busboy refuses. */
import { BOUNDARY, png } from "./uploads.js";

export const MALFORMED_BODIES: Record<string, Buffer> = {
  "a NUL byte in the filename": Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a\0.png"\r\nContent-Type: image/png\r\n\r\n`,
    ),
    png(),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]),
  "a 100 KB part header": Buffer.concat([
    Buffer.from(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\nX-Padding: ${"a".repeat(100_000)}\r\nContent-Type: image/png\r\n\r\n`,
    ),
    png(),
    Buffer.from(`\r\n--${BOUNDARY}--\r\n`),
  ]),
};
