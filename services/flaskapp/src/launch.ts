// How flaskapp is launched, defined once: the node flags every start passes
// (V8_FLAGS, which the code cache depends on: code-cache.ts) and the ones only
// the image adds, where a container's memory limit sizes the heap. The image's
// CMD (Dockerfile.flaskapp) and `npm start` (package.json) cannot import this,
// so test/flaskapp/launch.test.ts requires them to equal it; the build
// (scripts/build.ts) and the mesh preview's pods (lessons/src/mesh/pods.ts) read it.
import { V8_FLAGS } from "./code-cache.ts";

export const LAUNCH = {
  /** Every start of dist/flaskapp.js: the image, the build that makes the code cache, `npm start`, the preview's pods. */
  nodeFlags: V8_FLAGS,
  /**
   * The image only (flaskapp README, "Limits"): old space half the container's
   * memory limit (Node reads the cgroup), and 2 MiB semi-spaces for a small pod's
   * young generation. On a laptop there is no limit to take half of.
   */
  imageOnlyFlags: ["--max-old-space-size-percentage=50", "--max-semi-space-size=2"],
} as const;

/** Where the image keeps the entry point (Dockerfile.flaskapp copies dist/flaskapp.js there). */
export const IMAGE_ENTRY = "/app/flaskapp.js";
/** The entry point in the repository, as `npm start` runs it. */
export const LOCAL_ENTRY = "dist/flaskapp.js";

/** The image's exec-form CMD. */
export function imageCommand(): string[] {
  return ["node", ...LAUNCH.imageOnlyFlags, ...LAUNCH.nodeFlags, IMAGE_ENTRY];
}

/** The command `npm start` ends in (after building if stale). */
export function startCommand(): string {
  return ["node", ...LAUNCH.nodeFlags, LOCAL_ENTRY].join(" ");
}
