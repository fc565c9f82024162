// Test helpers for the processes a command leaves behind: what runs below a
// pid, read from /proc (Linux), whether a process still runs, and which of
// Node's built-in modules a process loaded.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Every process below `pid`, from /proc (this test runs on Linux). */
export function descendants(pid: number): number[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // gone meanwhile
    }
    const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const found: number[] = [];
  const visit = (p: number): void => {
    for (const child of parents.get(p) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

/** Whether a process still runs (an exited one not yet reaped, a zombie, does not). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

/** Built-in modules that only a TLS, HTTP/2, compression or web-streams client needs. */
export const UNNEEDED_FOR_PLAIN_HTTP = /^NativeModule (tls|crypto|http2|zlib|stream\/web)$/;

/**
 * A script to preload with `node --require` that, as the process exits, lists
 * the built-in modules it loaded (process.moduleLoadList: "NativeModule net", ...);
 * `loaded()` reads that list.
 */
export function builtinsAtExit(dir: string): { preload: string; loaded(): string[] } {
  const preload = join(dir, "builtins-at-exit.cjs");
  const list = `${preload}.txt`;
  writeFileSync(
    preload,
    `process.once("exit", () => require("node:fs").writeFileSync(${JSON.stringify(list)}, process.moduleLoadList.join("\\n")));\n`,
  );
  return { preload, loaded: () => readFileSync(list, "utf8").split("\n") };
}
