/**
 * HTTP-dates (RFC 9110 §5.6.7), read the one way for every header that carries one: the
 * conditional requests (If-Modified-Since, If-Unmodified-Since, If-Range) and Retry-After. Not
 * exported from the package: each header's own reader (evaluatePreconditions, parseRetryAfter)
 * is the API.
 */

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)";
const HTTP_DATE = new RegExp(
  [
    `^${DAY}, \\d{2} ${MONTH} \\d{4} \\d{2}:\\d{2}:\\d{2} GMT$`, // IMF-fixdate
    `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), \\d{2}-${MONTH}-\\d{2} \\d{2}:\\d{2}:\\d{2} GMT$`, // RFC 850
    `^${DAY} ${MONTH} [ \\d]\\d \\d{2}:\\d{2}:\\d{2} \\d{4}$`, // asctime
  ].join("|"),
);

/**
 * Milliseconds since the epoch of an HTTP-date — IMF-fixdate, and the obsolete RFC 850 and asctime
 * forms a recipient must still accept — or undefined for anything else: Date.parse alone would
 * read "-1", "1.5" or a list of dates as a date.
 */
export function parseHttpDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (!HTTP_DATE.test(text)) return undefined;
  // asctime has no zone: it is GMT by definition, which Date.parse must be told.
  const time = Date.parse(text.endsWith("GMT") ? text : `${text} GMT`);
  return Number.isNaN(time) ? undefined : time;
}
