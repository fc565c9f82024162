// The workloads of a render, and flaskapp's pods run as local processes: one
// `node <flaskapp's V8 flags> dist/flaskapp.js` per replica on port 0 (its port read from the
// `listening` line it logs), with the environment its manifest gives the
// container (downward-API fields filled with the fake pod's values).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { Children } from "../core/children.ts";
import type { K8sObject } from "../core/kustomize.ts";
import type { RequestLogLine } from "../core/request-log.ts";
import { FLASKAPP_IMAGE, SLEEP_IMAGE } from "../core/images.ts";
import { RuleError, type Labels } from "./model.ts";
import { LAUNCH } from "#flaskapp/launch.ts";
import { SETTING_NAMES } from "#flaskapp/config.ts";
import { visibleLine } from "#common/visible-text.ts";

// The images our Deployments run, by repository: any registry prefix and tag are accepted.
const FLASKAPP = FLASKAPP_IMAGE.repository;
const SLEEP = SLEEP_IMAGE.repository;

export interface PreviewWorkload {
  deployment: string;
  namespace: string;
  labels: Labels;
  serviceAccount: string;
  replicas: number;
  role: "flaskapp" | "sleep";
  /** The flaskapp container's environment from the manifest that the local processes get (see previewEnv), downward-API fields unresolved. */
  env: Array<{ name: string; value?: string; fieldPath?: string }>;
  /** Names of the manifest's env left out of the local processes: neither a flaskapp setting nor read by a check. */
  dropped: string[];
}

/** The most replicas a Deployment may ask of the preview, and the most flaskapp pods it runs in all (each is a process and a proxy). */
export const REPLICA_LIMITS = { perDeployment: 8, total: 16 } as const;

/**
 * Variables that change how Node, V8, libuv, OpenSSL, glibc or the dynamic loader behave, not
 * flaskapp: NODE_OPTIONS=--import=data:… runs any code, --inspect opens a debugger, LD_PRELOAD
 * loads a library, GLIBC_TUNABLES and GCONV_PATH reach glibc, OPENSSL_CONF loads modules,
 * SSLKEYLOGFILE writes files, the proxy variables redirect traffic. A lesson has no use for
 * them, so an overlay that sets one is refused, not quietly trimmed.
 */
const RUNTIME_VARIABLE =
  /^(NODE_|LD_|UV_|OPENSSL_|MALLOC_|GLIBC_|GCONV_|SSL_|V8_|LC_)|^(PATH|HOME|TMPDIR|TMP|TEMP|LANG|LANGUAGE|LOCPATH|NLSPATH|TZ|TZDIR|HOSTALIASES|RES_OPTIONS|LOCALDOMAIN|RESOLV_HOST_CONF|SSLKEYLOGFILE|HTTP_PROXY|HTTPS_PROXY|NO_PROXY|ALL_PROXY|FORCE_COLOR|NO_COLOR)$/i;

/** Of `names`, those that change how the runtime or the loader behaves (RUNTIME_VARIABLE). */
export function runtimeVariables(names: readonly string[]): string[] {
  return [...new Set(names.filter((name) => RUNTIME_VARIABLE.test(name)))];
}

/**
 * Which of a flaskapp container's env the local processes get: flaskapp's own settings
 * (SETTING_NAMES), the names its ENV_ALLOW lists (what /env may reveal) and the names the
 * lesson's checks read through /env; the rest is dropped and reported (not refused: flaskapp
 * never reads such a variable, so on a cluster it is harmless, and a playground may carry one
 * for its own notes). A variable of the runtime or the loader is an error naming it, whatever
 * lists it.
 */
export function previewEnv(
  where: string,
  env: PreviewWorkload["env"],
  checkEnvNames: Iterable<string>,
): Pick<PreviewWorkload, "env" | "dropped"> {
  const refused = runtimeVariables(env.map((e) => e.name));
  if (refused.length > 0) {
    throw new RuleError(
      `${where}: env ${refused.map(visibleLine).join(", ")} would change how Node or the loader runs, not flaskapp: the mesh preview gives its pods only flaskapp's own settings and the variables the checks read`,
    );
  }
  const envAllow =
    env
      .find((e) => e.name === "ENV_ALLOW")
      ?.value?.split(",")
      .map((name) => name.trim()) ?? [];
  const allowed = new Set<string>([...SETTING_NAMES, ...envAllow, ...checkEnvNames]);
  return {
    env: env.filter((e) => allowed.has(e.name)),
    dropped: [...new Set(env.filter((e) => !allowed.has(e.name)).map((e) => e.name))],
  };
}

