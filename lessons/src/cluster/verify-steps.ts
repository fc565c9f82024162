// Checking a lesson on a cluster: is the cluster ready for it (namespace, pods with
// their sidecars, the lesson's rules and no other's), then its checks run as tally in
// the sleep pod until they pass several times in a row; or every lesson in turn.
import { randomUUID } from "node:crypto";
import { formatDuration } from "#common/duration.ts";
import { loadChecks, mirroredNeeded, tallyArgs, withLessonVars, type Check } from "../checks/checks.ts";
import { runCheck, type CheckRunner } from "../checks/run-check.ts";
import { checksFile, LESSONS, overlayDir, type Lesson } from "../catalog/lessons.ts";
import { deploymentLogsCommand, renderNamespace, sleepTallyCommand } from "../core/kubectl.ts";
import type { K8sObject } from "../core/kustomize.ts";
import { parseLogLines } from "../core/request-log.ts";
import { runProgram } from "../core/run.ts";
import { formatCommand } from "../core/shell.ts";
import {
  namespaceStep,
  podsStep,
  probeSteps,
  ruleProblems,
  rulesSteps,
  servicesOf,
  workloadsOf,
  type KubeTarget,
} from "./kube.ts";
import { gatewayApiStep, MissingApiError, removeSteps, switchSteps, waitSteps, type Renders } from "./lesson-steps.ts";
import { ambientReadinessSteps, isAmbient } from "./ambient.ts";
import { EXIT, runSteps, StepError, type PlanIo, type Step } from "./plan.ts";
import { isGatewayApiResource, ruleLabel, ruleResources, rulesOf, type RuleFindings } from "./rules.ts";

/** Longest one `kubectl exec ... tally` or `kubectl logs` may take. */
export const KUBECTL_TIMEOUT_MS = 5 * 60_000;

export interface ClusterRunnerOptions {
  context?: string | undefined;
  env?: NodeJS.ProcessEnv;
}

/** Runs checks on a cluster through kubectl. */
export function clusterRunner(
  objects: K8sObject[],
  namespace: string,
  options: ClusterRunnerOptions = {},
): CheckRunner {
  const run = (argv: string[]) =>
    runProgram(argv[0]!, argv.slice(1), KUBECTL_TIMEOUT_MS, options.env ? { env: options.env } : {});
  return {
    command: (args) => sleepTallyCommand(namespace, args, options.context),
    tally: (args) => run(sleepTallyCommand(namespace, args, options.context)),
    logsCommand: (deployment) => deploymentLogsCommand(objects, deployment, namespace, options.context),
    async requestLogs(deployment) {
      const result = await run(deploymentLogsCommand(objects, deployment, namespace, options.context));
      if (result.code !== 0) throw new Error(result.stderr.trim() || `kubectl logs exited with code ${result.code}`);
      return parseLogLines(result.stdout);
    },
  };
}

export interface VerifyOptions {
  target: KubeTarget;
  passes: number;
  withinMs: number;
  waitMs: number;
  plan: PlanIo;
  renders: Renders;
}

