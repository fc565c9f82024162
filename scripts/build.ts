// Bundles each program into one file under dist/ that runs with plain `node`
// and no node_modules. `--if-stale` skips the build when every bundle is newer
// than every source file (used by `npm start` and `npm run demo`); `--deployables` builds only
// flaskapp and tally, as the image builds do (their context holds no lessons/).
import { spawn } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { isBuiltin } from "node:module";
import { build, type BuildOptions, type Plugin } from "esbuild";
import { APP_FILE, CODE_CACHE_FILE } from "#flaskapp/code-cache.ts";
import { LAUNCH } from "#flaskapp/launch.ts";

const ROOT = new URL("..", import.meta.url).pathname;

export const BUNDLES = [
  {
    entry: "services/flaskapp/src/start.ts",
    out: "dist/flaskapp.js",
    executable: false,
    program: "flaskapp",
    onOldNode: "npm start runs it on the Node 24 that npm ci installed",
  },
  {
    entry: "services/sleep/src/main.ts",
    out: "dist/tally.js",
    executable: true,
    program: "tally",
    onOldNode: "in this repository, npx tally runs it on the Node 24 that npm ci installed",
  },
] as const;

/**
 * flaskapp's code, which dist/flaskapp.js runs from a V8 code cache
 * (services/flaskapp/src/code-cache.ts): a CommonJS bundle, because only a
 * classic script can be compiled with a cache made after it ran; and the cache,
 * made by starting flaskapp once (primeCodeCache).
 */
export const FLASKAPP_APP = {
  entry: "services/flaskapp/src/main.ts",
  out: `dist/${APP_FILE}`,
  cache: `dist/${CODE_CACHE_FILE}`,
} as const;

/**
 * The live view's page (lessons/src/view/page), served by `npm run demo -- --serve`
 * from dist/view: one browser script with Cytoscape.js inside (no CDN: it works
 * offline) and its HTML.
 */
export const VIEW_PAGE = {
  entry: "lessons/src/view/page/main.ts",
  html: "lessons/src/view/page/index.html",
  out: "dist/view/view.js",
  htmlOut: "dist/view/index.html",
} as const;

/** The oldest Node major the bundles run on: package.json's engines.node (">=24"). */
export const MIN_NODE_MAJOR = Number(
  /\d+/.exec(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")).engines.node)![0],
);
/** Exit code of a bundle started on an older Node (as for a usage error: the command cannot run as given). */
export const OLD_NODE_EXIT = 2;

/**
 * The first statement of a bundle: on a Node older than MIN_NODE_MAJOR, one line
 * naming the Node it needs and exit 2, before any other code of the bundle runs
 * (so never a stack trace from code that needs a newer Node). Plain old syntax,
 * so it parses everywhere.
 */
export function nodeCheck(program: string, onOldNode?: string): string {
  const message = `${program}: needs Node.js ${MIN_NODE_MAJOR} or newer, but this is Node.js `;
  const hint = onOldNode ? `; ${onOldNode}` : "";
  return `if (+process.versions.node.split(".")[0] < ${MIN_NODE_MAJOR}) { process.stderr.write(${JSON.stringify(message)} + process.versions.node + ${JSON.stringify(`${hint}\n`)}); process.exit(${OLD_NODE_EXIT}); }`;
}

const SOURCES = ["services", "lessons/src/view/page", "package-lock.json", "scripts/build.ts"];

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stat.mtimeMs);
}

function isStale(): boolean {
  const sources = Math.max(...SOURCES.map((p) => newestMtime(join(ROOT, p))));
  return [...BUNDLES.map((b) => b.out), FLASKAPP_APP.out, FLASKAPP_APP.cache, VIEW_PAGE.out, VIEW_PAGE.htmlOut].some(
    (out) => {
      const path = join(ROOT, out);
      return !existsSync(path) || statSync(path).mtimeMs < sources;
    },
  );
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
    build.onLoad({ filter: /.*/, namespace: "builtin" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: "js",
    }));
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
    build.onResolve({ filter: /^(node:)?assert$/ }, (args) =>
      args.namespace === "assert" ? undefined : { path: "assert", namespace: "assert" },
    );
    build.onLoad({ filter: /.*/, namespace: "assert" }, () => ({ contents: ASSERT_WITHOUT_SOURCE, loader: "js" }));
  },
};

/**
 * Modules that flaskapp's dependencies load at start-up for what it does not
 * use, or not before its first requests: the body parsers (flaskapp reads no
 * body), etag and cookie-signature (both load node:crypto; ETags are off and no
 * cookie is signed), qs (express 5 parses queries with the simple parser),
 * mime-types (a 200 KB table, looked up only for a type without a charset, so
 * on the first JSON answer), prom-client's Pushgateway and cluster aggregator
 * and its process metrics (perf_hooks, node:v8; flaskapp starts them after its
 * first response),
 * OpenTelemetry (exemplars are off), pino's worker-thread transports and its
 * stdout writer (flaskapp has its own: line-batch.ts), undici's HTTP/2 client
 * (node:http2, and through it node:tls; flaskapp and tally never offer h2). Each is
 * replaced by a stand-in that loads the real module on first use, so its code
 * is in the bundle but runs only if needed. How a stand-in forwards, by what
 * its importers do with the module when they load it:
 * - "function": the module is a function or class, called (or constructed) later;
 * - a list of names: importers read these functions at load time and call them later;
 * - "object": importers read its properties only later (any property loads it).
 */
