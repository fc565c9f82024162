// `npm run verify -- <lesson>` and `npm run verify -- --all`: a lesson's checks
// on a real cluster. First it makes sure of what it is looking at: a cluster
// answers, the namespace has sidecar injection, every pod is ready with its
// sidecar, and the lesson's rules are there and no other lesson's. Each check
// then runs as the same tally command the preview runs, inside the sleep pod
// (`kubectl exec deploy/sleep -c sleep -- tally ...`), through the real sidecars,
// retried until it passes several times in a row (rules take a moment to reach
// every sidecar). `--all` walks every lesson: apply, wait, check, remove.
import { formatDuration } from "#common/duration.ts";
import { UsageError } from "#common/usage-error.ts";
import { ambientLessons, parseLessons, sidecarLessons } from "../catalog/lessons.ts";
import { renderLessons, type Renders } from "../cluster/lesson-steps.ts";
import { requireKubectl, withExitCodes, type CommandIo } from "../cluster/plan.ts";
import { verifyOne, walkLessons, type VerifyOptions } from "../cluster/verify-steps.ts";
import { processIo, runCommand } from "./command.ts";
import { COMMON_OPTIONS, contextOption, countOption, durationOption, LIMITS, parseCommandLine } from "./options.ts";

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

const USAGE = `usage: npm run verify -- <lesson> [options]    check a lesson applied on a cluster
       npm run verify -- --all [options]       apply, check and remove every lesson in turn (both APIs: ${sidecarLessons().length} lessons)
       npm run verify -- --all --ambient       the same for the ambient lessons (a cluster from cluster up --ambient)
  --dry-run            print the kubectl commands instead of running them
  --context NAME       kubectl context (default: the current one)
  --namespace NS       the lessons' namespace (default: the overlay's, istio-lessons; not with --all)
  --passes N           passes in a row a check needs (default ${LIMITS.passes.default}, ${LIMITS.passes.min} to ${LIMITS.passes.max})
  --within D           how long a failing check is retried (default ${formatDuration(LIMITS.within.default)}; 0s: once)
  --wait D             --all: how long each Deployment may take to roll out (default ${formatDuration(LIMITS.wait.default)})
  --request-timeout D  how long the API server may take to answer a query (default ${formatDuration(LIMITS.requestTimeout.default)})
lessons: ${sidecarLessons().join(", ")}
ambient lessons: ${ambientLessons().join(", ")}
exit codes: 0 all passed, 1 a check failed, 2 usage, 3 no cluster, 4 not ready (namespace, pods, sidecars, rules), 5 kubectl missing`;

export async function verifyCommand(
  argv: string[],
  io: CommandIo,
  renderAll: () => Promise<Renders> = renderLessons,
): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    ...COMMON_OPTIONS,
    all: { type: "boolean" },
    ambient: { type: "boolean" },
    namespace: { type: "string", short: "n" },
    passes: { type: "string" },
    within: { type: "string" },
  });
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  if (values.all && positionals.length > 0) throw new UsageError("--all walks every lesson: name none");
  if (!values.all && positionals.length !== 1)
    throw new UsageError(positionals.length === 0 ? "name a lesson (or --all)" : "one lesson at a time (or --all)");
  const namespace = values.namespace;
  if (namespace !== undefined && (!NAMESPACE_NAME.test(namespace) || namespace.length > 63))
    throw new UsageError(`--namespace "${namespace}" is not a Kubernetes namespace name`);
  if (namespace !== undefined && values.all)
    throw new UsageError("--namespace cannot be used with --all: the overlays put everything in their own namespace");
  if (values.ambient && !values.all)
    throw new UsageError(
      "--ambient is for --all (it walks the ambient lessons); name an ambient lesson as ambient/<lesson>",
    );
  const lessons = values.all ? (values.ambient ? ambientLessons() : sidecarLessons()) : parseLessons(positionals);
  const settings = {
    target: {
      context: contextOption(values.context),
      requestTimeoutMs: durationOption("request-timeout", values["request-timeout"], LIMITS.requestTimeout),
    },
    passes: countOption("passes", values.passes, LIMITS.passes),
    withinMs: durationOption("within", values.within, LIMITS.within),
    waitMs: durationOption("wait", values.wait, LIMITS.wait),
    plan: { dryRun: values["dry-run"] ?? false, write: io.out, env: io.env, cwd: io.cwd },
  };
  return withExitCodes("verify", io, async () => {
    requireKubectl(io.env);
    const options: VerifyOptions = { ...settings, renders: await renderAll() };
    return values.all ? walkLessons(lessons, options) : verifyOne(lessons[0]!, namespace, options);
  });
}

if (import.meta.main) await runCommand("verify", USAGE, (argv) => verifyCommand(argv, processIo()));
