// How dist/flaskapp.js starts the app: it compiles the app bundle
// (flaskapp-app.cjs, beside it) with the V8 code cache the build made by
// running it once, so start-up deserializes the functions it runs instead of
// compiling them. Node's own compile cache (NODE_COMPILE_CACHE) holds only what
// V8 compiles up front, a tenth of it, because a cache made after the app ran
// is something only a vm.Script can take (bench/RESULTS.md, "changes").
import { readFileSync, writeFileSync } from "node:fs";
import { Script } from "node:vm";

export const APP_FILE = "flaskapp-app.cjs";
export const CODE_CACHE_FILE = `${APP_FILE}.cache`;

export interface CompiledApp {
  script: Script;
  file: string;
  cacheFile: string;
  /** "used", "rejected" (made by another Node, or with V8 flags that change the code) or "none" */
  cache: "used" | "rejected" | "none";
}

/**
 * The V8 flags flaskapp runs under, for a small pod's memory and for requests
 * that cost the same after an idle spell (bench/RESULTS.md, "changes"). A code
 * cache carries a hash of the flags that change the code V8 makes (the first
 * two) and is refused under others, so every start of dist/flaskapp.js passes
 * these, as LAUNCH.nodeFlags (launch.ts, the one launch spec): the image's CMD
 * (Dockerfile.flaskapp), the build that makes the cache, `npm start`, the mesh
 * preview's pods and the tests (test/flaskapp/launch.test.ts checks the first
 * three, test/lessons/preview.test.ts the pods).
 * - `--no-maglev`: V8's mid-tier compiler compiled hundreds of warm functions
 *   under load, and the memory its compile jobs took from malloc stayed
 *   resident: about 11 MB of a 38 MB peak under /env load. Hot functions are
 *   still optimized by TurboFan (after 3,000 calls instead of 10,000, V8's
 *   own setting without Maglev), so a request costs the same; start-up takes
 *   about 10 ms longer, in the baseline tiers.
 * - `--heap-growing-percent=30`: after a full collection the old generation may
 *   grow by 30% before the next one, instead of by up to 4× when collecting is
 *   cheap, which V8 allowed while 30-odd fetches in flight had their objects
 *   promoted. Its live size is about 15 MB, so a full collection takes a few
 *   milliseconds.
 * - `--no-memory-reducer`: about 8 s after a load stopped, V8's memory reducer
 *   ran collections that also let go of the hidden classes (maps) no live object
 *   used, those of the request path's objects among them. The optimized code that
 *   referred to them was thrown away, and every request after the idle spell
 *   took a third more CPU (34 instead of 24 µs of user time) for as long as
 *   the load lasted. Without it, resident memory stays at its size under load
 *   when idle (about 30 MB) instead of falling to about 18 MB; the peak, which
 *   the pod's limit is for, is the same.
 */
export const V8_FLAGS = ["--no-maglev", "--heap-growing-percent=30", "--no-memory-reducer"] as const;

/** What runApp says on stderr, after the cache file's path, when V8 refuses the cache. */
export const CACHE_REFUSED = "was made by another Node or with other V8 flags; starting without it";

/** Compiles the CommonJS app bundle in `dir` with its code cache, when there is one. */
export function compileApp(dir: string): CompiledApp {
  const file = `${dir}/${APP_FILE}`;
  const cacheFile = `${dir}/${CODE_CACHE_FILE}`;
  // The bundle is ASCII (esbuild escapes the rest, and the build checks), so latin1 reads it without UTF-8 decoding.
  const source = readFileSync(file, "latin1");
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // none yet
  }
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  return {
    script,
    file,
    cacheFile,
    cache: cachedData === undefined ? "none" : script.cachedDataRejected === true ? "rejected" : "used",
  };
}

/**
 * Runs the app bundle in `dir`, handing it `require` (it needs only Node's
 * built-ins: everything else is in the bundle). Without a cache it compiles
 * as usual and writes its cache at exit, when the directory is writable: that
 * is how the build makes it. A refused cache is said on stderr, and the app
 * starts without it.
 */
export function runApp(dir: string, require: NodeJS.Require): void {
  const { script, file, cacheFile, cache } = compileApp(dir);
  if (cache === "rejected") process.stderr.write(`flaskapp: ${cacheFile} ${CACHE_REFUSED}\n`);
  if (cache === "none") {
    process.once("exit", () => {
      try {
        writeFileSync(cacheFile, script.createCachedData());
      } catch {
        // a read-only directory: the next start compiles again
      }
    });
  }
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, require, module, file, dir);
}
