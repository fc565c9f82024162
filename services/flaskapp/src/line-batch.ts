// Where flaskapp's JSON log lines go: gathered into batches, each written to
// stdout in one synchronous write, so a loaded server makes one write per
// hundred-odd requests instead of one per request, with no thread-pool hand-off.
// A quiet server still shows each line within flushMs; flush() writes what is
// pending at once (after `listening`, and before exit). Writes are synchronous,
// so a reader that falls behind slows the server down instead of letting
// unwritten lines pile up in memory.
//
// Not pino.destination (sonic-boom): it measures its growing pending string
// with Buffer.byteLength for every line, which flattens the string each time,
// so the cost of a line grows with the batch (bench/RESULTS.md, "changes").
import { writeSync } from "node:fs";

export class LineBatch {
  #pending = "";
  readonly #output: (text: string) => void;
  readonly #batchChars: number;

  /** `output` gets whole batches; `batchChars` is the size that triggers a write; `flushMs` bounds how long a line waits. */
  constructor(output: (text: string) => void, batchChars: number, flushMs: number) {
    this.#output = output;
    this.#batchChars = batchChars;
    setInterval(() => this.flush(), flushMs).unref();
  }

  /** Takes one line (pino's destination interface). */
  write(line: string): boolean {
    this.#pending += line;
    if (this.#pending.length >= this.#batchChars) this.flush();
    return true;
  }

  flush(): void {
    if (this.#pending === "") return;
    const text = this.#pending;
    this.#pending = "";
    this.#output(text);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));
const EAGAIN_WAIT_MS = 1;
const EAGAIN_TRIES = 10_000;

/**
 * Writes all of `text` to `fd`, synchronously. A non-blocking pipe whose
 * reader is behind answers EAGAIN or takes part of the bytes: the rest is
 * written when it has room again (waiting 1 ms at a time, 10 s at most).
 */
export function writeAllSync(fd: number, text: string): void {
  let bytes = Buffer.from(text);
  for (let tries = 0; bytes.length > 0; ) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN" || ++tries > EAGAIN_TRIES) throw error;
      Atomics.wait(pause, 0, 0, EAGAIN_WAIT_MS);
    }
  }
}