/** A Deployment's spec.replicas (1 when unset), an integer from 0 to REPLICA_LIMITS.perDeployment. */
function replicasOf(where: string, replicas: unknown): number {
  if (replicas === undefined || replicas === null) return 1;
  if (
    typeof replicas !== "number" ||
    !Number.isInteger(replicas) ||
    replicas < 0 ||
    replicas > REPLICA_LIMITS.perDeployment
  ) {
    throw new RuleError(
      `${where}: spec.replicas: expected an integer from 0 to ${REPLICA_LIMITS.perDeployment} (the mesh preview's cap per Deployment), got ${visibleLine(JSON.stringify(replicas) ?? String(replicas))}`,
    );
  }
  return replicas;
}

/** Which of our repositories an image reference is, whatever its registry (`registry:5000/istio-lessons/flaskapp:0.1.0`), tag or digest; "" for another image. */
function imageName(image: unknown): string {
  if (typeof image !== "string") return "";
  const repository = image.replace(/@.*$/, "").replace(/:[^/]*$/, "");
  return [FLASKAPP, SLEEP].find((ours) => repository === ours || repository.endsWith(`/${ours}`)) ?? "";
}

/**
 * The Deployments of a render the preview can run: flaskapp's (as local pods) and sleep's
 * (played by tally). `checkEnvNames`: the variables the lesson's checks read through /env.
 */
export function workloads(objects: K8sObject[], checkEnvNames: Iterable<string> = []): PreviewWorkload[] {
  const checkNames = [...checkEnvNames];
  const found: PreviewWorkload[] = objects
    .filter((o) => o.kind === "Deployment")
    .map((deployment) => {
      const where = `Deployment ${deployment.metadata.name}`;
      const template = deployment.spec?.template;
      const containers: any[] = template?.spec?.containers ?? [];
      const images = containers.map((c) => imageName(c.image));
      const role = images.includes(FLASKAPP) ? "flaskapp" : images.includes(SLEEP) ? "sleep" : undefined;
      if (!role)
        throw new RuleError(
          `${where}: runs ${containers.map((c) => c.image).join(", ")}; the mesh preview runs only ${FLASKAPP} and ${SLEEP}`,
        );
      const container = containers[images.indexOf(role === "flaskapp" ? FLASKAPP : SLEEP)];
      if (role === "flaskapp" && container.envFrom !== undefined)
        throw new RuleError(`${where}: envFrom is not modelled by the mesh preview`);
      const env =
        role === "sleep"
          ? []
          : (container.env ?? []).map((e: any, i: number) => {
              const at = `${where}: env[${i}] (${e.name})`;
              if (e.value !== undefined) return { name: e.name, value: String(e.value) };
              const fieldPath = e.valueFrom?.fieldRef?.fieldPath;
              if (typeof fieldPath !== "string")
                throw new RuleError(`${at}: only value and valueFrom.fieldRef are modelled by the mesh preview`);
              return { name: e.name, fieldPath };
            });
      return {
        deployment: deployment.metadata.name,
        namespace: deployment.metadata.namespace ?? "default",
        labels: { ...(template?.metadata?.labels ?? {}) },
        serviceAccount: template?.spec?.serviceAccountName ?? "default",
        replicas: replicasOf(where, deployment.spec?.replicas),
        role,
        ...previewEnv(where, env, checkNames),
      };
    });
  const pods = found.filter((w) => w.role === "flaskapp").reduce((sum, w) => sum + w.replicas, 0);
  if (pods > REPLICA_LIMITS.total) {
    throw new RuleError(
      `spec.replicas: the flaskapp Deployments ask for ${pods} pods in all; the mesh preview runs at most ${REPLICA_LIMITS.total}`,
    );
  }
  return found;
}

/** A pod name the way a ReplicaSet makes one: deployment-hash-suffix. */
export function fakePodName(deployment: string): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  const pick = (n: number) => Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join("");
  return `${deployment}-${pick(10)}-${pick(5)}`;
}

/** Fills a downward-API field for a local pod; throws for a field the preview cannot fill. */
export function downwardValue(
  fieldPath: string,
  pod: { name: string; namespace: string; labels: Record<string, string> },
): string {
  const label = /^metadata\.labels\['(.+)'\]$/.exec(fieldPath);
  if (label) return pod.labels[label[1]!] ?? "";
  switch (fieldPath) {
    case "metadata.name":
      return pod.name;
    case "metadata.namespace":
      return pod.namespace;
    case "status.podIP":
    case "status.hostIP":
      return "127.0.0.1";
    case "spec.nodeName":
      return "localhost";
    default:
      throw new RuleError(`downward-API field ${fieldPath} is not modelled by the mesh preview`);
  }
}

const KEPT_LINES = 20_000;
const KEPT_OUTPUT = 50;

