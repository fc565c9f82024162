// flaskapp's start from a V8 code cache (services/flaskapp/src/code-cache.ts):
// the cache the build made fits the Node that runs the tests and the bench,
// and a start without one writes one at exit.
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { APP_FILE, CODE_CACHE_FILE, compileApp } from "../../services/flaskapp/src/code-cache.ts";

const DIST = new URL("../../dist/", import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), "flaskapp-code-cache-"));
let child: ChildProcess | undefined;
afterAll(() => {
  if (child?.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});

describe("the code cache", () => {
  it("the build's cache is taken by this Node (and so by the image, which runs the Node that built it)", () => {
    expect(compileApp(DIST).cache).toBe("used");
  });

  it("a start without a cache writes one when it exits, and the next start takes it", async () => {
    copyFileSync(join(DIST, "flaskapp.js"), join(dir, "flaskapp.js"));
    copyFileSync(join(DIST, APP_FILE), join(dir, APP_FILE));
    child = spawn(process.execPath, ["flaskapp.js"], {
      cwd: dir,
      env: { PATH: process.env.PATH, version: "v1", PORT: "0", HOST: "127.0.0.1", SHUTDOWN_DELAY: "0s" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    const started = child;
    const exited = new Promise((resolve) => started.once("exit", resolve));
    let output = "";
    await new Promise<void>((resolve) =>
      started.stdout!.on("data", (chunk: Buffer) => {
        output += chunk;
        if (output.includes('"msg":"listening"')) resolve();
      }),
    );
    expect(existsSync(join(dir, CODE_CACHE_FILE))).toBe(false);
    started.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(compileApp(dir).cache).toBe("used");
  });
});
