// The lessons tests need dist/flaskapp.js and dist/tally.js. Several test files
// run at once, and rebuilding a bundle while another file is starting processes
// from it can hand them a half-written file; so the files build through one
// lock, and only when the bundles are stale (`scripts/build.ts --if-stale`).
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const LOCK = join(tmpdir(), `istio-lessons-build-${Buffer.from(ROOT).toString("hex").slice(-24)}.lock`);
const LOCK_WAIT_MS = 120_000;

export async function ensureBundles(): Promise<void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // A lock older than any build is left by a killed run: take it over.
      const age = Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > LOCK_WAIT_MS) rmSync(LOCK, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`${LOCK} held for over ${LOCK_WAIT_MS} ms`);
      await sleep(100);
    }
  }
  try {
    await new Promise<void>((resolve, reject) => {
      execFile(process.execPath, [join(ROOT, "scripts/build.ts"), "--if-stale"], { cwd: ROOT, timeout: LOCK_WAIT_MS }, (error, _stdout, stderr) =>
        error ? reject(new Error(`scripts/build.ts failed: ${stderr || error.message}`)) : resolve(),
      );
    });
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}
