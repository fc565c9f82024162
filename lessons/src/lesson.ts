// `npm run lesson -- <lesson>`: switches the cluster to a lesson. Other lessons'
// rules are removed first (every rule kind any lesson uses, except the names this
// lesson applies), then the lesson's overlay is applied, then its pods are waited
// for. The same steps serve `npm run cluster -- up` (the first lesson) and
// `npm run verify -- --all` (every lesson in turn).
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { loadChecks } from "./checks.ts";
import { DEFAULT_NAMESPACE, kubectl } from "./commands.ts";
import { renderKustomization, type K8sObject } from "./kustomize.ts";
import { ACTION_TIMEOUT_MS, podsStep, probeSteps, rolloutStep, throwIfUnserved, workloadsOf, type Target } from "./kube.ts";
import { deletionGroups, excludeNames, ruleRef, ruleResources, rulesOf } from "./lesson-rules.ts";
import { UsageError } from "../../services/common/src/usage-error.ts";
import { allLessons, checksFile, overlayDir, parseLessons, runCommand, type Lesson } from "./lessons.ts";
import { COMMON_OPTIONS, contextOption, durationOption, LIMITS, parseCommandLine } from "./options.ts";
import { EXIT, failedMessage, requireKubectl, runSteps, StepError, withExitCodes, type CommandIo, type Step } from "./plan.ts";
import type { ProgramRun } from "./run.ts";

/** kubectl apply or delete of rules: a failure says whether the cluster lacks the rule kinds. */
function ruleActionJudge(argv: string[]): (run: ProgramRun) => void {
  return (run) => {
    if (run.code === 0) return;
    throwIfUnserved(run);
    throw new StepError(failedMessage(argv, run), EXIT.failed);
  };
}

/** The repository root: commands run here, and the paths they print are relative to it. */
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export type Renders = ReadonlyMap<Lesson, readonly K8sObject[]>;

/** Every lesson's render (kubectl kustomize), Gateway API twins included, to know every lesson's rules. */
export async function renderLessons(): Promise<Renders> {
  const lessons = allLessons();
  const objects = await Promise.all(lessons.map((lesson) => renderKustomization(overlayDir(lesson))));
  return new Map(lessons.map((lesson, i) => [lesson, objects[i]!]));
}

export function namespaceOf(objects: readonly K8sObject[]): string {
  return objects.find((o) => o.kind === "Namespace")?.metadata.name ?? DEFAULT_NAMESPACE;
}

/** The overlay's directory as typed from the repository root, e.g. k8s/overlays/weighted. */
export function overlayPath(lesson: Lesson): string {
  return relative(ROOT, overlayDir(lesson));
}

function renderOf(renders: Renders, lesson: Lesson): readonly K8sObject[] {
  const objects = renders.get(lesson);
  if (!objects) throw new Error(`lesson ${lesson} was not rendered`);
  return objects;
}

/** Removes other lessons' rules, then applies the lesson. */
export function switchSteps(lesson: Lesson, renders: Renders, target: Target): Step[] {
  const render = renderOf(renders, lesson);
  const namespace = namespaceOf(render);
  const step = (argv: string[], note?: string): Step => ({ argv, ...(note ? { note } : {}), timeoutMs: ACTION_TIMEOUT_MS, judge: ruleActionJudge(argv) });
  return [
    ...deletionGroups(ruleResources(renders.values()), rulesOf(render)).map(({ resources, keep }) =>
      step(
        kubectl(target.context, "delete", resources.join(","), "-n", namespace, ...(keep.length > 0 ? ["--field-selector", excludeNames(keep)] : ["--all"])),
        keep.length > 0 ? `other lessons' rules; ${lesson} applies ${keep.join(", ")} itself` : "other lessons' rules",
      ),
    ),
    step(kubectl(target.context, "apply", "-k", overlayPath(lesson))),
  ];
}

/** Waits for the lesson's Deployments to roll out, then checks every pod is ready with its sidecar (2/2). */
export function waitSteps(render: readonly K8sObject[], target: Target, waitMs: number, cluster?: string): Step[] {
  const namespace = namespaceOf(render);
  const workloads = workloadsOf(render);
  let rolloutFailure: string | undefined;
  return [
    rolloutStep(target, namespace, workloads, waitMs, (why) => (rolloutFailure = why)),
    podsStep(target, namespace, workloads, { ...(cluster ? { cluster } : {}), rolloutFailure: () => rolloutFailure }),
  ];
}

/** Deletes the lesson's own rules (verify --all, after its checks); none for a lesson without rules. */
export function removeSteps(lesson: Lesson, renders: Renders, target: Target): Step[] {
  const render = renderOf(renders, lesson);
  const rules = rulesOf(render);
  if (rules.length === 0) return [];
  return [{ argv: kubectl(target.context, "delete", ...rules.map(ruleRef), "-n", namespaceOf(render), "--ignore-not-found"), note: `${lesson}'s rules`, timeoutMs: ACTION_TIMEOUT_MS }];
}

const USAGE = `usage: npm run lesson -- <lesson> [--dry-run] [--context NAME] [--wait D] [--request-timeout D]
  removes the other lessons' rules, applies the lesson's overlay and waits for its pods (2/2)
  --dry-run            print the commands instead of running them
  --context NAME       kubectl context (default: the current one)
  --wait D             how long each Deployment may take to roll out (default 5m)
  --request-timeout D  how long the API server may take to answer a query (default 10s)
lessons: ${allLessons().join(", ")}
exit codes: 0 applied and ready, 1 a command failed, 2 usage, 3 no cluster, 4 pods not ready, 5 kubectl missing`;

export async function lessonCommand(argv: string[], io: CommandIo, renderAll: () => Promise<Renders> = renderLessons): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, COMMON_OPTIONS);
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? "name a lesson" : "one lesson at a time");
  const [lesson] = parseLessons(positionals);
  const target: Target = { context: contextOption(values.context), requestTimeoutMs: durationOption("request-timeout", values["request-timeout"], LIMITS.requestTimeout) };
  const waitMs = durationOption("wait", values.wait, LIMITS.wait);
  const dryRun = values["dry-run"] ?? false;
  const { summary } = await loadChecks(checksFile(overlayDir(lesson!)));
  const plan = { dryRun, write: io.out, env: io.env, cwd: io.cwd };
  return withExitCodes("lesson", io, async () => {
    requireKubectl(io.env);
    const renders = await renderAll();
    const probe = probeSteps(target);
    await runSteps(probe.steps, plan);
    io.out(`${lesson}: ${summary}\n`);
    await runSteps([...switchSteps(lesson!, renders, target), ...waitSteps(renderOf(renders, lesson!), target, waitMs)], plan);
    io.out(dryRun ? "" : `\n${lesson} is applied and its pods are ready; check it with: npm run verify -- ${lesson}\n`);
    return 0;
  });
}

export function processIo(): CommandIo {
  // Output piped into `head` and closed early: stop quietly instead of an EPIPE stack.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    process.exit(process.exitCode ?? 0);
  });
  return { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t), env: process.env, cwd: ROOT };
}

if (import.meta.main) await runCommand("lesson", USAGE, (argv) => lessonCommand(argv, processIo()));
