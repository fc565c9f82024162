// Where flaskapp's log lines go (the logger's destination), behind one seam
// with two implementations chosen by FLASKAPP_OBSERVE. Both gather lines up to
// LOG_BATCH_BYTES into one synchronous write (one write per batch instead of
// one per request: less CPU per request, bench/RESULTS.md, "changes") and
// show each line of a quiet server within LOG_FLUSH_MS; flush() writes what is
// pending at once (after `listening`, and before exit).
import pino, { type DestinationStream } from "pino";
import type { ObserveKind } from "./config.ts";
import { LineBatch, writeAllSync } from "./line-batch.ts";

export const LOG_BATCH_BYTES = 16 * 1024;
export const LOG_FLUSH_MS = 100;

export interface LogSink {
  /** What pino writes each line to. */
  stream: DestinationStream;
  /** Writes every pending line now, synchronously. */
  flush(): void;
}

/** pino's own destination (sonic-boom), synchronous, batching through its public options. */
export function plainSink(fd: number, batchBytes = LOG_BATCH_BYTES, flushMs = LOG_FLUSH_MS): LogSink {
  const stream = pino.destination({
    dest: fd,
    sync: true,
    minLength: batchBytes,
    maxWrite: 2 * batchBytes,
    periodicFlush: flushMs,
  });
  return { stream, flush: () => stream.flushSync() };
}

/** line-batch.ts: lines encoded at once into one reused buffer (why not sonic-boom: line-batch.ts). */
export function tunedSink(fd: number, batchBytes = LOG_BATCH_BYTES, flushMs = LOG_FLUSH_MS): LogSink {
  const batch = new LineBatch((bytes) => writeAllSync(fd, bytes), batchBytes, flushMs);
  return { stream: batch, flush: () => batch.flush() };
}

export function logSink(kind: ObserveKind, fd: number): LogSink {
  return kind === "plain" ? plainSink(fd) : tunedSink(fd);
}
