// The mesh preview: a rendered overlay brought up on this machine. flaskapp
// pods run as local processes, each with a sidecar proxy for its own outbound
// calls (its FETCH_PROXY); the sleep client (tally) calls through a sidecar of
// its own; an Istio Gateway gets an ingress gateway proxy; hosts outside the
// cluster are played by one local server. A local model for learning and
// previewing rules, not Istio: docs/mesh-preview.md says what it models and why.
import { existsSync } from "node:fs";
import { FLASKAPP_BUNDLE } from "../core/paths.ts";
import { labelsMatch, type K8sObject } from "../core/kustomize.ts";
import type { RequestLogLine } from "../core/request-log.ts";
import { meshConfig } from "./config.ts";
import { RuleError, type MeshConfig, type MeshService } from "./model.ts";
import { Endpoints } from "./endpoints.ts";
import { OutsideWorld } from "./outside.ts";
import { LocalPod, workloads, type PreviewWorkload } from "./pods.ts";
import { MeshProxy, type Decision } from "./proxy.ts";
import { NEWEST_RELEASE, type IstioRelease } from "./releases.ts";
import { findService } from "./routing.ts";
import { ambientPlan, isAmbient, servedBy, waypointConfig, type AmbientPlan } from "./ambient.ts";
import { Ztunnel } from "./ztunnel.ts";

/** Decisions kept for explanations; older ones are dropped. */
const KEPT_DECISIONS = 100_000;

export interface MeshOptions {
  bundle?: string;
  /** flaskapp's SHUTDOWN_DELAY for local pods (the manifest's is sized for a cluster). */
  shutdownDelay?: string;
  readinessIntervalMs?: number;
  /** How long a pod may take to become ready. */
  startTimeoutMs?: number;
  /** The Istio release whose defaults the preview applies. */
  release?: IstioRelease;
  random?: () => number;
  /** The variables the lesson's checks read through /env: the local pods get them from the manifest's env too (see previewEnv). */
  checkEnvNames?: readonly string[];
}

type Settings = Required<Omit<MeshOptions, "random">> & Pick<MeshOptions, "random">;

export class Mesh {
  readonly config: MeshConfig;
  readonly pods: LocalPod[] = [];
  readonly endpoints: Endpoints;
  /** The Service the lessons call by default (the one selecting the flaskapp pods). */
  readonly service: string;
  readonly #settings: Settings;
  readonly #workloads: PreviewWorkload[];
  #clientNamespace = "";
  /** The client's proxy name: the sleep Deployment's sidecar, or ztunnel in ambient mode (which carries the client's connections). */
  #clientName = "sleep";
  /** Ambient: what the render enrols, and the rules ambient ignores (warnings). */
  #ambient: AmbientPlan | undefined;
  readonly #waypointUrls = new Map<string, { url: string; name: string }>();
  #ztunnel: Ztunnel | undefined;
  readonly #proxies: MeshProxy[] = [];
  readonly #clientUrls = new Map<string, string>();
  readonly #decisions: Decision[] = [];
  readonly #watchers = new Set<(decision: Decision) => void>();
  #outside: OutsideWorld | undefined;

  private constructor(config: MeshConfig, settings: Settings, found: PreviewWorkload[], service: string) {
    this.config = config;
    this.#settings = settings;
    this.#workloads = found;
    this.service = service;
    this.endpoints = new Endpoints(settings.readinessIntervalMs);
  }

  /** What the learner should know about how the render was run: the env left out of the local pods (see previewEnv). */
  get notes(): string[] {
    return this.#workloads
      .filter((w) => w.dropped.length > 0)
      .map(
        (w) =>
          `Deployment ${w.deployment}: env ${w.dropped.join(", ")} left out of the local pods (not a flaskapp setting, not in ENV_ALLOW, not read by a check)`,
      );
  }

  /** The client's URL for the default Service (http://flaskapp). */
  get url(): string {
    return this.#clientUrls.get(this.config.services.get(this.service)!.host)!;
  }

