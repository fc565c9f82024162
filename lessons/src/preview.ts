// Runs a lesson's checks in the mesh preview: render the overlay, start the
// mesh, run each check's tally command against the proxy, report PASS/FAIL.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { loadChecks, mirroredNeeded, probeToTallyArgs, type Check } from "./checks.ts";
import { renderKustomization } from "./kustomize.ts";
import { checksFile } from "./lessons.ts";
import { Mesh, type MeshOptions } from "./mesh/mesh.ts";
import { runProgram, type ProgramRun } from "./run.ts";

export const TALLY_BUNDLE = fileURLToPath(new URL("../../dist/tally.js", import.meta.url));

/** The base URL a check's command shows: what the learner types in the sleep pod. */
export const CLUSTER_BASE_URL = "http://flaskapp";

/** How long mirrored copies (fire and forget) may take to show up in the logs. */
const MIRROR_WAIT_MS = 5_000;

export interface CheckResult {
  name: string;
  passed: boolean;
  /** Why it failed, when tally's own output does not say (mirror checks, tally crashes). */
  detail?: string;
}

/** Runs the tally bundle with `args`; resolves with its exit code and output. */
export function runTally(args: string[], bundle = TALLY_BUNDLE, timeoutMs = 120_000): Promise<ProgramRun> {
  return runProgram(process.execPath, [bundle, ...args], timeoutMs);
}

/** Shell-quotes one argument for display, so a printed command can be pasted. */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function describeTallyExit(run: ProgramRun): string | undefined {
  if (run.code === 0 || run.code === 1) return undefined;
  return `tally exited with code ${run.code}: ${run.stderr.trim()}`;
}

async function waitForMirrored(mesh: Mesh, check: Check, runId: string): Promise<{ seen: number; needed: number }> {
  const needed = mirroredNeeded(check);
  const deadline = Date.now() + MIRROR_WAIT_MS;
  let seen = mesh.mirroredRequests(check.mirroredTo!.deployment, runId);
  while (seen < needed && Date.now() < deadline) {
    await sleep(50);
    seen = mesh.mirroredRequests(check.mirroredTo!.deployment, runId);
  }
  return { seen, needed };
}

export interface PreviewOptions extends MeshOptions {
  tallyBundle?: string;
  /** Receives the report as it is produced. */
  write?: (text: string) => void;
}

/** Runs one check against a running mesh, writing tally's output and the verdict. */
export async function runCheckLocally(mesh: Mesh, check: Check, options: PreviewOptions = {}): Promise<CheckResult> {
  const write = options.write ?? (() => undefined);
  const runId = check.mirroredTo ? `lesson-check-${randomUUID()}` : undefined;
  const shown = probeToTallyArgs(check, CLUSTER_BASE_URL, runId);
  write(`$ tally ${shown.map(shellQuote).join(" ")}\n`);
  const run = await runTally(probeToTallyArgs(check, mesh.url, runId), options.tallyBundle);
  write(run.stdout.replace(/\n?$/, "\n"));
  if (run.code === 1 && run.stderr.trim()) write(run.stderr.replace(/\n?$/, "\n"));
  let detail = describeTallyExit(run);
  let passed = run.code === 0;
  if (check.mirroredTo && runId) {
    const { seen, needed } = await waitForMirrored(mesh, check, runId);
    const line = `${check.mirroredTo.deployment} logged ${seen} mirrored requests (Host *-shadow), at least ${needed} expected`;
    write(`${line}\n`);
    if (seen < needed) {
      passed = false;
      detail ??= line;
    }
  }
  write(`${passed ? "PASS" : "FAIL"}  ${check.name}\n`);
  return detail === undefined ? { name: check.name, passed } : { name: check.name, passed, detail };
}

/** Brings an overlay up in the mesh preview, runs its checks, and stops everything. */
export async function previewOverlay(overlay: string, options: PreviewOptions = {}): Promise<CheckResult[]> {
  const tallyBundle = options.tallyBundle ?? TALLY_BUNDLE;
  if (!existsSync(tallyBundle)) throw new Error(`${tallyBundle} is missing: run \`npm run build\` first`);
  const lesson = await loadChecks(checksFile(overlay));
  const mesh = await Mesh.start(await renderKustomization(overlay), options);
  options.write?.(`   preview: pods ${mesh.pods.map((p) => p.name).join(", ")}; http://${mesh.service} is ${mesh.url}\n\n`);
  try {
    const results: CheckResult[] = [];
    for (const check of lesson.checks) results.push(await runCheckLocally(mesh, check, { ...options, tallyBundle }));
    return results;
  } finally {
    await mesh.stop();
  }
}
