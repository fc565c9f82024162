// Once per test run, before any test file: builds dist/flaskapp.js and dist/tally.js
// (the process, CLI and preview tests start the real bundles, and building per file
// would rewrite a bundle while another file is starting it), and renders every lesson
// with the real kubectl kustomize (test/renders.ts hands them to the files that need
// them: rendering all of them in each such file cost seconds per file).
import type { TestProject } from "vitest/node";
import { renderLessons } from "#lessons/cluster/lesson-steps.ts";
import { missingTools } from "#lessons/cluster/plan.ts";
import { buildBundles } from "../scripts/build.ts";

export default async function setup(project: TestProject): Promise<void> {
  // Without kubectl nothing can be rendered: one line saying so, and no test run (vitest's own
  // report would be a stack from the first render, or "No test files found").
  const missing = missingTools(["kubectl"], process.env);
  if (missing.length > 0) {
    process.stderr.write(`npm test: ${missing.join("; ")}; the tests render every lesson with \`kubectl kustomize\`\n`);
    process.exit(1);
  }
  const [, renders] = await Promise.all([buildBundles(), renderLessons()]);
  project.provide(
    "lessonRenders",
    [...renders].map(([lesson, objects]) => [lesson, [...objects]]),
  );
}
