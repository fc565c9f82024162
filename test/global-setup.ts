// Builds dist/flaskapp.js and dist/tally.js once, before any test file runs:
// the process, CLI and preview tests start the real bundles, and building per
// file would rewrite a bundle while another file is starting it.
import { buildBundles } from "../scripts/build.ts";

export default async function setup(): Promise<void> {
  await buildBundles();
}
