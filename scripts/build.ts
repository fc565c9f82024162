// Bundles each program into one file under dist/ that runs with plain `node`
// and no node_modules. `--if-stale` skips the build when every bundle is newer
// than every source file (used by `npm start` and `npm run demo`).
import { chmodSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { isBuiltin } from "node:module";
import { build, type BuildOptions, type Plugin } from "esbuild";

const ROOT = new URL("..", import.meta.url).pathname;

export const BUNDLES = [
  { entry: "services/flaskapp/src/main.ts", out: "dist/flaskapp.js", executable: false, program: "flaskapp" },
  { entry: "services/sleep/src/main.ts", out: "dist/tally.js", executable: true, program: "tally" },
] as const;

/** The oldest Node major the bundles run on: package.json's engines.node (">=24"). */
export const MIN_NODE_MAJOR = Number(/\d+/.exec(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).engines.node)![0]);
/** Exit code of a bundle started on an older Node (as for a usage error: the command cannot run as given). */
export const OLD_NODE_EXIT = 2;

/**
 * The first statement of a bundle: on a Node older than MIN_NODE_MAJOR, one line
 * naming the Node it needs and exit 2, before any other code of the bundle runs
 * (so never a stack trace from code that needs a newer Node). Plain old syntax,
 * so it parses everywhere.
 */
export function nodeCheck(program: string): string {
  const message = `${program}: needs Node.js ${MIN_NODE_MAJOR} or newer, but this is Node.js `;
  return `if (+process.versions.node.split(".")[0] < ${MIN_NODE_MAJOR}) { process.stderr.write(${JSON.stringify(message)} + process.versions.node + "\\n"); process.exit(${OLD_NODE_EXIT}); }`;
}

const SOURCES = ["services", "package-lock.json", "scripts/build.ts"];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stat.mtimeMs);
}

function isStale(): boolean {
  const sources = Math.max(...SOURCES.map((p) => newestMtime(join(ROOT, p))));
  return BUNDLES.some(({ out }) => {
    const path = join(ROOT, out);
    return !existsSync(path) || statSync(path).mtimeMs < sources;
  });
}

/**
 * Turns `import { x } from "node:y"` into a require() at run time. A static
 * import of a name an older Node lacks fails while the module is linked, before
 * any code runs; with no static imports left but the banner's, the Node check
 * is always what an older Node meets first.
 */
const builtinsAsRequire: Plugin = {
  name: "builtins-as-require",
  setup(build) {
    build.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (args) =>
      args.kind === "import-statement" && isBuiltin(args.path) ? { path: args.path, namespace: "builtin" } : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: "js" }));
  },
};

/**
 * node:assert for bundled dependencies (undici asserts on what a server sends,
 * e.g. a status of at least 100). A failed `assert(value)` without a message
 * makes Node re-read the caller's source and parse it to quote the expression:
 * on a minified bundle that parse fails, so the caller gets a SyntaxError
 * instead of the AssertionError, after parsing megabytes of code for each one.
 * This one throws the same AssertionError (code ERR_ASSERTION) with a fixed message.
 */
const ASSERT_WITHOUT_SOURCE = `const real = require("node:assert");
function assert(value, message) {
  if (value) return;
  if (message instanceof Error) throw message;
  throw new real.AssertionError({ message: message === undefined ? "assertion failed" : String(message), actual: value, expected: true, operator: "==" });
}
module.exports = Object.assign(assert, real, { ok: assert });`;

const assertWithoutSource: Plugin = {
  name: "assert-without-source",
  setup(build) {
    build.onResolve({ filter: /^(node:)?assert$/ }, (args) => (args.namespace === "assert" ? undefined : { path: "assert", namespace: "assert" }));
    build.onLoad({ filter: /.*/, namespace: "assert" }, () => ({ contents: ASSERT_WITHOUT_SOURCE, loader: "js" }));
  },
};

/** CommonJS dependencies (express, pino) call require() for Node built-ins, which an ESM bundle only has through createRequire. */
export const REQUIRE_BANNER = 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);';

/**
 * esbuild's options for one program: one minified ESM file for Node 24 that
 * runs with plain `node` and no node_modules, headed by `firstLines` (the
 * banner). The bench bundles its reference servers with these too, so that
 * they pay what flaskapp pays at start-up and nothing more.
 */
export function bundleOptions(entry: string, outfile: string, firstLines = REQUIRE_BANNER): BuildOptions {
  return {
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: "node",
    target: "node24",
    format: "esm",
    minify: true,
    legalComments: "none",
    logLevel: "warning",
    banner: { js: firstLines },
    plugins: [assertWithoutSource, builtinsAsRequire],
  };
}

export async function buildBundles(): Promise<void> {
  for (const bundle of BUNDLES) {
    const first = `${nodeCheck(bundle.program)}\n${REQUIRE_BANNER}`;
    await build(bundleOptions(join(ROOT, bundle.entry), join(ROOT, bundle.out), bundle.executable ? `#!/usr/bin/env node\n${first}` : first));
    if (bundle.executable) chmodSync(join(ROOT, bundle.out), 0o755);
  }
}

if (import.meta.main) {
  const ifStale = process.argv.includes("--if-stale");
  if (!ifStale || isStale()) {
    await buildBundles();
    console.error(`built ${BUNDLES.map((b) => b.out).join(", ")}`);
  }
}
