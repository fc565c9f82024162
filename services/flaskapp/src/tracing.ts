// Headers that carry a trace across services. Copying them from the incoming
// request to every outgoing call is what keeps a mesh trace from breaking at the app.
import type { IncomingHttpHeaders } from "node:http";

export const TRACING_HEADERS = [
  "x-request-id",
  "traceparent",
  "tracestate",
  "baggage",
  "b3",
  "x-b3-traceid",
  "x-b3-spanid",
  "x-b3-parentspanid",
  "x-b3-sampled",
  "x-b3-flags",
  "x-ot-span-context",
  "x-cloud-trace-context",
  "grpc-trace-bin",
  "sw8",
  "x-datadog-trace-id",
  "x-datadog-parent-id",
  "x-datadog-sampling-priority",
] as const;

/** The tracing headers present on a request, ready to send on an outgoing one. */
export function tracingHeadersOf(headers: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of TRACING_HEADERS) {
    const value = headers[name];
    if (typeof value === "string") out[name] = value;
  }
  return out;
}

/** The trace id for the log line: W3C traceparent's second field, else B3's. */
export function traceIdOf(headers: IncomingHttpHeaders): string | undefined {
  const traceparent = headers.traceparent;
  if (typeof traceparent === "string") {
    const id = traceparent.split("-")[1];
    if (id !== undefined && /^[0-9a-f]{32}$/.test(id)) return id;
  }
  const b3 = headers["x-b3-traceid"];
  return typeof b3 === "string" && /^[0-9a-f]{16,32}$/.test(b3) ? b3 : undefined;
}
