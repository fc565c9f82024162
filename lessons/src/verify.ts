// `npm run verify -- <lesson> [--dry-run] [--namespace NS]`: a lesson's checks
// on a real cluster. Each check runs as the same tally command the preview
// runs, inside the sleep pod (`kubectl exec deploy/sleep -c sleep -- tally ...`),
// against the Service through the real sidecars. A mirror check then reads the
// receiving Deployment's logs for the mirrored copies.
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { loadChecks, mirroredNeeded, parseLogLines, tallyArgs } from "./checks.ts";
import { DEFAULT_NAMESPACE, deploymentLogsCommand, sleepTallyCommand } from "./commands.ts";
import { renderKustomization, type K8sObject } from "./kustomize.ts";
import { allLessons, checksFile, lessonPath, overlayDir, parseLessons, runCommand, UsageError } from "./lessons.ts";
import { formatCommand, runCheck, type CheckRunner } from "./run-check.ts";
import { runProgram } from "./run.ts";

const KUBECTL_TIMEOUT_MS = 5 * 60_000;

const USAGE = `usage: npm run verify -- <lesson> [--dry-run] [--namespace NS]
  runs the lesson's checks from the sleep pod of a cluster where the overlay is applied
  --dry-run        print the kubectl commands instead of running them
  --namespace NS   the lessons' namespace (default ${DEFAULT_NAMESPACE})
lessons: ${allLessons().join(", ")}`;

function out(text: string): void {
  process.stdout.write(text);
}

/** Runs checks on a cluster through kubectl. */
export function clusterRunner(objects: K8sObject[], namespace: string): CheckRunner {
  const run = (argv: string[]) => runProgram(argv[0]!, argv.slice(1), KUBECTL_TIMEOUT_MS);
  return {
    command: (args) => sleepTallyCommand(namespace, args),
    tally: (args) => run(sleepTallyCommand(namespace, args)),
    logsCommand: (deployment) => deploymentLogsCommand(objects, deployment, namespace),
    async requestLogs(deployment) {
      const result = await run(deploymentLogsCommand(objects, deployment, namespace));
      if (result.code !== 0) throw new Error(result.stderr.trim() || `kubectl logs exited with code ${result.code}`);
      return parseLogLines(result.stdout);
    },
  };
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
  const objects = await renderKustomization(dir);
  const runner = clusterRunner(objects, namespace);
  out(`${lesson}: ${summary}\n(apply it first: kubectl apply -k ${lessonPath(lesson!)})\n\n`);
  if (values["dry-run"]) {
    for (const check of checks) {
      const runId = check.mirroredTo ? `lesson-check-${randomUUID()}` : undefined;
      out(`${formatCommand(runner.command(tallyArgs(check, runId)))}\n`);
      if (check.mirroredTo) {
        out(`${formatCommand(runner.logsCommand(check.mirroredTo.deployment))}\n`);
        out(`# then count the request lines with "requestId":"${runId}": at least ${mirroredNeeded(check)}\n`);
      }
    }
    return 0;
  }
  let failed = 0;
  for (const check of checks) {
    const result = await runCheck(check, runner, { write: out });
    out("\n");
    if (!result.passed) failed++;
  }
  out(failed === 0 ? `all ${checks.length} checks passed\n` : `${failed} of ${checks.length} checks FAILED\n`);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) await runCommand("verify", USAGE, main);
