// A kind cluster with Istio and the first lesson, as plan steps: `up` builds the images,
// creates the cluster, installs the Gateway API CRDs and Istio, loads the images and
// applies the first lesson; `down` deletes it; `diagnose` saves what a failed run needs.
import { join } from "node:path";
import { formatDuration } from "#common/duration.ts";
import { LESSONS } from "../catalog/lessons.ts";
import { dockerBuildCommand, IMAGE_NAMES, IMAGES } from "../core/images.ts";
import { kubectl, renderNamespace } from "../core/kubectl.ts";
import { ACTION_TIMEOUT_MS, QUERY_GRACE_MS, type KubeTarget } from "./kube.ts";
import { switchSteps, waitSteps, type Renders } from "./lesson-steps.ts";
import { ambientAgentsStep, ambientInstallArgv, FIRST_AMBIENT_LESSON } from "./ambient.ts";
import { EXIT, failedMessage, lastError, StepError, type Step } from "./plan.ts";
import { ruleResources } from "./rules.ts";
import { findRelease, supportsKubernetes } from "../mesh/releases.ts";
import {
  DEFAULT_GATEWAY_API,
  gatewayApiCrdsUrl,
  gatewayApiFor,
  istioSupport,
  KIND_NODE_IMAGE,
  nodeImageKubernetes,
  SAFE_UPGRADES_DENIAL,
  SUPPORTED_ISTIO,
  type GatewayApiChannel,
  type Tool,
} from "./tools.ts";

export const DEFAULT_CLUSTER = "istio-lessons";
/** kind's rule for cluster names. */
export const CLUSTER_NAME = /^[a-z0-9.-]+$/;
export const GATEWAY_API_VERSION = /^v\d+\.\d+\.\d+$/;
/** Node images take a while to pull the first time: kind create may take this much longer than its --wait. */
export const KIND_CREATE_GRACE_MS = 10 * 60_000;
/** istioctl install waits for each component in turn (istiod and two gateways in the demo profile, plus the CRDs). */
const ISTIO_COMPONENTS = 4;
export const DEFAULT_DIAGNOSE_DIR = "cluster-diagnostics";

export interface ClusterOptions {
  name: string;
  target: KubeTarget & { context: string };
  waitMs: number;
  buildTimeoutMs: number;
  nodeImage?: string | undefined;
  /** The Gateway API CRD release; undefined: the one the learner's istioctl is built against. */
  gatewayApi?: string | undefined;
  gatewayApiChannel: GatewayApiChannel;
  /** Istio's ambient profile (ztunnel and the CNI agent, no sidecars) and the first ambient lesson, instead of the demo profile. */
  ambient?: boolean;
}

/** The tools a subcommand runs; a missing one is reported before anything runs. */
export const TOOLS_NEEDED: Record<"up" | "down" | "diagnose", Tool[]> = {
  up: ["kind", "istioctl", "docker", "kubectl"],
  down: ["kind"],
  diagnose: ["kubectl"],
};

export function kindContext(name: string): string {
  return `kind-${name}`;
}

