// The mesh preview: a rendered overlay brought up on this machine. flaskapp
// pods run as local processes, and a routing proxy on 127.0.0.1 stands where
// the client's sidecar would be, applying the overlay's Istio rules for the
// Service. A local model for learning and previewing rules, not Istio.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { K8sObject } from "../kustomize.ts";
import { flaskappPods, LocalPod, type PodSpec } from "./pods.ts";
import type { RequestLogLine } from "../checks.ts";
import { labelsMatch } from "./policy.ts";
import { MeshProxy } from "./proxy.ts";
import { RuleError, serviceRules } from "./rules.ts";

export const FLASKAPP_BUNDLE = fileURLToPath(new URL("../../../dist/flaskapp.js", import.meta.url));

export interface MeshOptions {
  bundle?: string;
  /** flaskapp's SHUTDOWN_DELAY for local pods (the manifest's is sized for a cluster). */
  shutdownDelay?: string;
  readinessIntervalMs?: number;
  /** How long a pod may take to become ready. */
  startTimeoutMs?: number;
}

export class Mesh {
  readonly service: string;
  readonly proxy: MeshProxy;
  readonly pods: LocalPod[] = [];
  readonly #specs: PodSpec[];
  readonly #options: Required<MeshOptions>;

  private constructor(service: string, proxy: MeshProxy, specs: PodSpec[], options: Required<MeshOptions>) {
    this.service = service;
    this.proxy = proxy;
    this.#specs = specs;
    this.#options = options;
  }

  get url(): string {
    return this.proxy.url;
  }

  /**
   * Starts the pods of every flaskapp Deployment and the proxy for the Service
   * that selects them. Throws RuleError for a rule or manifest the model cannot
   * run, before starting anything.
   */
  static async start(objects: K8sObject[], options: MeshOptions = {}): Promise<Mesh> {
    const opts: Required<MeshOptions> = { bundle: FLASKAPP_BUNDLE, shutdownDelay: "500ms", readinessIntervalMs: 100, startTimeoutMs: 15_000, ...options };
    if (!existsSync(opts.bundle)) throw new Error(`${opts.bundle} is missing: run \`npm run build\` first`);
    const specs = flaskappPods(objects);
    if (specs.length === 0) throw new RuleError("the overlay has no flaskapp Deployment");
    const services = objects.filter(
      (o) => o.kind === "Service" && o.spec?.selector && specs.some((p) => labelsMatch(o.spec.selector, p.labels)),
    );
    if (services.length !== 1) {
      throw new RuleError(`expected one Service selecting the flaskapp pods, found ${services.length} (${services.map((s) => s.metadata.name).join(", ")})`);
    }
    const service = services[0]!;
    const rules = serviceRules(objects, service.metadata.name);
    const proxy = new MeshProxy({ selector: service.spec.selector, rules, readinessIntervalMs: opts.readinessIntervalMs });
    await proxy.listen();
    const mesh = new Mesh(service.metadata.name, proxy, specs, opts);
    try {
      await Promise.all(specs.map((spec) => mesh.#startPod(spec)));
    } catch (error) {
      await mesh.stop();
      throw error;
    }
    return mesh;
  }

  async #startPod(spec: PodSpec): Promise<LocalPod> {
    const pod = await LocalPod.start(spec, { bundle: this.#options.bundle, shutdownDelay: this.#options.shutdownDelay });
    this.pods.push(pod);
    this.proxy.addEndpoint({ id: pod.name, url: pod.url, labels: pod.labels });
    void pod.exited.then(() => this.proxy.removeEndpoint(pod.name));
    const exitedEarly = pod.exited.then((code) => {
      throw new Error(`pod ${pod.name} exited with code ${code} before it was ready:\n${pod.output.join("\n")}`);
    });
    exitedEarly.catch(() => undefined); // only the race below reports it
    await Promise.race([this.proxy.waitReady(pod.name, this.#options.startTimeoutMs), exitedEarly]);
    return pod;
  }

  /** Starts one more pod of `deployment` (a replacement, as a ReplicaSet would) and waits until it is ready. */
  async startReplacement(deployment: string): Promise<LocalPod> {
    const spec = this.#specs.find((s) => s.deployment === deployment);
    if (!spec) throw new Error(`no flaskapp Deployment named ${deployment}`);
    return this.#startPod(spec);
  }

  /** Request-log lines of a Deployment's pods. */
  requestLogs(deployment: string): RequestLogLine[] {
    return this.pods.filter((p) => p.deployment === deployment).flatMap((p) => p.requests);
  }

  /** The local URL for a URL the sleep pod would call (http://<service>/path). */
  localUrl(url: string): string {
    const parsed = new URL(url);
    if (parsed.hostname.split(".")[0] !== this.service) throw new Error(`the preview serves Service ${this.service}, not ${parsed.hostname}`);
    return `${this.url}${parsed.pathname}${parsed.search}`;
  }

  async stop(): Promise<void> {
    await Promise.all(this.pods.map((p) => p.stop()));
    await this.proxy.close();
  }
}