/** The namespace, pods (unless just waited for) and rules a lesson needs, as steps; after they ran, `ready()` says what was found. */
function readinessSteps(
  lesson: Lesson,
  namespace: string,
  options: VerifyOptions,
  walked?: ReturnType<typeof gatewayApiStep>,
): { steps: Step[]; ready: () => string } {
  const { target, renders } = options;
  const render = renders.get(lesson)!;
  const workloads = workloadsOf(render);
  let findings: RuleFindings<Lesson> | undefined;
  const steps: Step[] = [];
  const resources = ruleResources(renders.values());
  // A walk has just switched to the lesson (its discovery and pods steps ran); a single verify asks itself.
  const gatewayApi = walked ?? gatewayApiStep(lesson, render, target);
  if (!walked && resources.some(isGatewayApiResource)) steps.push(gatewayApi.step);
  const ambient = isAmbient(render);
  if (!walked)
    steps.push(
      ...(ambient
        ? ambientReadinessSteps(render, lesson, target, true)
        : [
            namespaceStep(target, namespace, LESSONS[0]),
            podsStep(target, namespace, workloads, { services: servicesOf(render), lesson }),
          ]),
    );
  const rules = rulesSteps(target, namespace, resources, lesson, renders, gatewayApi.served, (f) => (findings = f));
  const last = rules.at(-1);
  if (last) {
    const judge = last.judge!;
    rules[rules.length - 1] = {
      ...last,
      judge: (run) => {
        judge(run);
        const problems = ruleProblems(findings!, lesson, namespace, target.context);
        if (problems.length > 0) throw new StepError(`not ready:\n  ${problems.join("\n  ")}`, EXIT.notReady);
      },
    };
  }
  steps.push(...rules);
  const own = rulesOf(render).map(ruleLabel);
  return {
    steps,
    ready: () =>
      `ready: ${workloads.map((w) => w.name).join(", ")} ${ambient ? "in ambient mode (no sidecar, enrolled with ztunnel)" : "with their sidecars"}; rules: ${own.length ? own.join(", ") : "none"}, and no other lesson's`,
  };
}

/** Runs (or prints) a lesson's checks; resolves with how many passed and the tries they took. */
async function runChecks(
  lessonChecks: Check[],
  render: K8sObject[],
  namespace: string,
  options: VerifyOptions,
): Promise<{ passed: number; tries: number }> {
  const { plan, target } = options;
  const checks = withLessonVars(lessonChecks, render);
  const runner = clusterRunner(render, namespace, { context: target.context, env: plan.env });
  if (plan.dryRun) {
    plan.write(
      `# each check must pass ${options.passes} times in a row; a failing one is tried again for up to ${formatDuration(options.withinMs)}\n`,
    );
    for (const check of checks) {
      const runId = check.mirroredTo ? `lesson-check-${randomUUID()}` : undefined;
      plan.write(`${formatCommand(runner.command(tallyArgs(check, runId)))}\n`);
      if (check.mirroredTo) {
        plan.write(`${formatCommand(runner.logsCommand(check.mirroredTo.deployment))}\n`);
        plan.write(`# then count the request lines with "requestId":"${runId}": at least ${mirroredNeeded(check)}\n`);
      }
    }
    return { passed: checks.length, tries: 0 };
  }
  let passed = 0;
  let tries = 0;
  for (const check of checks) {
    const result = await runCheck(check, runner, {
      write: plan.write,
      converge: { passes: options.passes, deadlineMs: options.withinMs },
    });
    plan.write("\n");
    tries += result.tries;
    if (result.passed) passed++;
  }
  return { passed, tries };
}

export async function verifyOne(
  lesson: Lesson,
  namespaceOverride: string | undefined,
  options: VerifyOptions,
): Promise<number> {
  const { plan } = options;
  const { summary, checks } = await loadChecks(checksFile(overlayDir(lesson)));
  const render = [...options.renders.get(lesson)!];
  const namespace = namespaceOverride ?? renderNamespace(render);
  const probe = probeSteps(options.target);
  await runSteps(probe.steps, plan);
  plan.write(`${lesson}: ${summary}\n`);
  const readiness = readinessSteps(lesson, namespace, options);
  await runSteps(readiness.steps, plan);
  if (!plan.dryRun)
    plan.write(
      `cluster ${probe.info.server} (Kubernetes ${probe.info.version}), namespace ${namespace}\n${readiness.ready()}\n\n`,
    );
  const { passed } = await runChecks(checks, render, namespace, options);
  if (plan.dryRun) return EXIT.ok;
  plan.write(
    passed === checks.length
      ? `all ${checks.length} checks passed\n`
      : `${checks.length - passed} of ${checks.length} checks FAILED\n`,
  );
  return passed === checks.length ? EXIT.ok : EXIT.failed;
}

