// Runs a lesson's checks in the mesh preview: render the overlay, start the
// mesh, run each check's tally command against it, report PASS/FAIL.
import { existsSync } from "node:fs";
import { TALLY_BUNDLE } from "../core/paths.ts";
import { join } from "node:path";
import { DEFAULT_SAMPLE, envNamesRead, loadChecks, withLessonVars, type LessonChecks } from "./checks.ts";
import { deploymentLogsCommand, renderNamespace } from "../core/kubectl.ts";
import { renderKustomization, type K8sObject, type RenderOptions } from "../core/kustomize.ts";
import { Mesh, type MeshOptions } from "../mesh/mesh.ts";
import { explainDecisions, type Decision } from "../mesh/proxy.ts";
import { explainFailures } from "./observed.ts";
import { runCheck, type CheckResult, type CheckRunner } from "./run-check.ts";
import { runProgram, type ProgramRun } from "../core/run.ts";

/** Runs the tally bundle with `args`; resolves with its exit code and output. */
export function runTally(args: string[], bundle = TALLY_BUNDLE, timeoutMs = 120_000): Promise<ProgramRun> {
  return runProgram(process.execPath, [bundle, ...args], timeoutMs);
}

/** Runs checks against a mesh preview: tally on this machine, its URL pointed at the preview's listener for the Service. */
export function previewRunner(mesh: Mesh, objects: K8sObject[], tallyBundle = TALLY_BUNDLE): CheckRunner {
  const namespace = renderNamespace(objects);
  /** The decisions of the last tally run (taken by explain), for explainFailures. */
  let decided: Decision[] = [];
  return {
    command: (args) => ["tally", ...args],
    tally: (args) => runTally([...args.slice(0, -1), mesh.localUrl(args.at(-1)!)], tallyBundle),
    logsCommand: (deployment) => deploymentLogsCommand(objects, deployment, namespace),
    requestLogs: async (deployment) => mesh.requestLogs(deployment),
    explain: () => explainDecisions((decided = mesh.takeDecisions())),
    // The first hop's decisions (the sleep pod's sidecar, or a gateway): the app pods' own outbound calls are not what tally counted.
    explainFailures: (report) =>
      explainFailures(
        report,
        decided.filter((d) => !mesh.pods.some((p) => p.name === d.proxy)),
      ),
  };
}

/** The rules the render holds that ambient ignores or applies differently, one `warning:` line each. */
export function meshWarnings(mesh: Mesh): string {
  return mesh.warnings.map((w) => `   warning: ${w}\n`).join("");
}

export interface PreviewOptions extends MeshOptions {
  tallyBundle?: string;
  /** How the overlay is read and rendered: remote entries allowed or not, the render's limits. */
  render?: RenderOptions;
  /** Receives the report as it is produced. */
  write?: (text: string) => void;
}

/** What the preview runs: a kustomization directory and, when it has them, its checks. */
export interface PreviewTarget {
  dir: string;
  checks?: LessonChecks | undefined;
}

/** Brings a lesson or playground up in the mesh preview, runs its checks (if it has any), and stops everything. */
export async function previewTarget(target: PreviewTarget, options: PreviewOptions = {}): Promise<CheckResult[]> {
  const tallyBundle = options.tallyBundle ?? TALLY_BUNDLE;
  if (!existsSync(tallyBundle)) throw new Error(`${tallyBundle} is missing: run \`npm run build\` first`);
  const objects = await renderKustomization(target.dir, options.render);
  // A playground without checks.yaml gets the default sample, which expects nothing.
  const checks = target.checks ? withLessonVars(target.checks.checks, objects) : [DEFAULT_SAMPLE];
  const mesh = await Mesh.start(objects, { ...options, checkEnvNames: envNamesRead(checks) });
  options.write?.(
    `   preview: ${mesh.ambient ? "ambient mode (ztunnel, no sidecars), " : ""}pods ${mesh.pods.map((p) => p.name).join(", ")}\n${meshWarnings(mesh)}${mesh.notes.map((note) => `   note: ${note}\n`).join("")}\n`,
  );
  try {
    const runner = previewRunner(mesh, objects, tallyBundle);
    const results: CheckResult[] = [];
    for (const check of checks)
      results.push(await runCheck(check, runner, options.write ? { write: options.write } : {}));
    return results;
  } finally {
    await mesh.stop();
  }
}

/** previewTarget for a kustomization directory and its checks.yaml. */
export async function previewOverlay(dir: string, options: PreviewOptions = {}): Promise<CheckResult[]> {
  return previewTarget({ dir, checks: await loadChecks(join(dir, "checks.yaml")) }, options);
}
