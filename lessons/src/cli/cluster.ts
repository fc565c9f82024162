// `npm run cluster -- up | down | diagnose`: a kind cluster with Istio and the
// first lesson, from nothing, in one command, and gone again in another. `up`
// uses the learner's own istioctl (demo profile) and Docker: it builds both
// images, creates the cluster (or reuses one of that name), installs the Gateway
// API CRDs and Istio, waits until Istio is healthy, loads the images, applies the
// first lesson and waits for every pod to be 2/2. `diagnose` saves what a failed
// run needs to be understood (pod logs, kubectl get output) into a folder.
import { mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { formatDuration } from "#common/duration.ts";
import { UsageError } from "#common/usage-error.ts";
import { ambientLessons, LESSONS } from "../catalog/lessons.ts";
import { FIRST_AMBIENT_LESSON } from "../cluster/ambient.ts";
import {
  CLUSTER_NAME,
  DEFAULT_CLUSTER,
  DEFAULT_DIAGNOSE_DIR,
  diagnoseSteps,
  downSteps,
  GATEWAY_API_VERSION,
  kindContext,
  TOOLS_NEEDED,
  upSteps,
  type ClusterOptions,
} from "../cluster/kind.ts";
import { renderLessons, type Renders } from "../cluster/lesson-steps.ts";
import {
  EXIT,
  missingTools,
  runSteps,
  StepError,
  withExitCodes,
  type CommandIo,
  type PlanIo,
} from "../cluster/plan.ts";
import {
  DEFAULT_GATEWAY_API,
  GATEWAY_API_CHANNELS,
  KIND_NODE_IMAGE,
  SUPPORTED_ISTIO,
  type GatewayApiChannel,
} from "../cluster/tools.ts";
import { processIo, runCommand } from "./command.ts";
import { COMMON_OPTIONS, contextOption, durationOption, LIMITS, parseCommandLine } from "./options.ts";

const USAGE = `usage: npm run cluster -- up [--ambient] [--name NAME] [--dry-run] [--wait D] [--build-timeout D] [--node-image IMAGE] [--gateway-api VERSION] [--gateway-api-channel C]
       npm run cluster -- down [--name NAME] [--dry-run]
       npm run cluster -- diagnose [--name NAME | --context NAME] [--out DIR] [--dry-run]
  up        creates a kind cluster with Istio (demo profile, your istioctl), builds and loads both images,
            applies the first lesson (${LESSONS[0]}) and waits until every pod is 2/2
  down      deletes the kind cluster
  diagnose  saves pod logs and kubectl get output into DIR (default ${DEFAULT_DIAGNOSE_DIR})
  --name NAME          kind cluster name (default ${DEFAULT_CLUSTER}; kubectl context kind-NAME)
  --dry-run            print every command in order, run none
  --ambient            up: Istio's ambient profile (ztunnel and the CNI agent, no sidecars), then ${FIRST_AMBIENT_LESSON}, pods 1/1
  --wait D             how long Istio's components and each Deployment may take to be ready (default ${formatDuration(LIMITS.wait.default)})
  --build-timeout D    how long each docker build may take (default ${formatDuration(LIMITS.buildTimeout.default)})
  --node-image IMAGE   kind node image (default ${KIND_NODE_IMAGE.split("@")[0]}, pinned by digest: Kubernetes every checked Istio supports)
  --gateway-api V      Gateway API CRD release to install (default: the one your istioctl's Istio is built against, e.g. ${DEFAULT_GATEWAY_API} for ${SUPPORTED_ISTIO.split(", ").at(-1)})
  --gateway-api-channel C  ${GATEWAY_API_CHANNELS.join(" or ")} (default ${GATEWAY_API_CHANNELS[0]})
  --request-timeout D  how long the API server may take to answer a query (default ${formatDuration(LIMITS.requestTimeout.default)})
needs: kind, istioctl (Istio ${SUPPORTED_ISTIO}), docker, kubectl
exit codes: 0 done, 1 a step failed, 2 usage, 4 pods not ready, 5 a tool is missing (or docker is not running)`;

export async function clusterCommand(
  argv: string[],
  io: CommandIo,
  renderAll: () => Promise<Renders> = renderLessons,
): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    ...COMMON_OPTIONS,
    name: { type: "string" },
    "build-timeout": { type: "string" },
    "node-image": { type: "string" },
    "gateway-api": { type: "string" },
    "gateway-api-channel": { type: "string" },
    out: { type: "string" },
    ambient: { type: "boolean" },
  });
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub !== "up" && sub !== "down" && sub !== "diagnose")
    throw new UsageError(
      sub === undefined ? "say up, down or diagnose" : `unknown subcommand "${sub}": say up, down or diagnose`,
    );
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const name = values.name ?? DEFAULT_CLUSTER;
  if (!CLUSTER_NAME.test(name) || name.length > 50)
    throw new UsageError(`--name "${name}" is not a kind cluster name (lower-case letters, digits, . and -)`);
  const gatewayApi = values["gateway-api"];
  if (gatewayApi !== undefined && !GATEWAY_API_VERSION.test(gatewayApi))
    throw new UsageError(`--gateway-api "${gatewayApi}": expected a release such as ${DEFAULT_GATEWAY_API}`);
  const onlyFor = (flag: string, value: unknown, subs: string[]) => {
    if (value !== undefined && !subs.includes(sub))
      throw new UsageError(`--${flag} is for ${subs.join(" and ")}, not ${sub}`);
  };
  onlyFor("build-timeout", values["build-timeout"], ["up"]);
  onlyFor("node-image", values["node-image"], ["up"]);
  onlyFor("gateway-api", values["gateway-api"], ["up"]);
  onlyFor("gateway-api-channel", values["gateway-api-channel"], ["up"]);
  onlyFor("ambient", values.ambient, ["up"]);
  const channel = values["gateway-api-channel"] ?? GATEWAY_API_CHANNELS[0];
  if (!(GATEWAY_API_CHANNELS as readonly string[]).includes(channel))
    throw new UsageError(`--gateway-api-channel "${channel}": expected ${GATEWAY_API_CHANNELS.join(" or ")}`);
  onlyFor("wait", values.wait, ["up"]);
  onlyFor("out", values.out, ["diagnose"]);
  onlyFor("context", values.context, ["diagnose"]);
  if (values.out === "") throw new UsageError("--out needs a folder");
  const context = contextOption(values.context);
  const options: ClusterOptions = {
    name,
    target: {
      context: context ?? kindContext(name),
      requestTimeoutMs: durationOption("request-timeout", values["request-timeout"], LIMITS.requestTimeout),
    },
    waitMs: durationOption("wait", values.wait, LIMITS.wait),
    buildTimeoutMs: durationOption("build-timeout", values["build-timeout"], LIMITS.buildTimeout),
    nodeImage: values["node-image"],
    gatewayApi,
    gatewayApiChannel: channel as GatewayApiChannel,
    ambient: values.ambient ?? false,
  };
  const plan: PlanIo = { dryRun: values["dry-run"] ?? false, write: io.out, env: io.env, cwd: io.cwd };
  return withExitCodes("cluster", io, async () => {
    const missing = missingTools(TOOLS_NEEDED[sub], io.env);
    if (plan.dryRun) {
      for (const line of missing) io.out(`# note: ${line}\n`);
    } else if (missing.length > 0) {
      throw new StepError(missing.join("\n"), EXIT.missingTool);
    }
    if (sub === "down") {
      await runSteps(downSteps(name), plan);
      if (!plan.dryRun) io.out(`cluster ${name} is gone\n`);
      return EXIT.ok;
    }
    const renders = await renderAll();
    if (sub === "diagnose") {
      const dir = values.out ?? DEFAULT_DIAGNOSE_DIR;
      if (!plan.dryRun) await mkdir(resolve(io.cwd, dir), { recursive: true });
      await runSteps(diagnoseSteps(dir, options.target, renders, context ? undefined : name), plan);
      if (!plan.dryRun) io.out(`saved in ${dir}/\n`);
      return EXIT.ok;
    }
    await runSteps(upSteps(options, renders, io.out), plan);
    if (!plan.dryRun) {
      const [first, second] = options.ambient
        ? [FIRST_AMBIENT_LESSON, ambientLessons().find((l) => l !== FIRST_AMBIENT_LESSON)!]
        : [LESSONS[0], LESSONS[1] ?? LESSONS[0]];
      const pods = options.ambient ? "every pod is 1/1 (no sidecar) and enrolled with ztunnel" : "every pod is 2/2";
      io.out(`\ncluster ${name} is up (kubectl context ${options.target.context}), with Istio's ${options.ambient ? "ambient" : "demo"} profile and lesson ${first}; ${pods}.
next: npm run verify -- ${first}    then: npm run lesson -- ${second}    at the end: npm run cluster -- down${name === DEFAULT_CLUSTER ? "" : ` --name ${name}`}\n`);
    }
    return EXIT.ok;
  });
}

if (import.meta.main) await runCommand("cluster", USAGE, (argv) => clusterCommand(argv, processIo()));
