import { spawn, execFileSync } from "node:child_process";
import { once } from "node:events";
import { closeSync, constants, mkdtempSync, openSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { LineBatch, writeAllSync } from "#flaskapp/line-batch.ts";

/** A LineBatch whose batches are copied into `batches` as text (it reuses its buffer). */
function collecting(batchBytes: number, flushMs = 60_000): { lines: LineBatch; batches: string[] } {
  const batches: string[] = [];
  return { lines: new LineBatch((bytes) => batches.push(bytes.toString("utf8")), batchBytes, flushMs), batches };
}

describe("LineBatch", () => {
  it("gathers lines until flush() and writes them as one batch, in order", () => {
    const { lines, batches } = collecting(1024);
    for (const line of ["a\n", "bb\n", "ccc\n"]) lines.write(line);
    expect(batches).toEqual([]);
    lines.flush();
    expect(batches).toEqual(["a\nbb\nccc\n"]);
  });

  it("writes nothing when nothing is pending", () => {
    const { lines, batches } = collecting(1024);
    lines.flush();
    lines.write("x\n");
    lines.flush();
    lines.flush();
    expect(batches).toEqual(["x\n"]);
  });

  // A line needs room for its worst case, 3 bytes per UTF-16 unit: 30 bytes for these 10 letters.
  const ten = (letter: string): string => letter.repeat(10);
  it.each([
    ["holds a line whose worst case is exactly the room left", 40, [ten("a"), ten("b")], []],
    ["starts a new batch when the worst case is a byte more than the room left", 39, [ten("a"), ten("b")], [ten("a")]],
    ["holds a line whose worst case is the whole batch", 30, [ten("a")], []],
  ])("%s", (_what, batchBytes, written, before) => {
    const { lines, batches } = collecting(batchBytes);
    for (const line of written) lines.write(line);
    expect(batches).toEqual(before);
    lines.flush();
    expect(batches.join("")).toBe(written.join(""));
  });

  it("sends a line too long for any batch on its own, after what was pending", () => {
    const { lines, batches } = collecting(30);
    lines.write("short\n");
    lines.write(`${"x".repeat(11)}\n`); // 12 units: up to 36 bytes
    lines.write("after\n");
    lines.flush();
    expect(batches).toEqual(["short\n", `${"x".repeat(11)}\n`, "after\n"]);
  });

  it("keeps every byte of multi-byte text, and no batch is over its size", () => {
    const batchBytes = 64;
    const { lines, batches } = collecting(batchBytes);
    const written = Array.from({ length: 200 }, (_, i) => `${"é€😀a".repeat(i % 7)}${i}\n`);
    for (const line of written) lines.write(line);
    lines.flush();
    expect(batches.join("")).toBe(written.join(""));
    for (const batch of batches) expect(Buffer.byteLength(batch)).toBeLessThanOrEqual(batchBytes);
  });

  it("writes a pending line within flushMs without being asked", async () => {
    let delivered!: (text: string) => void;
    const arrived = new Promise<string>((resolve) => (delivered = resolve));
    const lines = new LineBatch((bytes) => delivered(bytes.toString()), 1024, 5);
    lines.write("quiet server\n");
    expect(await arrived).toBe("quiet server\n");
  });

  it.each([0, -1, 1.5, Number.NaN])("refuses a batch size of %s", (batchBytes) => {
    expect(() => new LineBatch(() => undefined, batchBytes, 100)).toThrow(RangeError);
  });
});

describe("writeAllSync", () => {
  const dir = mkdtempSync(join(tmpdir(), "line-batch-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes every byte to a file", () => {
    const file = join(dir, "out");
    const fd = openSync(file, "w");
    writeAllSync(fd, Buffer.alloc(300_000, "x"));
    closeSync(fd);
    expect(statSync(file).size).toBe(300_000);
  });

  it("waits for a full pipe's reader and then writes the rest", async () => {
    const fifo = join(dir, "slow");
    execFileSync("mkfifo", [fifo]);
    // Read-write and non-blocking: opening needs no reader, and a full pipe answers EAGAIN.
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    const bytes = Buffer.alloc(1024 * 1024, "y"); // more than a pipe holds (64 KiB)
    const reader = spawn("sh", ["-c", `head -c ${bytes.length} "${fifo}" | wc -c`], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    writeAllSync(fd, bytes);
    const [counted] = await Promise.all([
      new Promise<string>((resolve) => reader.stdout.once("data", (data: Buffer) => resolve(data.toString().trim()))),
      once(reader, "exit"),
    ]);
    closeSync(fd);
    expect(Number(counted)).toBe(bytes.length);
  });

  it("gives up with EAGAIN after the configured number of waits", () => {
    const fifo = join(dir, "stuck");
    execFileSync("mkfifo", [fifo]);
    const fd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK); // nobody else reads: it stays full
    try {
      expect(() => writeAllSync(fd, Buffer.alloc(1024 * 1024), { waitMs: 1, tries: 3 })).toThrow(
        expect.objectContaining({ code: "EAGAIN" }),
      );
    } finally {
      closeSync(fd);
    }
  });
});