type Lazy = "function" | "object" | readonly string[];
export const LAZY_MODULES: Readonly<Record<string, Lazy>> = {
  "body-parser/index.js": ["json", "raw", "text", "urlencoded"],
  "cookie-signature/index.js": ["sign", "unsign"],
  "etag/index.js": "function",
  "qs/lib/index.js": "object",
  "mime-types/index.js": "object",
  "prom-client/lib/pushgateway.js": "function",
  "prom-client/lib/cluster.js": "function",
  "prom-client/lib/defaultMetrics.js": "function",
  "@opentelemetry/api/dist/index.cjs": "object",
  "pino/lib/transport.js": "function",
  "sonic-boom/index.js": "function",
  "undici/lib/dispatcher/client-h2.js": "function",
};

function lazyModule(path: string, lazy: Lazy): string {
  const load = `let real;\nconst load = () => (real ??= require(${JSON.stringify(path)}));\n`;
  if (lazy === "function") {
    return `${load}module.exports = function (...args) { return new.target ? Reflect.construct(load(), args, new.target) : load().apply(this, args); };`;
  }
  if (lazy === "object") {
    return `${load}module.exports = new Proxy({}, {
  get: (_, key) => load()[key],
  has: (_, key) => key in load(),
  ownKeys: () => Reflect.ownKeys(load()),
  getOwnPropertyDescriptor: (_, key) => ({ ...Reflect.getOwnPropertyDescriptor(load(), key), configurable: true }),
});`;
  }
  return (
    load +
    lazy.map((name) => `exports.${name} = function (...args) { return load().${name}.apply(this, args); };`).join("\n")
  );
}

/** Every package directory under node_modules (nested ones too), by "name@version", in sorted order. */
function packageCopies(nodeModules: string, found = new Map<string, string[]>()): Map<string, string[]> {
  if (!existsSync(nodeModules)) return found;
  for (const entry of readdirSync(nodeModules).sort()) {
    if (entry.startsWith(".")) continue;
    const dirs = entry.startsWith("@")
      ? readdirSync(join(nodeModules, entry))
          .sort()
          .map((name) => join(nodeModules, entry, name))
      : [join(nodeModules, entry)];
    for (const dir of dirs) {
      const manifest = join(dir, "package.json");
      if (!existsSync(manifest)) continue;
      const { name, version } = JSON.parse(readFileSync(manifest, "utf8")) as { name?: string; version?: string };
      if (name !== undefined && version !== undefined)
        found.set(`${name}@${version}`, [...(found.get(`${name}@${version}`) ?? []), dir]);
      packageCopies(join(dir, "node_modules"), found);
    }
  }
  return found;
}

/** Marks the plain resolution the plugin below asks esbuild for, so that it does not rewrite it again. */
const PLAIN = Symbol("plain resolution");

/**
 * How dependencies are bundled. One copy of each package version: npm nests a
 * copy under each dependent that the hoisted copy does not suit, and express
 * 5's accepts, send and type-is and express itself got four identical copies
 * of mime-types 3.0.2 and mime-db 1.54.0 (the top level holds 2.1.35 for a
 * test tool); each copy was parsed, evaluated and kept in memory. And the
 * LAZY_MODULES stand-ins. Together they took half of flaskapp's start-up work
 * (bench/RESULTS.md, "changes").
 */
const dependencies: Plugin = {
  name: "dependencies",
  setup(build) {
    const canonical = new Map<string, string>();
    for (const dirs of packageCopies(join(ROOT, "node_modules")).values())
      for (const dir of dirs) canonical.set(dir, dirs[0]!);
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === PLAIN || args.namespace !== "file" || isBuiltin(args.path)) return undefined;
      const found = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: PLAIN,
      });
      const at = /^(.*\/node_modules\/)((?:@[^/]+\/)?[^/]+)(\/.*)$/.exec(found.path);
      if (found.errors.length > 0 || found.external || at === null) return undefined;
      const path = (canonical.get(at[1]! + at[2]!) ?? at[1]! + at[2]!) + at[3]!;
      const lazy = LAZY_MODULES[at[2]! + at[3]!];
      if (lazy !== undefined && args.importer !== path && !args.importer.startsWith("lazy:"))
        return { path, namespace: "lazy", pluginData: lazy };
      return { path, sideEffects: found.sideEffects };
    });
    build.onLoad({ filter: /.*/, namespace: "lazy" }, (args) => ({
      contents: lazyModule(args.path, args.pluginData as Lazy),
      loader: "js",
      resolveDir: ROOT,
    }));
  },
};