  /**
   * What the render holds that istiod would report without refusing it (route status,
   * deprecated fields it honours: MeshConfig.warnings), then the rules ambient mode
   * ignores or applies differently, each with the reason.
   */
  get warnings(): string[] {
    return [...this.config.warnings, ...(this.#ambient?.warnings ?? [])];
  }

  /** Whether the client (sleep) runs in ambient mode: no sidecar, its connections carried by ztunnel. */
  get ambient(): boolean {
    return this.#ambient?.namespaces.has(this.#clientNamespace) ?? false;
  }

  #record(d: Decision): void {
    this.#decisions.push(d);
    if (this.#decisions.length > KEPT_DECISIONS) this.#decisions.shift();
    for (const watch of this.#watchers) watch(d);
  }

  #proxy(
    name: string,
    role: ConstructorParameters<typeof MeshProxy>[0]["role"],
    serviceAccount: string,
    config = this.config,
  ): MeshProxy {
    const proxy = new MeshProxy({
      name,
      config,
      role,
      serviceAccount,
      endpoints: this.endpoints,
      ...(this.#outside ? { outsideUrl: this.#outside.url } : {}),
      ...(this.#settings.random ? { random: this.#settings.random } : {}),
      ...(this.#ambient
        ? {
            viaWaypoint: (host: string) =>
              this.#ambient!.enrolled.get(host)?.ingress ? this.#waypointUrls.get(host)?.url : undefined,
          }
        : {}),
      onDecision: (d) => this.#record(d),
    });
    this.#proxies.push(proxy);
    return proxy;
  }

  /**
   * Starts the pods of every flaskapp Deployment with their sidecars, the
   * client's sidecar, the ingress gateway when a Gateway needs it, and the
   * outside world. Throws RuleError for a rule or manifest the model cannot
   * run, before starting anything.
   */
  static async start(objects: K8sObject[], options: MeshOptions = {}): Promise<Mesh> {
    const settings: Settings = {
      bundle: FLASKAPP_BUNDLE,
      shutdownDelay: "500ms",
      readinessIntervalMs: 100,
      startTimeoutMs: 15_000,
      release: NEWEST_RELEASE,
      checkEnvNames: [],
      ...options,
    };
    if (!existsSync(settings.bundle)) throw new Error(`${settings.bundle} is missing: run \`npm run build\` first`);
    const config = meshConfig(objects, settings.release);
    const found = workloads(objects, settings.checkEnvNames);
    const flaskapp = found.filter((w) => w.role === "flaskapp");
    if (flaskapp.length === 0) throw new RuleError("the overlay has no flaskapp Deployment");
    // Nothing would answer a check but the sidecars' own 503s, which a check could expect.
    if (flaskapp.every((w) => w.replicas === 0))
      throw new RuleError(
        `the overlay runs no flaskapp pod (spec.replicas 0 in ${flaskapp.map((w) => `Deployment ${w.deployment}`).join(", ")}): no pod would serve a check`,
      );
    const services = [...config.services.values()].filter(
      (s) => s.selector && flaskapp.some((w) => w.namespace === s.namespace && labelsMatch(s.selector!, w.labels)),
    );
    const main = services.find((s) => s.name === "flaskapp") ?? services[0];
    if (!main) throw new RuleError("no Service selects the flaskapp pods");
    const outside = await OutsideWorld.start();
    const mesh = new Mesh(config, settings, found, main.host);
    mesh.#outside = outside;
    if (isAmbient(objects)) mesh.#ambient = ambientPlan(objects, config);
    try {
      // The sleep pod's sidecar, which tally's requests go through; without a sleep Deployment, a client labelled app: sleep.
      const sleep = found.find((w) => w.role === "sleep");
      mesh.#clientNamespace = sleep?.namespace ?? main.namespace;
      if (mesh.ambient) {
        mesh.#clientName = "ztunnel";
        await mesh.#startAmbientClient();
      } else {
        const client = mesh.#proxy(
          sleep?.deployment ?? "sleep",
          { kind: "sidecar", namespace: mesh.#clientNamespace, labels: sleep?.labels ?? { app: "sleep" } },
          sleep?.serviceAccount ?? "sleep",
        );
        mesh.#clientName = client.name;
        // One listener per Service, standing for its name as the sleep pod types it (flaskapp, istio-ingressgateway.istio-system).
        for (const service of config.services.values()) {
          if (service.kind === "kubernetes")
            mesh.#clientUrls.set(service.host, await client.listen(typedName(service, client.namespace)));
        }
      }
      for (const gateway of config.gatewayDeployments) {
        const proxy = mesh.#proxy(
          gateway.name,
          { kind: "gateway", namespace: gateway.namespace, labels: gateway.labels, port: gateway.port },
          gateway.name,
        );
        const url = await proxy.listen();
        mesh.endpoints.add(
          {
            id: gatewayEndpointId(gateway.name),
            url,
            labels: gateway.labels,
            namespace: gateway.namespace,
            sidecar: false,
          },
          false,
        );
      }
      // Every start settles (a pod that fails is already stopped) before the first failure is reported.
      const started = await Promise.allSettled(
        flaskapp.flatMap((w) => Array.from({ length: w.replicas }, () => mesh.#startPod(w))),
      );
      const failed = started.find((r) => r.status === "rejected");
      if (failed) throw failed.reason;
    } catch (error) {
      await mesh.stop();
      throw error;
    }
    return mesh;
  }

  /**
   * Ambient: a waypoint (an Envoy with the rules of the Services enrolled with it, one
   * listener per Service) for each waypoint that serves a Service, then ztunnel, whose
   * listener for each Service stands for its address as the sleep pod reaches it.
   */
  async #startAmbientClient(): Promise<void> {
    const plan = this.#ambient!;
    for (const waypoint of plan.waypoints.values()) {
      const hosts = servedBy(plan, waypoint);
      if (hosts.length === 0) continue;
      const name = `waypoint ${waypoint.name}`;
      const proxy = this.#proxy(
        name,
        {
          kind: "waypoint",
          namespace: waypoint.namespace,
          labels: { "gateway.networking.k8s.io/gateway-name": waypoint.name },
        },
        waypoint.name,
        waypointConfig(this.config, plan, waypoint),
      );
      // Each listener stands for the Service's name as the sleep pod typed it, which is the Host its requests keep.
      for (const host of hosts)
        this.#waypointUrls.set(host, {
          url: await proxy.listen(typedName(this.config.services.get(host)!, this.#clientNamespace)),
          name: waypoint.name,
        });
    }
    const ztunnel = new Ztunnel({
      endpoints: this.endpoints,
      findService: (host, namespace) => findService(this.config, host, namespace),
      ...(this.#outside ? { outsideUrl: this.#outside.url } : {}),
      waypointFor: (host) => this.#waypointUrls.get(host),
      ...(this.#settings.random ? { random: this.#settings.random } : {}),
      onDecision: (d) => this.#record(d),
    });
    this.#ztunnel = ztunnel;
    for (const service of this.config.services.values()) {
      if (service.kind === "kubernetes") this.#clientUrls.set(service.host, await ztunnel.listen(service));
    }
  }

  async #startPod(workload: PreviewWorkload): Promise<LocalPod> {
    // In ambient mode a pod has no sidecar: ztunnel carries its own calls, and nothing stands in front of it.
    const ambient = this.#ambient?.namespaces.has(workload.namespace) && this.#ztunnel;
    const sidecar = ambient
      ? undefined
      : this.#proxy(
          workload.deployment,
          { kind: "sidecar", namespace: workload.namespace, labels: workload.labels },
          workload.serviceAccount,
        );
    const fetchProxy = ambient ? await ambient.listenOutbound(workload.namespace) : await sidecar!.listen();
    const pod = await LocalPod.start(workload, {
      bundle: this.#settings.bundle,
      shutdownDelay: this.#settings.shutdownDelay,
      startTimeoutMs: this.#settings.startTimeoutMs,
      extraEnv: { FETCH_PROXY: fetchProxy },
    });
    this.pods.push(pod);
    this.endpoints.add(
      {
        id: pod.name,
        url: pod.url,
        labels: pod.labels,
        namespace: pod.namespace,
        serviceAccount: pod.serviceAccount,
        sidecar: sidecar !== undefined,
      },
      true,
    );
    void pod.exited.then(() => this.endpoints.remove(pod.name));
    try {
      await this.endpoints.waitReady(pod.name, this.#settings.startTimeoutMs);
    } catch (error) {
      await pod.stop(0);
      throw error;
    }
    return pod;
  }

  /** Starts one more pod of `deployment` (a replacement, as a ReplicaSet would) and waits until it is ready. */
  async startReplacement(deployment: string): Promise<LocalPod> {
    const workload = this.#workloads.find((w) => w.deployment === deployment && w.role === "flaskapp");
    if (!workload) throw new Error(`no flaskapp Deployment named ${deployment}`);
    return this.#startPod(workload);
  }

  /** The local URL for a URL the sleep pod would call (http://<service>/path): the client sidecar's listener for that Service. */
  localUrl(url: string): string {
    const parsed = new URL(url);
    const service = findService(this.config, parsed.host, this.#clientNamespace);
    const base = service && this.#clientUrls.get(service.host);
    if (!base)
      throw new Error(
        `the preview has no Service ${parsed.host} (Services: ${[...this.#clientUrls.keys()].join(", ")})`,
      );
    return `${base}${parsed.pathname}${parsed.search}`;
  }

  /** Request-log lines of a Deployment's pods. */
  requestLogs(deployment: string): RequestLogLine[] {
    return this.pods.filter((p) => p.deployment === deployment).flatMap((p) => p.requests);
  }

  /** Calls `watch` with each decision as a proxy makes it (the live view); returns the function that stops it. */
  watchDecisions(watch: (decision: Decision) => void): () => void {
    this.#watchers.add(watch);
    return () => void this.#watchers.delete(watch);
  }

  /** The name of the client's proxy (the sleep Deployment's), as its decisions carry it. */
  get clientName(): string {
    return this.#clientName;
  }

  /** The decisions the proxies made since the last call, oldest first. */
  takeDecisions(): Decision[] {
    return this.#decisions.splice(0);
  }

  /**
   * Takes the whole mesh down at once, as deleting its namespace would: no endpoint is left
   * to drain, so the pods are not given their SHUTDOWN_DELAY (a pod replaced while traffic
   * flows is stopped through its own process, as the zero-downtime test does).
   */
  async stop(): Promise<void> {
    await Promise.all(this.pods.map((p) => p.stop(0)));
    this.endpoints.close();
    await Promise.all(this.#proxies.map((p) => p.close()));
    await this.#ztunnel?.close();
    await this.#outside?.stop();
  }
}

/** The endpoint id of a gateway's pod, as decisions name it. */
export function gatewayEndpointId(gateway: string): string {
  return `${gateway}-gateway`;
}

/** A Service's name as a pod in `namespace` writes it: the bare name in its own namespace, name.namespace elsewhere. */
function typedName(service: MeshService, namespace: string): string {
  return service.namespace === namespace ? service.name : `${service.name}.${service.namespace}`;
}