type Outcome = "PASS" | "FAIL" | "NOT READY" | "ERROR" | "SKIPPED";

interface LessonResult {
  lesson: Lesson;
  outcome: Outcome;
  checks: string;
  tries: number;
  ms: number;
  detail?: string;
}

/** The summary table of a walk. */
export function summaryTable(results: readonly LessonResult[]): string {
  const rows = [
    ["lesson", "result", "checks", "tries", "time"],
    ...results.map((r) => [
      r.lesson,
      r.outcome,
      r.checks,
      r.tries ? String(r.tries) : "",
      r.ms ? formatDuration(Math.round(r.ms / 100) * 100) : "",
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const lines = rows.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
  const details = results.filter((r) => r.detail).map((r) => `${r.lesson}: ${r.detail}`);
  return `${lines.join("\n")}\n${details.length ? `\n${details.join("\n")}\n` : ""}`;
}

/** Applies, waits for, checks and removes each lesson in turn; a summary table at the end. */
export async function walkLessons(lessons: readonly Lesson[], options: VerifyOptions): Promise<number> {
  const { plan, target, renders } = options;
  await runSteps(probeSteps(target).steps, plan);
  const results: LessonResult[] = [];
  let stopped: string | undefined;
  for (const [i, lesson] of lessons.entries()) {
    if (stopped) {
      results.push({ lesson, outcome: "SKIPPED", checks: "", tries: 0, ms: 0 });
      continue;
    }
    const started = Date.now();
    const { summary, checks } = await loadChecks(checksFile(overlayDir(lesson)));
    const render = [...renders.get(lesson)!];
    const namespace = renderNamespace(render);
    plan.write(`\n== ${lesson} (${i + 1} of ${lessons.length}): ${summary}\n`);
    const result: LessonResult = {
      lesson,
      outcome: "PASS",
      checks: `${checks.length}/${checks.length}`,
      tries: 0,
      ms: 0,
    };
    const gatewayApi = gatewayApiStep(lesson, render, target);
    try {
      await runSteps(
        [...switchSteps(lesson, renders, target, gatewayApi), ...waitSteps(render, target, options.waitMs)],
        plan,
      );
    } catch (error) {
      if (!(error instanceof StepError)) throw error;
      result.outcome = error.exitCode === EXIT.notReady ? "NOT READY" : "ERROR";
      result.detail = error.message;
      // Pods that do not get ready will not for the next lesson either; a missing API only concerns this one.
      const stops =
        error.exitCode === EXIT.notReady || error.exitCode === EXIT.noCluster || error.exitCode === EXIT.missingTool;
      if (stops && !(error instanceof MissingApiError)) stopped = error.message;
    }
    if (result.outcome === "PASS") {
      try {
        await runSteps(readinessSteps(lesson, namespace, options, gatewayApi).steps, plan);
        const { passed, tries } = await runChecks(checks, render, namespace, options);
        result.checks = `${passed}/${checks.length}`;
        result.tries = tries;
        if (passed < checks.length) result.outcome = "FAIL";
      } catch (error) {
        if (!(error instanceof StepError)) throw error;
        result.outcome = error.exitCode === EXIT.notReady ? "NOT READY" : "ERROR";
        result.detail = error.message;
      }
      await runSteps(removeSteps(lesson, renders, target), plan);
    }
    if (result.outcome !== "PASS")
      plan.write(`${lesson}: ${result.outcome}${result.detail ? `: ${result.detail}` : ""}\n`);
    result.ms = plan.dryRun ? 0 : Date.now() - started;
    if (plan.dryRun) result.checks = `${checks.length}`;
    results.push(result);
  }
  if (plan.dryRun) return EXIT.ok;
  plan.write(`\n${summaryTable(results)}`);
  if (stopped) {
    plan.write(`stopped: the pods did not become ready, so the remaining lessons were skipped\n`);
    return EXIT.notReady;
  }
  return results.every((r) => r.outcome === "PASS") ? EXIT.ok : EXIT.failed;
}
