// The live "512/1000 requests" line on stderr. Only on a terminal, and only
// once a run has lasted long enough to need it, so piped output stays clean.
import type { Amount } from "./types.ts";

export interface ProgressStream {
  isTTY?: boolean;
  write(text: string): unknown;
}

export interface Progress {
  /** Call once per finished request. */
  tick(): void;
  /** Stops the updates and erases the line. */
  stop(): void;
}

export const NO_PROGRESS: Progress = { tick: () => {}, stop: () => {} };

export const PROGRESS_DELAY_MS = 1000;
const INTERVAL_MS = 200;
const CLEAR_LINE = "\r\x1b[2K";

export function progressLine(done: number, amount: Amount, elapsedMs: number): string {
  const seconds = (elapsedMs / 1000).toFixed(1);
  const rate = elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0;
  const of =
    amount.kind === "requests"
      ? `${done}/${amount.count} requests`
      : `${done} requests, ${seconds}s of ${(amount.ms / 1000).toFixed(1)}s`;
  return amount.kind === "requests" ? `${of}  ${seconds}s  ${rate} req/s` : `${of}  ${rate} req/s`;
}

export function startProgress(stream: ProgressStream, amount: Amount, delayMs = PROGRESS_DELAY_MS): Progress {
  if (!stream.isTTY) return NO_PROGRESS;
  let done = 0;
  const start = performance.now();
  let shown = false;
  let interval: NodeJS.Timeout | undefined;
  const draw = () => {
    shown = true;
    stream.write(`${CLEAR_LINE}${progressLine(done, amount, performance.now() - start)}`);
  };
  const delay = setTimeout(() => {
    draw();
    interval = setInterval(draw, INTERVAL_MS).unref();
  }, delayMs).unref();
  return {
    tick: () => done++,
    stop: () => {
      clearTimeout(delay);
      clearInterval(interval);
      if (shown) stream.write(CLEAR_LINE);
    },
  };
}
