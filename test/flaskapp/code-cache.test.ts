// flaskapp's start from a V8 code cache (services/flaskapp/src/code-cache.ts):
// the cache the build made fits the Node that runs the tests and the bench under
// flaskapp's V8 flags, a start without one writes one at exit, a cache is refused
// under other flags (that every start passes them: launch.test.ts).
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { APP_FILE, CACHE_REFUSED, CODE_CACHE_FILE, V8_FLAGS } from "#flaskapp/code-cache.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const DIST = `${ROOT}dist/`;
const CODE_CACHE_TS = new URL("../../services/flaskapp/src/code-cache.ts", import.meta.url).pathname;
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tracked(child: ChildProcess): ChildProcess {
  children.push(child);
  return child;
}

/** A directory holding dist/flaskapp.js and the app bundle, without a cache. */
function copyOfDist(): string {
  const dir = mkdtempSync(join(tmpdir(), "flaskapp-code-cache-"));
  dirs.push(dir);
  copyFileSync(join(DIST, "flaskapp.js"), join(dir, "flaskapp.js"));
  copyFileSync(join(DIST, APP_FILE), join(dir, APP_FILE));
  return dir;
}

/** Starts flaskapp.js in `dir` with V8_FLAGS until it listens, stops it with SIGTERM, and returns its stderr. */
async function startAndStop(dir: string): Promise<string> {
  const child = tracked(
    spawn(process.execPath, [...V8_FLAGS, "flaskapp.js"], {
      cwd: dir,
      env: { PATH: process.env.PATH, version: "v1", PORT: "0", HOST: "127.0.0.1", SHUTDOWN_DELAY: "0s" },
      stdio: ["ignore", "pipe", "pipe"],
    }),
  );
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  let stdout = "";
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      stdout += chunk;
      if (stdout.includes('"msg":"listening"')) resolve();
    });
    void exited.then((code) => reject(new Error(`exited ${code} before listening: ${stderr}`)));
  });
  child.kill("SIGTERM");
  expect(await exited).toBe(0);
  return stderr;
}

/** Makes a cache for the app bundle in `dir` in a node started with `flags`, the way compileApp compiles it. */
async function makeCacheUnder(flags: readonly string[], dir: string): Promise<void> {
  const program = `import { writeFileSync } from "node:fs";
import { compileApp } from ${JSON.stringify(CODE_CACHE_TS)};
const { script, cacheFile } = compileApp(${JSON.stringify(dir)});
writeFileSync(cacheFile, script.createCachedData());`;
  const child = tracked(
    spawn(process.execPath, [...flags, "--input-type=module", "-e", program], {
      stdio: ["ignore", "inherit", "inherit"],
    }),
  );
  expect(await new Promise((resolve) => child.once("exit", resolve))).toBe(0);
}

describe("the code cache", () => {
  it("the build's cache is taken by dist/flaskapp.js on this Node (and so in the image, which runs the Node that built it)", async () => {
    const dir = copyOfDist();
    copyFileSync(join(DIST, CODE_CACHE_FILE), join(dir, CODE_CACHE_FILE));
    const before = statSync(join(dir, CODE_CACHE_FILE)).mtimeMs;
    expect(await startAndStop(dir)).not.toContain(CACHE_REFUSED);
    expect(statSync(join(dir, CODE_CACHE_FILE)).mtimeMs).toBe(before); // taken, not replaced
  });

  it("a start without a cache writes one when it exits, and the next start takes it", async () => {
    const dir = copyOfDist();
    expect(await startAndStop(dir)).not.toContain(CACHE_REFUSED);
    expect(existsSync(join(dir, CODE_CACHE_FILE))).toBe(true);
    expect(await startAndStop(dir)).not.toContain(CACHE_REFUSED);
  });

  // The cache carries a hash of the V8 flags it was made under that change V8's code.
  const cases: [name: string, flags: readonly string[], refused: boolean][] = [
    ["under V8_FLAGS is taken", V8_FLAGS, false],
    ["without V8_FLAGS is refused, said on stderr", [], true],
  ];
  it.each(cases)("a cache made %s", async (_name, flags, refused) => {
    const dir = copyOfDist();
    await makeCacheUnder(flags, dir);
    const stderr = await startAndStop(dir);
    expect(stderr.includes(CACHE_REFUSED)).toBe(refused);
  });
  // Every way flaskapp is started passes V8_FLAGS: test/flaskapp/launch.test.ts.
});