/** Every command of `up`, in order. */
export function upSteps(options: ClusterOptions, renders: Renders, say: (text: string) => void): Step[] {
  const { name, target, waitMs } = options;
  const context = target.context;
  let exists = false;
  let istio = "";
  const first = options.ambient ? FIRST_AMBIENT_LESSON : LESSONS[0];
  const render = renders.get(first)!;
  const nodeImage = options.nodeImage ?? KIND_NODE_IMAGE;
  const crds = (version: string) =>
    kubectl(context, "apply", "--server-side", "-f", gatewayApiCrdsUrl(version, options.gatewayApiChannel));
  const crdNote = (version: string, why: string) =>
    `the Gateway API CRDs ${version} (${options.gatewayApiChannel} channel, ${why}), for the Gateway API lessons`;
  let gatewayApi = options.gatewayApi ?? DEFAULT_GATEWAY_API;
  const crdStep: Step = {
    argv: crds(gatewayApi),
    note: crdNote(gatewayApi, options.gatewayApi ? "as asked" : "the release your istioctl's Istio is built against"),
    timeoutMs: ACTION_TIMEOUT_MS,
    judge: (run) => {
      if (run.code === 0) return;
      if (SAFE_UPGRADES_DENIAL.test(run.stderr + run.stdout)) {
        // The cluster was used with a newer Gateway API (v1.5+), whose admission policy refuses
        // older CRDs. Those newer CRDs still serve the v1 kinds the lessons use: go on, and say so.
        say(
          `note: this cluster keeps the Gateway API CRDs of a newer release than ${gatewayApi}: their safe-upgrades admission policy (since Gateway API v1.5.0) refuses older CRDs. The lessons' kinds are served all the same; to pair them exactly with Istio ${istio || "your istioctl"}, start afresh: npm run cluster -- down, then up\n`,
        );
        return;
      }
      throw new StepError(failedMessage(crdStep.argv, run), EXIT.failed);
    },
  };
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
        if (run.code !== 0 || typeof version !== "string")
          throw new StepError(`istioctl version failed: ${lastError(run)}`, EXIT.failed);
        const support = istioSupport(version);
        if (!support.ok) throw new StepError(support.message, EXIT.failed);
        istio = version;
        say(`istioctl ${version}${support.note ? `: ${support.note}` : ""}\n`);
        const release = findRelease(version);
        const kubernetes = nodeImageKubernetes(nodeImage);
        if (release && kubernetes && !supportsKubernetes(release, kubernetes)) {
          say(
            `note: Istio ${release.version} supports Kubernetes ${release.kubernetes.min} to ${release.kubernetes.max}, and the node image ${nodeImage} is Kubernetes ${kubernetes}: pick another with --node-image\n`,
          );
        }
        if (!options.gatewayApi) {
          gatewayApi = gatewayApiFor(version);
          crdStep.argv = crds(gatewayApi);
          crdStep.note = crdNote(gatewayApi, `the release Istio ${version} is built against`);
        }
      },
    },
    {
      argv: ["docker", "info", "--format", "{{.ServerVersion}}"],
      note: "the Docker engine answers",
      quiet: true,
      timeoutMs: QUERY_GRACE_MS,
      judge: (run) => {
        if (run.code !== 0 || !run.stdout.trim())
          throw new StepError(
            `docker is installed, but its engine does not answer (${lastError(run)}): start Docker`,
            EXIT.missingTool,
          );
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
        exists = run.stdout
          .split("\n")
          .map((l) => l.trim())
          .includes(name);
      },
    },
    {
      argv: ["kind", "create", "cluster", "--name", name, "--wait", formatDuration(waitMs), "--image", nodeImage],
      note: `skipped when kind get clusters lists ${name}`,
      timeoutMs: waitMs + KIND_CREATE_GRACE_MS,
      skip: () => (exists ? `cluster ${name} exists: reusing it` : undefined),
    },
    {
      argv: ["kind", "export", "kubeconfig", "--name", name],
      note: `the kubectl context ${context}, current (for a reused cluster too)`,
      timeoutMs: QUERY_GRACE_MS,
    },
    crdStep,
    {
      argv: ["istioctl", "x", "precheck", "--context", context],
      note: "can Istio be installed here?",
      timeoutMs: ACTION_TIMEOUT_MS,
      judge: (run) => {
        if (run.code === 0) return;
        const issues = run.stdout.split("\n").filter((l) => /^(Error|Warning) \[IST\d+\]/.test(l));
        throw new StepError(
          `istioctl x precheck found issues: ${issues.length ? issues.join("; ") : lastError(run)}`,
          EXIT.failed,
        );
      },
    },
    {
      argv: options.ambient
        ? ambientInstallArgv(context, waitMs)
        : [
            "istioctl",
            "install",
            "--context",
            context,
            "--set",
            "profile=demo",
            "-y",
            "--readiness-timeout",
            formatDuration(waitMs),
          ],
      timeoutMs: waitMs * ISTIO_COMPONENTS + ACTION_TIMEOUT_MS,
    },
    {
      argv: kubectl(
        context,
        "wait",
        "--for=condition=Available",
        "deployment",
        "--all",
        "-n",
        "istio-system",
        `--timeout=${formatDuration(waitMs)}`,
      ),
      note: "Istio is healthy: istiod and the gateways are available",
      timeoutMs: waitMs * ISTIO_COMPONENTS + QUERY_GRACE_MS,
      judge: (run) => {
        if (run.code !== 0)
          throw new StepError(
            `Istio ${istio} is not healthy: ${lastError(run)} (kubectl --context ${context} get pods -n istio-system)`,
            EXIT.failed,
          );
      },
    },
    ...(options.ambient ? [ambientAgentsStep(context, waitMs)] : []),
    {
      argv: ["kind", "load", "docker-image", ...IMAGE_NAMES, "--name", name],
      note: "no registry: the nodes get the images directly",
      timeoutMs: ACTION_TIMEOUT_MS * 2,
    },
    ...switchSteps(first, renders, target),
    ...waitSteps(render, target, waitMs, name),
  ];
}

export function downSteps(name: string): Step[] {
  return [
    {
      argv: ["kind", "delete", "cluster", "--name", name],
      note: "succeeds when there is no such cluster too",
      timeoutMs: ACTION_TIMEOUT_MS,
    },
  ];
}

/** What a failed run needs to be understood, each command's output into its own file under `dir`. */
export function diagnoseSteps(dir: string, target: KubeTarget, renders: Renders, kindName: string | undefined): Step[] {
  const { context } = target;
  const namespace = renderNamespace([...renders.values()][0] ?? []);
  const query = (file: string, ...args: string[]): Step => ({
    argv: kubectl(context, ...args),
    outFile: join(dir, file),
    timeoutMs: ACTION_TIMEOUT_MS,
  });
  const steps: Step[] = [
    query("nodes.txt", "get", "nodes", "-o", "wide"),
    query("all.txt", "get", "all", "-A", "-o", "wide"),
    query("rules.yaml", "get", ruleResources(renders.values()).join(","), "-A", "-o", "yaml"),
    query("pods.yaml", "get", "pods", "-A", "-o", "yaml"),
    query("events.txt", "get", "events", "-A", "--sort-by=.lastTimestamp"),
    ...[namespace, "istio-system"].map((ns) =>
      query(`logs-${ns}.txt`, "logs", "-n", ns, "-l", "app", "--all-containers", "--prefix", "--tail=-1"),
    ),
    {
      argv: ["istioctl", "proxy-status", ...(context ? ["--context", context] : [])],
      outFile: join(dir, "proxy-status.txt"),
      timeoutMs: ACTION_TIMEOUT_MS,
    },
  ];
  if (kindName)
    steps.push({
      argv: ["kind", "export", "logs", join(dir, "kind"), "--name", kindName],
      outFile: join(dir, "kind-export.txt"),
      timeoutMs: ACTION_TIMEOUT_MS,
    });
  return steps;
}
