// Runs a Deployment's pods as local processes: one `node dist/flaskapp.js` per
// replica, on a free 127.0.0.1 port, with the environment its manifest gives
// the container (downward-API fields filled with the fake pod's values).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import type { K8sObject } from "../kustomize.ts";
import type { RequestLogLine } from "../checks.ts";
import { RuleError } from "./rules.ts";

/** The image our flaskapp Deployments run; any registry prefix and tag are accepted. */
export const FLASKAPP_IMAGE = "istio-lessons/flaskapp";

export interface PodSpec {
  deployment: string;
  namespace: string;
  labels: Record<string, string>;
  /** The container's environment from the manifest, downward-API fields unresolved. */
  env: Array<{ name: string; value?: string; fieldPath?: string }>;
}

function isFlaskapp(image: unknown): boolean {
  return typeof image === "string" && image.replace(/[:@].*$/, "").replace(/^.*?(?=istio-lessons\/)/, "") === FLASKAPP_IMAGE;
}

/** The flaskapp Deployments of a render, one PodSpec per replica. Other Deployments (sleep) are skipped: the local tally plays the client. */
export function flaskappPods(objects: K8sObject[]): PodSpec[] {
  return objects
    .filter((o) => o.kind === "Deployment")
    .flatMap((deployment) => {
      const where = `Deployment ${deployment.metadata.name}`;
      const template = deployment.spec?.template;
      const containers: any[] = template?.spec?.containers ?? [];
      const container = containers.find((c) => isFlaskapp(c.image));
      if (!container) return [];
      if (container.envFrom !== undefined) throw new RuleError(`${where}: envFrom is not modelled by the mesh preview`);
      const env = (container.env ?? []).map((e: any, i: number) => {
        const at = `${where}: env[${i}] (${e.name})`;
        if (e.value !== undefined) return { name: e.name, value: String(e.value) };
        const fieldPath = e.valueFrom?.fieldRef?.fieldPath;
        if (typeof fieldPath !== "string") throw new RuleError(`${at}: only value and valueFrom.fieldRef are modelled by the mesh preview`);
        return { name: e.name, fieldPath };
      });
      const replicas = deployment.spec?.replicas ?? 1;
      const spec: PodSpec = {
        deployment: deployment.metadata.name,
        namespace: deployment.metadata.namespace ?? "default",
        labels: { ...(template?.metadata?.labels ?? {}) },
        env,
      };
      return Array.from({ length: replicas }, () => spec);
    });
}

/** A pod name the way a ReplicaSet makes one: deployment-hash-suffix. */
export function fakePodName(deployment: string): string {
  const alphabet = "bcdfghjklmnpqrstvwxz2456789";
  const pick = (n: number) => Array.from(randomBytes(n), (b) => alphabet[b % alphabet.length]).join("");
  return `${deployment}-${pick(10)}-${pick(5)}`;
}

/** Fills a downward-API field for a local pod; throws for a field the preview cannot fill. */
export function downwardValue(fieldPath: string, pod: { name: string; namespace: string; labels: Record<string, string> }): string {
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

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const KEPT_LINES = 20_000;

const running = new Set<ChildProcess>();

/** How many local pod processes are running in this program. */
export function runningPodCount(): number {
  return running.size;
}

/** Kills every local pod still running, at once: for a program interrupted before it could stop its mesh. */
export function killAllPods(): void {
  for (const child of running) child.kill("SIGKILL");
}

export class LocalPod {
  readonly name: string;
  readonly deployment: string;
  readonly labels: Record<string, string>;
  readonly url: string;
  readonly process: ChildProcess;
  /** Parsed request-log lines, newest last (bounded). */
  readonly requests: RequestLogLine[] = [];
  /** The last lines of output, for error messages. */
  readonly output: string[] = [];
  readonly exited: Promise<number | null>;

  private constructor(spec: PodSpec, name: string, port: number, child: ChildProcess) {
    this.name = name;
    this.deployment = spec.deployment;
    this.labels = spec.labels;
    this.url = `http://127.0.0.1:${port}`;
    this.process = child;
    this.exited = new Promise((resolve) => child.once("exit", (code) => resolve(code)));
    let partial = "";
    const onData = (chunk: Buffer) => {
      const lines = (partial + chunk.toString("utf8")).split("\n");
      partial = lines.pop()!;
      for (const line of lines) this.#line(line);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
  }

  #line(line: string): void {
    this.output.push(line);
    if (this.output.length > 50) this.output.shift();
    if (!line.startsWith("{")) return;
    try {
      const entry = JSON.parse(line) as RequestLogLine;
      if (entry.msg === "request") {
        this.requests.push(entry);
        if (this.requests.length > KEPT_LINES) this.requests.shift();
      }
    } catch {
      // not a JSON log line: kept in `output` only
    }
  }

  static async start(spec: PodSpec, options: { bundle: string; shutdownDelay: string }): Promise<LocalPod> {
    const name = fakePodName(spec.deployment);
    const port = await freePort();
    // The container runtime sets HOSTNAME to the pod name; the manifest's env comes on top.
    const env: Record<string, string> = { PATH: process.env.PATH ?? "", HOSTNAME: name };
    for (const e of spec.env) {
      env[e.name] = e.value ?? downwardValue(e.fieldPath!, { name, namespace: spec.namespace, labels: spec.labels });
    }
    Object.assign(env, { HOST: "127.0.0.1", PORT: String(port), SHUTDOWN_DELAY: options.shutdownDelay });
    const child = spawn(process.execPath, [options.bundle], { env, stdio: ["ignore", "pipe", "pipe"] });
    running.add(child);
    child.once("exit", () => running.delete(child));
    return new LocalPod(spec, name, port, child);
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
