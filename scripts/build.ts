// Bundles each program into one file under dist/ that runs with plain `node`
// and no node_modules. `--if-stale` skips the build when every bundle is newer
// than every source file (used by `npm start` and `npm run demo`).
import { chmodSync, existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { build } from "esbuild";

const ROOT = new URL("..", import.meta.url).pathname;

export const BUNDLES = [
  { entry: "services/flaskapp/src/main.ts", out: "dist/flaskapp.js", executable: false },
  { entry: "services/sleep/src/main.ts", out: "dist/tally.js", executable: true },
] as const;

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

export async function buildBundles(): Promise<void> {
  // CommonJS dependencies (express, pino) call require() for Node built-ins,
  // which an ESM bundle only has through createRequire.
  const banner = 'import { createRequire as __createRequire } from "node:module"; const require = __createRequire(import.meta.url);';
  for (const bundle of BUNDLES) {
    await build({
      entryPoints: [join(ROOT, bundle.entry)],
      outfile: join(ROOT, bundle.out),
      bundle: true,
      platform: "node",
      target: "node24",
      format: "esm",
      minify: true,
      legalComments: "none",
      logLevel: "warning",
      banner: { js: bundle.executable ? `#!/usr/bin/env node\n${banner}` : banner },
    });
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