const pods = new Children();

/** How many local pod processes are running in this program. */
export function runningPodCount(): number {
  return pods.count;
}

/** Kills every local pod still running, at once: for a program interrupted before it could stop its mesh. */
export function killAllPods(): void {
  pods.killAll();
}

export interface PodOptions {
  bundle: string;
  shutdownDelay: string;
  /** Variables set on top of the manifest's (FETCH_PROXY: the pod's sidecar). */
  extraEnv?: Record<string, string>;
  /** How long the process may take to log `listening`. */
  startTimeoutMs: number;
}

export class LocalPod {
  readonly name: string;
  readonly deployment: string;
  readonly namespace: string;
  readonly labels: Labels;
  readonly serviceAccount: string;
  readonly process: ChildProcess;
  /** Parsed request-log lines, newest last (bounded). */
  readonly requests: RequestLogLine[] = [];
  /** The last lines of output, for error messages. */
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;
  #port: Promise<number>;
  url = "";

  private constructor(workload: PreviewWorkload, name: string, child: ChildProcess, startTimeoutMs: number) {
    this.name = name;
    this.deployment = workload.deployment;
    this.namespace = workload.namespace;
    this.labels = workload.labels;
    this.serviceAccount = workload.serviceAccount;
    this.process = child;
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    let resolvePort: (port: number) => void = () => undefined;
    let rejectPort: (error: Error) => void = () => undefined;
    this.#port = new Promise<number>((resolve, reject) => {
      resolvePort = resolve;
      rejectPort = reject;
    });
    const timer = setTimeout(
      () =>
        rejectPort(
          new Error(`pod ${name} did not start listening within ${startTimeoutMs} ms:\n${this.output.join("\n")}`),
        ),
      startTimeoutMs,
    );
    void this.exited.then((code) =>
      rejectPort(new Error(`pod ${name} exited with code ${code} before it was ready:\n${this.output.join("\n")}`)),
    );
    this.#port.then(
      () => clearTimeout(timer),
      () => clearTimeout(timer),
    );
    this.#port.catch(() => undefined);
    let partial = "";
    const onData = (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop()!;
      for (const line of lines) this.#line(line, resolvePort);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
  }

  #line(line: string, onListening: (port: number) => void): void {
    this.output.push(line);
    if (this.output.length > KEPT_OUTPUT) this.output.shift();
    if (!line.startsWith("{")) return;
    try {
      const entry = JSON.parse(line) as RequestLogLine & { port?: unknown };
      if (entry.msg === "request") {
        this.requests.push(entry);
        if (this.requests.length > KEPT_LINES) this.requests.shift();
      } else if (entry.msg === "listening" && typeof entry.port === "number") {
        onListening(entry.port);
      }
    } catch {
      // not a JSON log line: kept in `output` only
    }
  }

  /** Starts a replica of `workload` on port 0 and resolves once it has logged the port it listens on. */
  static async start(workload: PreviewWorkload, options: PodOptions): Promise<LocalPod> {
    const name = fakePodName(workload.deployment);
    // The container runtime sets HOSTNAME to the pod name; the manifest's env comes on top.
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOSTNAME: name };
    for (const e of workload.env) {
      env[e.name] =
        e.value ?? downwardValue(e.fieldPath!, { name, namespace: workload.namespace, labels: workload.labels });
    }
    Object.assign(env, { HOST: "127.0.0.1", PORT: "0", SHUTDOWN_DELAY: options.shutdownDelay }, options.extraEnv);
    // The manifest's probe listener port would be taken by the second pod: each gets a free one (the preview polls /readyz on the app's port).
    if (env.PROBE_PORT !== undefined) env.PROBE_PORT = "0";
    // With flaskapp's V8 flags, as the image starts it, so it starts from the build's code cache.
    const child = pods.track(
      spawn(process.execPath, [...LAUNCH.nodeFlags, options.bundle], { env, stdio: ["ignore", "pipe", "pipe"] }),
    );
    const pod = new LocalPod(workload, name, child, options.startTimeoutMs);
    try {
      pod.url = `http://127.0.0.1:${await pod.#port}`;
    } catch (error) {
      child.kill("SIGKILL");
      await pod.exited;
      throw error;
    }
    return pod;
  }

  /** SIGTERM, as the kubelet sends; resolves with the exit code (SIGKILL after `graceMs`, like terminationGracePeriodSeconds). */
  async stop(graceMs = 10_000): Promise<number | null> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return this.process.exitCode;
    this.process.kill("SIGTERM");
    const timer = setTimeout(() => this.process.kill("SIGKILL"), graceMs);
    const code = await this.exited;
    clearTimeout(timer);
    return code;
  }
}
