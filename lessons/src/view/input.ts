// What the live view's page may ask for, bounded: every field checked, every
// limit explicit, a clear message for the 400 otherwise. Pure.

export const SEND_LIMITS = {
  /** Requests per send from the page. */
  count: { min: 1, max: 2_000 },
  /** Requests in flight at once. */
  concurrency: { min: 1, max: 32 },
  /** Characters of the path (with its query). */
  pathChars: 1_024,
  headers: 16,
  headerNameChars: 64,
  headerValueChars: 512,
  /** Bytes of a request body to the view's own API. */
  bodyBytes: 16 * 1024,
} as const;

export type GroupBy = "body" | "status";

export interface SendRequest {
  service: string;
  path: string;
  headers: Array<[string, string]>;
  count: number;
  concurrency: number;
  by: GroupBy;
}

export class InputError extends Error {}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Visible ASCII and spaces, nothing else (no CR, LF or other controls). */
const PRINTABLE = /^[\x20-\x7e]*$/;
const PATH = /^\/[\x21-\x7e]*$/;

function wholeNumber(value: unknown, field: string, range: { min: number; max: number }): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < range.min || value > range.max) {
    throw new InputError(`${field}: expected a whole number from ${range.min} to ${range.max}`);
  }
  return value;
}

/** Checks the page's "send traffic" request against SEND_LIMITS and the Services the preview serves. */
export function parseSendRequest(body: unknown, services: readonly string[]): SendRequest {
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new InputError("expected a JSON object");
  const b = body as Record<string, unknown>;
  const service = b.service;
  if (typeof service !== "string" || !services.includes(service))
    throw new InputError(`service: expected one of ${services.join(", ")}`);
  const path = b.path;
  if (typeof path !== "string" || path.length > SEND_LIMITS.pathChars || !PATH.test(path)) {
    throw new InputError(
      `path: expected / followed by up to ${SEND_LIMITS.pathChars - 1} visible ASCII characters (no spaces)`,
    );
  }
  const rawHeaders = b.headers ?? [];
  if (!Array.isArray(rawHeaders) || rawHeaders.length > SEND_LIMITS.headers)
    throw new InputError(`headers: expected a list of at most ${SEND_LIMITS.headers} [name, value] pairs`);
  const headers = rawHeaders.map((pair, i): [string, string] => {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string")
      throw new InputError(`headers[${i}]: expected [name, value]`);
    const [name, value] = pair as [string, string];
    if (name.length === 0 || name.length > SEND_LIMITS.headerNameChars || !TOKEN.test(name))
      throw new InputError(`headers[${i}]: the name must be 1 to ${SEND_LIMITS.headerNameChars} token characters`);
    if (value.length > SEND_LIMITS.headerValueChars || !PRINTABLE.test(value))
      throw new InputError(
        `headers[${i}]: the value must be up to ${SEND_LIMITS.headerValueChars} printable ASCII characters`,
      );
    return [name.toLowerCase(), value.trim()];
  });
  const count = wholeNumber(b.count, "count", SEND_LIMITS.count);
  const concurrency = wholeNumber(b.concurrency ?? 1, "concurrency", SEND_LIMITS.concurrency);
  const by = b.by ?? "body";
  if (by !== "body" && by !== "status") throw new InputError('by: expected "body" or "status"');
  return { service, path, headers, count, concurrency, by };
}

/** tally's arguments for a send, the URL last as the sleep pod calls it. */
export function sendTallyArgs(send: SendRequest): string[] {
  const args = ["-n", String(send.count), "-c", String(send.concurrency)];
  if (send.by !== "body") args.push("--by", send.by);
  for (const [name, value] of send.headers) args.push("-H", `${name}: ${value}`);
  args.push(`http://${send.service}${send.path}`);
  return args;
}
