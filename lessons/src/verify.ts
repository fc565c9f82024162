// `npm run verify -- <lesson> [--dry-run] [--namespace NS]`: a lesson's checks
// on a real cluster. Each check runs as the same tally command the preview
// runs, inside the sleep pod (`kubectl exec deploy/sleep -c sleep -- tally ...`),
// against http://flaskapp through the real sidecars. A mirror check then reads
// the receiving Deployment's logs for the mirrored copies.
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { ChecksError, countMirroredCopies, loadChecks, mirroredNeeded, probeToTallyArgs, type Check, type RequestLogLine } from "./checks.ts";
import { renderKustomization, type K8sObject } from "./kustomize.ts";
import { checksFile, LESSONS, overlayDir, parseLessons, runCommand, UsageError } from "./lessons.ts";
import { CLUSTER_BASE_URL, shellQuote } from "./preview.ts";
import { runProgram } from "./run.ts";

export const DEFAULT_NAMESPACE = "istio-lessons";
/** How far back the mirror check reads logs; the run id picks out this run's copies. */
export const MIRROR_LOG_WINDOW = "5m";
const MIRROR_LOG_ATTEMPTS = 5;
const KUBECTL_TIMEOUT_MS = 5 * 60_000;

const USAGE = `usage: npm run verify -- <lesson> [--dry-run] [--namespace NS]
  runs the lesson's checks from the sleep pod of a cluster where the overlay is applied
  --dry-run        print the kubectl commands instead of running them
  --namespace NS   the lessons' namespace (default ${DEFAULT_NAMESPACE})
lessons: ${LESSONS.join(", ")}`;


/** The kubectl command that runs a check's tally inside the sleep pod. */
export function tallyCommand(check: Check, namespace: string, runId?: string): string[] {
  return ["kubectl", "exec", "-n", namespace, "deploy/sleep", "-c", "sleep", "--", "tally", ...probeToTallyArgs(check, CLUSTER_BASE_URL, runId)];
}

/** The kubectl command that prints the request logs of every pod of a Deployment (found in the overlay's render). */
export function mirrorLogsCommand(check: Check, objects: K8sObject[], namespace: string): string[] {
  const name = check.mirroredTo!.deployment;
  const deployment = objects.find((o) => o.kind === "Deployment" && o.metadata.name === name);
  if (!deployment) throw new ChecksError(`mirroredTo.deployment: the overlay has no Deployment ${name}`);
  const selector = Object.entries(deployment.spec?.selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${String(v)}`).join(",");
  const container = String(deployment.spec?.template?.spec?.containers?.[0]?.name ?? name);
  return ["kubectl", "logs", "-n", namespace, "-l", selector, "-c", container, "--tail=-1", `--since=${MIRROR_LOG_WINDOW}`];
}

/** Parses `kubectl logs` output into request-log lines, skipping anything that is not one. */
export function parseLogLines(text: string): RequestLogLine[] {
  return text.split("\n").flatMap((line) => {
    if (!line.startsWith("{")) return [];
    try {
      return [JSON.parse(line) as RequestLogLine];
    } catch {
      return [];
    }
  });
}

function run(argv: string[]) {
  return runProgram(argv[0]!, argv.slice(1), KUBECTL_TIMEOUT_MS);
}

function out(text: string): void {
  process.stdout.write(text);
}

function printCommand(argv: string[]): void {
  out(`$ ${argv.map(shellQuote).join(" ")}\n`);
}

async function verifyCheck(check: Check, objects: K8sObject[], namespace: string, dryRun: boolean): Promise<boolean> {
  const runId = check.mirroredTo ? `lesson-check-${randomUUID()}` : undefined;
  const command = tallyCommand(check, namespace, runId);
  printCommand(command);
  const logs = check.mirroredTo ? mirrorLogsCommand(check, objects, namespace) : undefined;
  if (dryRun) {
    if (logs) {
      printCommand(logs);
      out(`# then count the lines with "requestId":"${runId}" and a host ending in -shadow: at least ${mirroredNeeded(check)}\n`);
    }
    return true;
  }
  const tally = await run(command);
  if (tally.stdout) out(tally.stdout.replace(/\n?$/, "\n"));
  let passed = tally.code === 0;
  if (tally.code !== 0 && tally.stderr.trim()) out(`${tally.stderr.trim()}\n`);
  if (logs && runId) {
    printCommand(logs);
    const needed = mirroredNeeded(check);
    let seen = 0;
    for (let attempt = 1; attempt <= MIRROR_LOG_ATTEMPTS && seen < needed; attempt++) {
      if (attempt > 1) await sleep(1000);
      const result = await run(logs);
      if (result.code !== 0) {
        out(`kubectl logs failed: ${result.stderr.trim()}\n`);
        break;
      }
      seen = countMirroredCopies(parseLogLines(result.stdout), runId);
    }
    out(`${check.mirroredTo!.deployment} logged ${seen} mirrored requests (Host *-shadow), at least ${needed} expected\n`);
    passed &&= seen >= needed;
  }
  out(`${passed ? "PASS" : "FAIL"}  ${check.name}\n\n`);
  return passed;
}

async function main(argv: string[]): Promise<number> {
  let values: { "dry-run"?: boolean; namespace?: string; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { "dry-run": { type: "boolean" }, namespace: { type: "string", short: "n" }, help: { type: "boolean", short: "h" } },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) {
    out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "name a lesson" : "one lesson at a time");
  const namespace = values.namespace ?? DEFAULT_NAMESPACE;
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(namespace) || namespace.length > 63) throw new UsageError(`--namespace "${namespace}" is not a Kubernetes namespace name`);
  const [lesson] = parseLessons(positionals);
  const dir = overlayDir(lesson!);
  const { summary, checks } = await loadChecks(checksFile(dir));
  const objects = checks.some((c) => c.mirroredTo) ? await renderKustomization(dir) : [];
  out(`${lesson}: ${summary}\n(apply it first: kubectl apply -k k8s/overlays/${lesson})\n\n`);
  let failed = 0;
  for (const check of checks) if (!(await verifyCheck(check, objects, namespace, values["dry-run"] === true))) failed++;
  if (values["dry-run"]) return 0;
  out(failed === 0 ? `all ${checks.length} checks passed\n` : `${failed} of ${checks.length} checks FAILED\n`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) await runCommand("verify", USAGE, main);
