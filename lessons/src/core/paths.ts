// Where the tooling finds the repository's parts: commands run from the root, and the
// paths they print are relative to it.
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
export const K8S_DIR = join(ROOT, "k8s");
/** The bundles `npm run build` writes: the preview runs them as flaskapp pods and as tally. */
export const FLASKAPP_BUNDLE = join(ROOT, "dist", "flaskapp.js");
export const TALLY_BUNDLE = join(ROOT, "dist", "tally.js");
/** The live view's page (index.html, view.js), served by `npm run demo -- --serve`. */
export const VIEW_ASSETS = join(ROOT, "dist", "view");
