// flaskapp's request log as the tooling reads it, from a local pod's stdout or `kubectl logs`.
/** A request-log line as flaskapp writes it (services/flaskapp/src/observe.ts): the fields the mirror check reads. */
export interface RequestLogLine {
  msg?: unknown;
  host?: unknown;
  requestId?: unknown;
}

/** Parses `kubectl logs` (or a pod's stdout) into request-log lines, skipping anything that is not one. */
export function parseLogLines(text: string): RequestLogLine[] {
  return text.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as RequestLogLine];
    } catch {
      return [];
    }
  });
}
