// `npm run lesson -- <lesson>`: switches the cluster to a lesson. Other lessons'
// rules and the labelled objects they added are removed first (every kind any lesson
// uses, except the names this lesson applies; the Gateway API's only where the cluster
// serves it), then the lesson's overlay is applied, then its pods are waited for. The
// same steps serve `npm run cluster -- up` (the first lesson) and `npm run verify --
// --all` (every lesson in turn).
import { UsageError } from "#common/usage-error.ts";
import { loadChecks } from "../checks/checks.ts";
import { allLessons, checksFile, overlayDir, parseLessons } from "../catalog/lessons.ts";
import { probeSteps, type KubeTarget } from "../cluster/kube.ts";
import { renderLessons, renderOf, switchSteps, waitSteps, type Renders } from "../cluster/lesson-steps.ts";
import { requireKubectl, runSteps, withExitCodes, type CommandIo } from "../cluster/plan.ts";
import { processIo, runCommand } from "./command.ts";
import { COMMON_OPTIONS, contextOption, durationOption, LIMITS, parseCommandLine } from "./options.ts";

const USAGE = `usage: npm run lesson -- <lesson> [--dry-run] [--context NAME] [--wait D] [--request-timeout D]
  removes the other lessons' rules and what they added, applies the lesson's overlay and waits for its pods (2/2; an ambient lesson: 1/1, enrolled with ztunnel, its waypoint programmed)
  --dry-run            print the commands instead of running them
  --context NAME       kubectl context (default: the current one)
  --wait D             how long each Deployment may take to roll out (default 5m)
  --request-timeout D  how long the API server may take to answer a query (default 10s)
lessons: ${allLessons().join(", ")}
exit codes: 0 applied and ready, 1 a command failed, 2 usage, 3 no cluster, 4 pods not ready, 5 kubectl missing`;

export async function lessonCommand(
  argv: string[],
  io: CommandIo,
  renderAll: () => Promise<Renders> = renderLessons,
): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, COMMON_OPTIONS);
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? "name a lesson" : "one lesson at a time");
  const [lesson] = parseLessons(positionals);
  const target: KubeTarget = {
    context: contextOption(values.context),
    requestTimeoutMs: durationOption("request-timeout", values["request-timeout"], LIMITS.requestTimeout),
  };
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
    await runSteps(
      [...switchSteps(lesson!, renders, target), ...waitSteps(renderOf(renders, lesson!), target, waitMs)],
      plan,
    );
    io.out(dryRun ? "" : `\n${lesson} is applied and its pods are ready; check it with: npm run verify -- ${lesson}\n`);
    return 0;
  });
}

if (import.meta.main) await runCommand("lesson", USAGE, (argv) => lessonCommand(argv, processIo()));
