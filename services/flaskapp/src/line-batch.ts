// Where flaskapp's JSON log lines go: encoded as they come into one fixed
// buffer, which is written to stdout in one synchronous write when full, so a
// loaded server makes one write per hundred-odd requests instead of one per
// request, with no thread-pool hand-off. A quiet server still shows each line
// within flushMs; flush() writes what is pending at once (after `listening`,
// and before exit). Writes are synchronous, so a reader that falls behind
// slows the server down instead of letting unwritten lines pile up in memory.
//
// Each line is encoded into the buffer at once, so its string dies young. A
// batch kept as one growing string lived through several young-generation
// collections, was copied by each and then promoted, and so cost old-generation
// collections too (bench/RESULTS.md, "changes"). Not pino.destination
// (sonic-boom) either: it measures its growing pending string with
// Buffer.byteLength for every line, which flattens the string each time.
import { writeSync } from "node:fs";

/** One UTF-16 code unit is at most 3 bytes of UTF-8. */
const MAX_UTF8_PER_UNIT = 3;

export class LineBatch {
  readonly #batch: Buffer;
  #used = 0;
  readonly #output: (bytes: Buffer) => void;

  /**
   * `output` gets each batch, at most `batchBytes` long, and must be done with
   * it when it returns (the buffer is reused); a line that may not fit in a
   * batch of its own goes to `output` alone. `flushMs` bounds how long a line waits.
   */
  constructor(output: (bytes: Buffer) => void, batchBytes: number, flushMs: number) {
    if (!Number.isInteger(batchBytes) || batchBytes < 1)
      throw new RangeError(`batchBytes must be a positive integer, got ${batchBytes}`);
    this.#output = output;
    this.#batch = Buffer.allocUnsafeSlow(batchBytes);
    setInterval(() => this.flush(), flushMs).unref();
  }

  /** Takes one line (pino's destination interface). */
  write(line: string): boolean {
    const room = line.length * MAX_UTF8_PER_UNIT;
    if (room > this.#batch.length - this.#used) {
      this.flush();
      if (room > this.#batch.length) {
        this.#output(Buffer.from(line));
        return true;
      }
    }
    this.#used += this.#batch.write(line, this.#used);
    return true;
  }

  flush(): void {
    if (this.#used === 0) return;
    const bytes = this.#batch.subarray(0, this.#used);
    this.#used = 0;
    this.#output(bytes);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** How long writeAllSync waits for a full pipe: `tries` waits of `waitMs` each. */
export interface FullPipeWait {
  waitMs: number;
  tries: number;
}

/** 1 ms at a time, 10 s in all. */
const FULL_PIPE_WAIT: FullPipeWait = { waitMs: 1, tries: 10_000 };

/**
 * Writes all of `bytes` to `fd`, synchronously. A non-blocking pipe whose
 * reader is behind answers EAGAIN or takes part of the bytes: the rest is
 * written when it has room again; after `wait.tries` EAGAINs the EAGAIN is thrown.
 */
export function writeAllSync(fd: number, bytes: Buffer, wait: FullPipeWait = FULL_PIPE_WAIT): void {
  let rest = bytes;
  for (let tries = 0; rest.length > 0; ) {
    try {
      rest = rest.subarray(writeSync(fd, rest));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EAGAIN" || ++tries > wait.tries) throw error;
      Atomics.wait(pause, 0, 0, wait.waitMs);
    }
  }
}