/** CommonJS dependencies (express, pino) call require() for Node built-ins, which an ESM bundle only has through createRequire. */
export const REQUIRE_BANNER =
  'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);';

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
    plugins: [assertWithoutSource, builtinsAsRequire, dependencies],
  };
}

/**
 * Bundles flaskapp and tally, and (unless `deployablesOnly`, as the image builds ask with
 * `--deployables`: their build context holds no lessons/) the live view's page.
 */
export async function buildBundles(deployablesOnly = false): Promise<void> {
  for (const bundle of BUNDLES) {
    const first = `${nodeCheck(bundle.program, bundle.onOldNode)}\n${REQUIRE_BANNER}`;
    await build(
      bundleOptions(
        join(ROOT, bundle.entry),
        join(ROOT, bundle.out),
        bundle.executable ? `#!/usr/bin/env node\n${first}` : first,
      ),
    );
    if (bundle.executable) chmodSync(join(ROOT, bundle.out), 0o755);
  }
  const app = join(ROOT, FLASKAPP_APP.out);
  // A CommonJS script: no banner (require comes from dist/flaskapp.js), no Node check (dist/flaskapp.js checked).
  await build({ ...bundleOptions(join(ROOT, FLASKAPP_APP.entry), app, ""), format: "cjs" });
  if (!/^[\x00-\x7f]*$/.test(readFileSync(app, "latin1")))
    throw new Error(`${FLASKAPP_APP.out} is not ASCII: code-cache.ts reads it as latin1`);
  await primeCodeCache();
  if (!deployablesOnly) await buildViewPage();
}

/** The view's page for the browsers learners use today; the graph library is bundled in. */
export async function buildViewPage(): Promise<void> {
  mkdirSync(join(ROOT, "dist/view"), { recursive: true });
  await build({
    entryPoints: [join(ROOT, VIEW_PAGE.entry)],
    outfile: join(ROOT, VIEW_PAGE.out),
    bundle: true,
    platform: "browser",
    format: "iife",
    target: ["chrome120", "firefox120", "safari17"],
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  copyFileSync(join(ROOT, VIEW_PAGE.html), join(ROOT, VIEW_PAGE.htmlOut));
}

const PRIME_TIMEOUT_MS = 20_000;

/**
 * Makes flaskapp's V8 code cache as the image and the bench use it: starts
 * dist/flaskapp.js once, with flaskapp's V8 flags, on a free 127.0.0.1 port, asks /readyz (so the cache
 * holds the first request's code too), stops it with SIGTERM, and checks that
 * it wrote the cache at exit.
 */
export async function primeCodeCache(): Promise<void> {
  const cache = join(ROOT, FLASKAPP_APP.cache);
  rmSync(cache, { force: true });
  const child = spawn(process.execPath, [...LAUNCH.nodeFlags, join(ROOT, "dist/flaskapp.js")], {
    env: {
      PATH: process.env.PATH,
      NODE_ENV: "production",
      version: "prime",
      PORT: "0",
      HOST: "127.0.0.1",
      SHUTDOWN_DELAY: "0s",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const timer = setTimeout(() => child.kill("SIGKILL"), PRIME_TIMEOUT_MS);
  let output = "";
  try {
    const port = await new Promise<number>((resolve, reject) => {
      child.stderr.on("data", (chunk: Buffer) => (output += chunk));
      child.stdout.on("data", (chunk: Buffer) => {
        output += chunk;
        const listening = /"port":(\d+).*"msg":"listening"/.exec(output);
        if (listening) resolve(Number(listening[1]));
      });
      void exited.then((code) => reject(new Error(`exited with ${code} before listening`)));
    });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    await ready.text();
    if (ready.status !== 200) throw new Error(`/readyz answered ${ready.status}`);
    child.kill("SIGTERM");
    const code = await exited;
    if (code !== 0) throw new Error(`exited with ${code} after SIGTERM`);
  } catch (error) {
    child.kill("SIGKILL");
    throw new Error(
      `making ${FLASKAPP_APP.cache}: dist/flaskapp.js ${(error as Error).message}\n${output.slice(-2000)}`,
    );
  } finally {
    clearTimeout(timer);
  }
  if (!existsSync(cache))
    throw new Error(`making ${FLASKAPP_APP.cache}: flaskapp exited without writing it\n${output.slice(-2000)}`);
}

if (import.meta.main) {
  const ifStale = process.argv.includes("--if-stale");
  const deployablesOnly = process.argv.includes("--deployables");
  if (!ifStale || isStale()) {
    await buildBundles(deployablesOnly);
    const page = deployablesOnly ? [] : [VIEW_PAGE.out, VIEW_PAGE.htmlOut];
    console.error(`built ${[...BUNDLES.map((b) => b.out), FLASKAPP_APP.out, FLASKAPP_APP.cache, ...page].join(", ")}`);
  }
}
