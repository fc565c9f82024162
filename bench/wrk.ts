// Runs wrk and reads its report (`wrk --latency` text output).
import { execFile } from "node:child_process";

export interface WrkResult {
  requests: number;
  reqPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** responses outside 2xx/3xx plus socket errors (connect, read, write, timeout) */
  errors: number;
}

export interface WrkOptions {
  threads: number;
  connections: number;
  durationMs: number;
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * wrk's latency figures: "1.05ms" -> 1.05; "850.00us" -> 0.85; "2.00s" -> 2000.
 * Not parseDuration: that one reads what people write (no "us") and rounds to whole ms.
 */
export function parseWrkDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(us|ms|s|m|h)$/.exec(text.trim());
  if (!match) return undefined;
  return Number(match[1]) * UNIT_MS[match[2]!]!;
}

export function parseWrkOutput(text: string): WrkResult {
  const number = (pattern: RegExp, what: string): number => {
    const match = pattern.exec(text);
    if (!match) throw new Error(`wrk output has no ${what}:\n${text}`);
    return Number(match[1]);
  };
  const percentile = (p: string): number => {
    const match = new RegExp(`^\\s*${p}%\\s+(\\S+)\\s*$`, "m").exec(text);
    const ms = match ? parseWrkDuration(match[1]!) : undefined;
    if (ms === undefined) throw new Error(`wrk output has no ${p}% latency (run it with --latency):\n${text}`);
    return ms;
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = socket ? socket.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0;
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(text);
  return {
    requests: number(/^\s*(\d+) requests in /m, "request count"),
    reqPerSec: number(/^Requests\/sec:\s+(\d+(?:\.\d+)?)/m, "Requests/sec"),
    p50Ms: percentile("50"),
    p99Ms: percentile("99"),
    errors: socketErrors + (non2xx ? Number(non2xx[1]) : 0),
  };
}

export function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const args = [
    "--latency",
    `-t${options.threads}`,
    `-c${options.connections}`,
    `-d${Math.ceil(options.durationMs / 1000)}s`,
    url,
  ];
  return new Promise((resolve, reject) => {
    // wrk stops by itself after -d; the timeout only guards against a hang.
    execFile("wrk", args, { timeout: options.durationMs + 15_000, killSignal: "SIGKILL" }, (error, stdout, stderr) => {
      if (error) {
        reject(new Error(`wrk ${args.join(" ")} failed: ${error.message}\n${stderr}`));
        return;
      }
      try {
        resolve(parseWrkOutput(stdout));
      } catch (parseError) {
        reject(parseError);
      }
    });
  });
}
