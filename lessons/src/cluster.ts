// `npm run cluster -- up | down | diagnose`: a kind cluster with Istio and the
// first lesson, from nothing, in one command, and gone again in another. `up`
// uses the learner's own istioctl (demo profile) and Docker: it builds both
// images, creates the cluster (or reuses one of that name), installs the Gateway
// API CRDs and Istio, waits until Istio is healthy, loads the images, applies the
// first lesson and waits for every pod to be 2/2. `diagnose` saves what a failed
// run needs to be understood (pod logs, kubectl get output) into a folder.
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import { formatDuration } from "../../services/common/src/duration.ts";
import { kubectl } from "./commands.ts";
import { dockerBuildCommand, IMAGE_NAMES, IMAGES } from "./images.ts";
import { ACTION_TIMEOUT_MS, QUERY_GRACE_MS, type Target } from "./kube.ts";
import { ruleResources } from "./lesson-rules.ts";
import { namespaceOf, processIo, renderLessons, switchSteps, waitSteps, type Renders } from "./lesson.ts";
import { UsageError } from "../../services/common/src/usage-error.ts";
import { LESSONS, runCommand } from "./lessons.ts";
import { COMMON_OPTIONS, contextOption, durationOption, LIMITS, parseCommandLine } from "./options.ts";
import { EXIT, lastError, missingTools, runSteps, StepError, withExitCodes, type CommandIo, type PlanIo, type Step } from "./plan.ts";
import { DEFAULT_GATEWAY_API, GATEWAY_API_CHANNELS, gatewayApiCrdsUrl, istioSupport, SUPPORTED_ISTIO, type GatewayApiChannel, type Tool } from "./tools.ts";

export const DEFAULT_CLUSTER = "istio-lessons";
/** kind's rule for cluster names. */
const CLUSTER_NAME = /^[a-z0-9.-]+$/;
const GATEWAY_API_VERSION = /^v\d+\.\d+\.\d+$/;
/** Node images take a while to pull the first time: kind create may take this much longer than its --wait. */
export const KIND_CREATE_GRACE_MS = 10 * 60_000;
/** istioctl install waits for each component in turn (istiod and two gateways in the demo profile, plus the CRDs). */
const ISTIO_COMPONENTS = 4;
export const DEFAULT_DIAGNOSE_DIR = "cluster-diagnostics";

const USAGE = `usage: npm run cluster -- up [--name NAME] [--dry-run] [--wait D] [--build-timeout D] [--node-image IMAGE] [--gateway-api VERSION] [--gateway-api-channel C]
       npm run cluster -- down [--name NAME] [--dry-run]
       npm run cluster -- diagnose [--name NAME | --context NAME] [--out DIR] [--dry-run]
  up        creates a kind cluster with Istio (demo profile, your istioctl), builds and loads both images,
            applies the first lesson (${LESSONS[0]}) and waits until every pod is 2/2
  down      deletes the kind cluster
  diagnose  saves pod logs and kubectl get output into DIR (default ${DEFAULT_DIAGNOSE_DIR})
  --name NAME          kind cluster name (default ${DEFAULT_CLUSTER}; kubectl context kind-NAME)
  --dry-run            print every command in order, run none
  --wait D             how long Istio's components and each Deployment may take to be ready (default ${formatDuration(LIMITS.wait.default)})
  --build-timeout D    how long each docker build may take (default ${formatDuration(LIMITS.buildTimeout.default)})
  --node-image IMAGE   kind node image (default: kind's own)
  --gateway-api V      Gateway API CRD release to install (default ${DEFAULT_GATEWAY_API})
  --gateway-api-channel C  ${GATEWAY_API_CHANNELS.join(" or ")} (default ${GATEWAY_API_CHANNELS[0]})
  --request-timeout D  how long the API server may take to answer a query (default ${formatDuration(LIMITS.requestTimeout.default)})
needs: kind, istioctl (Istio ${SUPPORTED_ISTIO}), docker, kubectl
exit codes: 0 done, 1 a step failed, 2 usage, 4 pods not ready, 5 a tool is missing (or docker is not running)`;

interface ClusterOptions {
  name: string;
  target: Target & { context: string };
  waitMs: number;
  buildTimeoutMs: number;
  nodeImage?: string | undefined;
  gatewayApi: string;
  gatewayApiChannel: GatewayApiChannel;
}

/** The tools a subcommand runs; a missing one is reported before anything runs. */
const TOOLS_NEEDED: Record<"up" | "down" | "diagnose", Tool[]> = {
  up: ["kind", "istioctl", "docker", "kubectl"],
  down: ["kind"],
  diagnose: ["kubectl"],
};

function kindContext(name: string): string {
  return `kind-${name}`;
}

/** Every command of `up`, in order. */
export function upSteps(options: ClusterOptions, renders: Renders, say: (text: string) => void): Step[] {
  const { name, target, waitMs } = options;
  const context = target.context;
  let exists = false;
  let istio = "";
  const first = LESSONS[0];
  const render = renders.get(first)!;
  return [
    {
      argv: ["istioctl", "version", "--remote=false", "-o", "json"],
      note: `your istioctl: Istio ${SUPPORTED_ISTIO} are supported`,
      quiet: true,
      timeoutMs: QUERY_GRACE_MS,
      judge: (run) => {
        let version: unknown;
        try {
          version = (JSON.parse(run.stdout) as { clientVersion?: { version?: unknown } }).clientVersion?.version;
        } catch {
          version = undefined;
        }
        if (run.code !== 0 || typeof version !== "string") throw new StepError(`istioctl version failed: ${lastError(run)}`, EXIT.failed);
        const support = istioSupport(version);
        if (!support.ok) throw new StepError(support.message, EXIT.failed);
        istio = version;
        say(`istioctl ${version}${support.note ? `: ${support.note}` : ""}\n`);
      },
    },
    {
      argv: ["docker", "info", "--format", "{{.ServerVersion}}"],
      note: "the Docker engine answers",
      quiet: true,
      timeoutMs: QUERY_GRACE_MS,
      judge: (run) => {
        if (run.code !== 0 || !run.stdout.trim()) throw new StepError(`docker is installed, but its engine does not answer (${lastError(run)}): start Docker`, EXIT.missingTool);
      },
    },
    ...IMAGES.map((image) => ({ argv: dockerBuildCommand(image), timeoutMs: options.buildTimeoutMs })),
    {
      argv: ["kind", "get", "clusters"],
      note: `is there a cluster ${name} already?`,
      quiet: true,
      timeoutMs: QUERY_GRACE_MS,
      judge: (run) => {
        if (run.code !== 0) throw new StepError(`kind get clusters failed: ${lastError(run)}`, EXIT.failed);
        exists = run.stdout.split("\n").map((l) => l.trim()).includes(name);
      },
    },
    {
      argv: ["kind", "create", "cluster", "--name", name, "--wait", formatDuration(waitMs), ...(options.nodeImage ? ["--image", options.nodeImage] : [])],
      note: `skipped when kind get clusters lists ${name}`,
      timeoutMs: waitMs + KIND_CREATE_GRACE_MS,
      skip: () => (exists ? `cluster ${name} exists: reusing it` : undefined),
    },
    {
      argv: ["kind", "export", "kubeconfig", "--name", name],
      note: `the kubectl context ${context}, current (for a reused cluster too)`,
      timeoutMs: QUERY_GRACE_MS,
    },
    {
      argv: kubectl(context, "apply", "--server-side", "-f", gatewayApiCrdsUrl(options.gatewayApi, options.gatewayApiChannel)),
      note: `the Gateway API CRDs ${options.gatewayApi} (${options.gatewayApiChannel} channel), for the Gateway API lessons`,
      timeoutMs: ACTION_TIMEOUT_MS,
    },
    {
      argv: ["istioctl", "x", "precheck", "--context", context],
      note: "can Istio be installed here?",
      timeoutMs: ACTION_TIMEOUT_MS,
      judge: (run) => {
        if (run.code === 0) return;
        const issues = run.stdout.split("\n").filter((l) => /^(Error|Warning) \[IST\d+\]/.test(l));
        throw new StepError(`istioctl x precheck found issues: ${issues.length ? issues.join("; ") : lastError(run)}`, EXIT.failed);
      },
    },
    {
      argv: ["istioctl", "install", "--context", context, "--set", "profile=demo", "-y", "--readiness-timeout", formatDuration(waitMs)],
      timeoutMs: waitMs * ISTIO_COMPONENTS + ACTION_TIMEOUT_MS,
    },
    {
      argv: kubectl(context, "wait", "--for=condition=Available", "deployment", "--all", "-n", "istio-system", `--timeout=${formatDuration(waitMs)}`),
      note: "Istio is healthy: istiod and the gateways are available",
      timeoutMs: waitMs * ISTIO_COMPONENTS + QUERY_GRACE_MS,
      judge: (run) => {
        if (run.code !== 0) throw new StepError(`Istio ${istio} is not healthy: ${lastError(run)} (kubectl --context ${context} get pods -n istio-system)`, EXIT.failed);
      },
    },
    { argv: ["kind", "load", "docker-image", ...IMAGE_NAMES, "--name", name], note: "no registry: the nodes get the images directly", timeoutMs: ACTION_TIMEOUT_MS * 2 },
    ...switchSteps(first, renders, target),
    ...waitSteps(render, target, waitMs, name),
  ];
}

export function downSteps(name: string): Step[] {
  return [{ argv: ["kind", "delete", "cluster", "--name", name], note: "succeeds when there is no such cluster too", timeoutMs: ACTION_TIMEOUT_MS }];
}

/** What a failed run needs to be understood, each command's output into its own file under `dir`. */
export function diagnoseSteps(dir: string, target: Target, renders: Renders, kindName: string | undefined): Step[] {
  const { context } = target;
  const namespace = namespaceOf([...renders.values()][0] ?? []);
  const query = (file: string, ...args: string[]): Step => ({ argv: kubectl(context, ...args), outFile: join(dir, file), timeoutMs: ACTION_TIMEOUT_MS });
  const steps: Step[] = [
    query("nodes.txt", "get", "nodes", "-o", "wide"),
    query("all.txt", "get", "all", "-A", "-o", "wide"),
    query("rules.yaml", "get", ruleResources(renders.values()).join(","), "-A", "-o", "yaml"),
    query("pods.yaml", "get", "pods", "-A", "-o", "yaml"),
    query("events.txt", "get", "events", "-A", "--sort-by=.lastTimestamp"),
    ...[namespace, "istio-system"].map((ns) => query(`logs-${ns}.txt`, "logs", "-n", ns, "-l", "app", "--all-containers", "--prefix", "--tail=-1")),
    { argv: ["istioctl", "proxy-status", ...(context ? ["--context", context] : [])], outFile: join(dir, "proxy-status.txt"), timeoutMs: ACTION_TIMEOUT_MS },
  ];
  if (kindName) steps.push({ argv: ["kind", "export", "logs", join(dir, "kind"), "--name", kindName], outFile: join(dir, "kind-export.txt"), timeoutMs: ACTION_TIMEOUT_MS });
  return steps;
}

export async function clusterCommand(argv: string[], io: CommandIo, renderAll: () => Promise<Renders> = renderLessons): Promise<number> {
  const { values, positionals } = parseCommandLine(argv, {
    ...COMMON_OPTIONS,
    name: { type: "string" },
    "build-timeout": { type: "string" },
    "node-image": { type: "string" },
    "gateway-api": { type: "string" },
    "gateway-api-channel": { type: "string" },
    out: { type: "string" },
  });
  if (values.help) {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const [sub, ...rest] = positionals;
  if (sub !== "up" && sub !== "down" && sub !== "diagnose") throw new UsageError(sub === undefined ? "say up, down or diagnose" : `unknown subcommand "${sub}": say up, down or diagnose`);
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0]}"`);
  const name = values.name ?? DEFAULT_CLUSTER;
  if (!CLUSTER_NAME.test(name) || name.length > 50) throw new UsageError(`--name "${name}" is not a kind cluster name (lower-case letters, digits, . and -)`);
  const gatewayApi = values["gateway-api"] ?? DEFAULT_GATEWAY_API;
  if (!GATEWAY_API_VERSION.test(gatewayApi)) throw new UsageError(`--gateway-api "${gatewayApi}": expected a release such as ${DEFAULT_GATEWAY_API}`);
  const onlyFor = (flag: string, value: unknown, subs: string[]) => {
    if (value !== undefined && !subs.includes(sub)) throw new UsageError(`--${flag} is for ${subs.join(" and ")}, not ${sub}`);
  };
  onlyFor("build-timeout", values["build-timeout"], ["up"]);
  onlyFor("node-image", values["node-image"], ["up"]);
  onlyFor("gateway-api", values["gateway-api"], ["up"]);
  onlyFor("gateway-api-channel", values["gateway-api-channel"], ["up"]);
  const channel = values["gateway-api-channel"] ?? GATEWAY_API_CHANNELS[0];
  if (!(GATEWAY_API_CHANNELS as readonly string[]).includes(channel)) throw new UsageError(`--gateway-api-channel "${channel}": expected ${GATEWAY_API_CHANNELS.join(" or ")}`);
  onlyFor("wait", values.wait, ["up"]);
  onlyFor("out", values.out, ["diagnose"]);
  onlyFor("context", values.context, ["diagnose"]);
  if (values.out === "") throw new UsageError("--out needs a folder");
  const context = contextOption(values.context);
  const options: ClusterOptions = {
    name,
    target: { context: context ?? kindContext(name), requestTimeoutMs: durationOption("request-timeout", values["request-timeout"], LIMITS.requestTimeout) },
    waitMs: durationOption("wait", values.wait, LIMITS.wait),
    buildTimeoutMs: durationOption("build-timeout", values["build-timeout"], LIMITS.buildTimeout),
    nodeImage: values["node-image"],
    gatewayApi,
    gatewayApiChannel: channel as GatewayApiChannel,
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
      io.out(`\ncluster ${name} is up (kubectl context ${options.target.context}), with Istio's demo profile and lesson ${LESSONS[0]}; every pod is 2/2.
next: npm run verify -- ${LESSONS[0]}    then: npm run lesson -- ${LESSONS[1] ?? LESSONS[0]}    at the end: npm run cluster -- down${name === DEFAULT_CLUSTER ? "" : ` --name ${name}`}\n`);
    }
    return EXIT.ok;
  });
}

if (import.meta.main) await runCommand("cluster", USAGE, (argv) => clusterCommand(argv, processIo()));
