// A proxy of the mesh preview: plays one Envoy, either the sidecar of a
// workload (the sleep client, a flaskapp pod's outbound calls) or an ingress
// gateway. It carries out the plan decide.ts makes for each request and does
// the I/O: HTTP listeners on 127.0.0.1, one undici Pool per upstream endpoint,
// connection accounting per cluster, retries against endpoints, outlier state.
import { createHash, randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { Pool, type Dispatcher } from "undici";
import {
  defaultDestination,
  type Destination,
  type HeaderOperations,
  type MeshConfig,
  type MeshService,
  type TrafficPolicy,
} from "./model.ts";
import { labelsMatch } from "../core/kustomize.ts";
import { ConnectionPools, Overflow } from "./connection-pool.ts";
import type { Endpoint, Endpoints } from "./endpoints.ts";
import {
  decide,
  describeDestination,
  FAULT_ABORT_BODY,
  hostDecision,
  readTarget,
  targetPolicy,
  type Call,
  type ForwardPlan,
  type MirrorPlan,
} from "./decide.ts";
import {
  countsAsError,
  healthyEndpoints,
  OutlierDetector,
  pickEndpoint,
  retryBackoffMs,
  shouldRetry,
  untried,
  type AttemptOutcome,
} from "./policy.ts";
import { applyHeaderOperations, type ProxyRole, type RequestInfo } from "./routing.ts";

export { describeDestination, FAULT_ABORT_BODY } from "./decide.ts";

export const OVERFLOW_BODY = "upstream connect error or disconnect/reset before headers. reset reason: overflow";
export const TIMEOUT_BODY = "upstream request timeout";
export const NO_HEALTHY_UPSTREAM_BODY = "no healthy upstream";

/** Envoy's worker threads in an Istio sidecar (proxy concurrency 2); each has its own connection pools. */
export const SIDECAR_WORKERS = 2;

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "transfer-encoding",
  "upgrade",
  "proxy-connection",
  "te",
  "trailer",
  "host",
]);

/**
 * What a proxy did with one request: for the explanation printed beside a
 * check's distribution, and for the live view (lessons/src/view), which draws
 * each decision as hops from the proxy to the Service, subset and pods.
 */
export interface Decision {
  proxy: string;
  /** `VirtualService flaskapp http[0]`, `default route to …`, `passthrough`, … */
  rule: string;
  /** `flaskapp.istio-lessons.svc.cluster.local subset v2 (weight 30 of 100)` */
  destination?: string;
  /** What else the rule did: fault, redirect, mirror, retries, overflow. */
  notes: string[];
  /** The status the client got; 0 for a decision about a connection (ztunnel), which has none. */
  status: number;
  /**
   * `route`: sent upstream; `mirror`: a mirrored copy (its status is the copy's, never the client's);
   * `fault`: a fault abort; `local`: the proxy answered itself (no route, unregistered host, overflow,
   * no healthy upstream, a missing subset, a redirect); `connection`: ztunnel's choice for a
   * connection in ambient mode (no request, no status: lessons/src/mesh/ztunnel.ts).
   */
  kind: DecisionKind;
  /** When the proxy finished with it (ms since the epoch). */
  at: number;
  /** The request's path as the client sent it. */
  path: string;
  /** The host it was for (a Service's FQDN or an outside host) and the subset chosen, when known. */
  host?: string;
  subset?: string;
  /** Each try at an endpoint, in order (more than one: retries); status 0 for a reset, connect failure or per-try timeout. */
  attempts: Array<{ endpoint: string; status: number }>;
  /** Endpoints the outlier detector ejected while handling it, and until when. */
  ejected: Array<{ endpoint: string; until: number }>;
}

export type DecisionKind = "route" | "mirror" | "fault" | "local" | "connection";

/** What #forward saw, for the Decision. */
interface Trace {
  attempts: Decision["attempts"];
  ejected: Decision["ejected"];
  /** The proxy answered itself after all (overflow, no healthy upstream). */
  local: boolean;
}

export interface ProxyOptions {
  /** How the proxy is named in explanations: `sleep`, `flaskapp-v1-abc12-xyz`, `istio-ingressgateway`. */
  name: string;
  config: MeshConfig;
  role: ProxyRole;
  /** The workload's identity (its ServiceAccount), shown to upstream pods in x-forwarded-client-cert. */
  serviceAccount: string;
  endpoints: Endpoints;
  /** The stand-in for the outside world: where requests for outside hosts go. */
  outsideUrl?: string;
  /** Ambient: the waypoint listener a Service's traffic goes to instead of its pods (ingress-use-waypoint). */
  viaWaypoint?: (host: string) => string | undefined;
  /** Largest request body the proxy buffers (bodies are kept for retries and mirroring). */
  maxBodyBytes?: number;
  workers?: number;
  random?: () => number;
  now?: () => number;
  onDecision?: (decision: Decision) => void;
}

/** One Envoy cluster: a host, or one subset of it, with its pools, limits and outlier state. */
class Cluster {
  readonly service: MeshService | undefined;
  readonly policy: TrafficPolicy;
  readonly selector: Record<string, string>;
  readonly pools: ConnectionPools;
  readonly active = new Map<string, number>();
  readonly outlier: OutlierDetector | undefined;
  /** Round robin's position, per worker thread, each seeded at random (as Envoy seeds each worker's balancer). */
  readonly #cursors = new Map<number, number>();

  constructor(service: MeshService | undefined, policy: TrafficPolicy, selector: Record<string, string>) {
    this.service = service;
    this.policy = policy;
    this.selector = selector;
    this.pools = new ConnectionPools(policy.connectionPool);
    this.outlier = policy.outlierDetection ? new OutlierDetector(policy.outlierDetection) : undefined;
  }

  nextCursor(worker: number, random: () => number = Math.random): number {
    const cursor = this.#cursors.get(worker) ?? Math.floor(random() * 1024);
    this.#cursors.set(worker, cursor + 1);
    return cursor;
  }
}

type Upstream = Awaited<ReturnType<Pool["request"]>>;

export class MeshProxy {
  readonly #o: Required<Omit<ProxyOptions, "outsideUrl" | "onDecision" | "viaWaypoint">> &
    Pick<ProxyOptions, "outsideUrl" | "onDecision" | "viaWaypoint">;
  readonly #servers: Server[] = [];
  readonly #clusters = new Map<string, Cluster>();
  readonly #transports = new Map<string, Pool>();
  #accepted = 0;

  constructor(options: ProxyOptions) {
    this.#o = { maxBodyBytes: 1024 * 1024, workers: SIDECAR_WORKERS, random: Math.random, now: Date.now, ...options };
  }

  get name(): string {
    return this.#o.name;
  }

  get namespace(): string {
    return this.#o.role.namespace;
  }

  /**
   * Opens a listener on 127.0.0.1. With `bound`, it stands for that host, as a
   * connection to a Service's address does: a request whose Host is the
   * listener's own address is taken as sent to `bound`. Without it, requests
   * must say where they go (absolute-form, as an HTTP proxy receives them).
   */
  async listen(bound?: string): Promise<string> {
    const server = createServer((req, res) => {
      this.#handle(req, res, bound).catch((error: unknown) => {
        if (!res.headersSent) this.#reply(res, 502, `mesh preview: ${(error as Error).message}`);
        else res.destroy();
      });
    });
    server.on("connection", (socket: Socket & { worker?: number }) => {
      socket.worker = this.#accepted++ % this.#o.workers;
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.#servers.map((server) => {
        server.closeAllConnections();
        return new Promise<void>((resolve) => server.close(() => resolve()));
      }),
    );
    await Promise.all([...this.#transports.values()].map((p) => p.destroy()));
    this.#transports.clear();
  }

  /** The undici pool to an endpoint: the transport only; limits are ConnectionPools' job. */
  #transport(endpoint: Endpoint): Pool {
    let pool = this.#transports.get(endpoint.url);
    if (!pool)
      this.#transports.set(endpoint.url, (pool = new Pool(endpoint.url, { headersTimeout: 0, bodyTimeout: 0 })));
    return pool;
  }

  #cluster(destination: Destination, service: MeshService | undefined): Cluster | undefined {
    const key = `${destination.host}|${destination.subset ?? ""}`;
    let cluster = this.#clusters.get(key);
    if (cluster) return cluster;
    const rule = this.#o.config.destinations.get(destination.host) ?? defaultDestination();
    const subset = destination.subset === undefined ? undefined : rule.subsets.get(destination.subset);
    if (destination.subset !== undefined && !subset) return undefined;
    cluster = new Cluster(service, targetPolicy(this.#o.config, destination), {
      ...service?.selector,
      ...subset?.labels,
    });
    this.#clusters.set(key, cluster);
    return cluster;
  }

  /** The endpoints of a cluster: pods selected by the Service (and subset) in its namespace, or the outside world. */
  #clusterEndpoints(cluster: Cluster): Endpoint[] {
    const service = cluster.service;
    if (!service || service.kind === "external") {
      const url = this.#o.outsideUrl;
      return url ? [{ id: "outside", url, labels: {}, namespace: "", sidecar: false, ready: true }] : [];
    }
    if (!service.selector) return [];
    const waypoint = this.#o.viaWaypoint?.(service.host);
    if (waypoint)
      return [
        {
          id: `waypoint for ${service.name}`,
          url: waypoint,
          labels: cluster.selector,
          namespace: service.namespace,
          sidecar: false,
          ready: true,
        },
      ];
    return this.#o.endpoints
      .all()
      .filter((e) => e.namespace === service.namespace && labelsMatch(cluster.selector, e.labels));
  }

  #reply(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    res.writeHead(status, {
      "content-type": "text/plain",
      "content-length": Buffer.byteLength(body),
      server: "envoy",
      ...headers,
    });
    res.end(body);
  }

  async #readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.#o.maxBodyBytes) return undefined;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async #handle(req: IncomingMessage, res: ServerResponse, bound: string | undefined): Promise<void> {
    const worker = (req.socket as Socket & { worker?: number }).worker ?? 0;
    // A waypoint is reached through ztunnel's listener, whose local address stands for the Service's too.
    const hostHeader =
      this.#o.role.kind === "waypoint" && /^127\.0\.0\.1:\d+$/.test(req.headers.host ?? "")
        ? undefined
        : req.headers.host;
    const { path, authority, destination } = readTarget(
      req.url ?? "/",
      hostHeader,
      bound,
      `127.0.0.1:${req.socket.localPort ?? 0}`,
    );
    const body = await this.#readBody(req);
    if (body === undefined)
      return this.#reply(res, 413, `mesh preview: request body over ${this.#o.maxBodyBytes} bytes`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    headers["x-request-id"] ??= randomUUID();
    headers["x-forwarded-proto"] ??= "http";
    const request: RequestInfo = { path, method: req.method ?? "GET", headers };
    const call: Call = {
      config: this.#o.config,
      role: this.#o.role,
      request,
      authority,
      ...(destination === undefined ? {} : { destination }),
      random: this.#o.random,
    };
    const plan = decide(call);
    const notes = [...plan.notes];
    const trace: Trace = { attempts: [], ejected: [], local: false };
    // The host a reply was for (the decision's), or the forward's target.
    const to: Destination | undefined = plan.kind === "forward" ? plan.target : hostOfDecision(call);
    const record = (
      status: number,
      kind: DecisionKind,
      target = to,
      seen: Omit<Trace, "local"> = trace,
      what = notes,
    ) =>
      this.#o.onDecision?.({
        proxy: this.#o.name,
        rule: plan.rule,
        status,
        notes: what,
        ...(plan.destination
          ? { destination: kind === "mirror" && target ? describeDestination(target) : plan.destination }
          : {}),
        kind,
        at: this.#o.now(),
        path,
        ...(target ? { host: target.host } : {}),
        ...(target?.subset === undefined ? {} : { subset: target.subset }),
        attempts: seen.attempts,
        ejected: seen.ejected,
      });
    if (plan.delayMs !== undefined) await sleep(plan.delayMs);
    for (const mirror of plan.mirrors) {
      this.#mirror(mirror, body, (endpoint, status) =>
        record(status, "mirror", mirror.destination, { attempts: [{ endpoint, status }], ejected: [] }, [
          `mirrored copy (Host ${mirror.request.headers.host})`,
        ]),
      );
    }
    if (plan.kind === "reply") {
      record(plan.reply.status, plan.reply.body === FAULT_ABORT_BODY ? "fault" : "local");
      return this.#reply(res, plan.reply.status, plan.reply.body, plan.reply.headers);
    }
    const status = await this.#forward(plan, body, res, worker, notes, trace);
    record(status, trace.local || trace.attempts.length === 0 ? "local" : "route");
  }

  /** Fire and forget: the mirror's answer and failures never reach the client (only `done`, for the Decision; status 0 for a failure). */
  #mirror(mirror: MirrorPlan, body: Buffer, done: (endpoint: string, status: number) => void): void {
    const service = this.#o.config.services.get(mirror.destination.host);
    const cluster = this.#cluster(mirror.destination, service);
    if (!cluster) return;
    const healthy = healthyEndpoints(this.#clusterEndpoints(cluster), cluster.selector, () => false);
    const endpoint = healthy[Math.floor(this.#o.random() * healthy.length)];
    if (!endpoint) return;
    const { path, method, headers } = mirror.request;
    this.#transport(endpoint)
      .request({
        path,
        method: method as Dispatcher.HttpMethod,
        headers: this.#toUpstream(headers as Record<string, string>, endpoint, 1),
        body: body.length > 0 ? body : null,
      })
      .then((r) => r.body.dump().then(() => r.statusCode))
      .catch(() => 0)
      .then((status) => done(endpoint.id, status));
  }

  /**
   * The server-side sidecar's own circuit breaker: Istio applies the
   * DestinationRule's connectionPool (the rule's, not a subset's) to each pod's
   * inbound cluster too. Resolves to its release, or throws Overflow.
   */
  async #inbound(
    cluster: Cluster,
    endpoint: Endpoint,
    worker: number,
    signal: AbortSignal,
  ): Promise<(() => void) | undefined> {
    if (!endpoint.sidecar || !cluster.service) return undefined;
    const limits = this.#o.config.destinations.get(cluster.service.host)?.trafficPolicy.connectionPool;
    if (!limits || Object.keys(limits).length === 0) return undefined;
    return this.#o.endpoints.inboundPools(endpoint.id, limits).acquire(worker, "app", signal);
  }

  /** Headers as the upstream's own sidecar hands them to the app. */
  #toUpstream(headers: Record<string, string>, endpoint: Endpoint, attempt: number): Record<string, string> {
    const out: Record<string, string> = { ...headers, "x-envoy-attempt-count": String(attempt) };
    if (endpoint.sidecar) {
      // Added by the server's sidecar from the mTLS handshake: its own identity, the client certificate's hash, subject and identity.
      const client = `spiffe://cluster.local/ns/${this.#o.role.namespace}/sa/${this.#o.serviceAccount}`;
      const hash = createHash("sha256").update(client).digest("hex");
      out["x-forwarded-client-cert"] =
        `By=spiffe://cluster.local/ns/${endpoint.namespace}/sa/${endpoint.serviceAccount ?? "default"};Hash=${hash};Subject="";URI=${client}`;
    }
    return out;
  }

  /** Sends the planned request with the route's timeout and retries; answers the client and resolves with the status it got. */
  async #forward(
    plan: ForwardPlan,
    body: Buffer,
    res: ServerResponse,
    worker: number,
    notes: string[],
    trace: Trace,
  ): Promise<number> {
    const cluster = this.#cluster(plan.target, plan.service);
    if (!cluster) throw new Error(`no cluster for ${describeDestination(plan.target)}`);
    const { retries, responseRules } = plan;
    const request = plan.upstream;
    const headers = request.headers as Record<string, string>;
    const routeTimeout = plan.timeoutMs === undefined ? undefined : AbortSignal.timeout(plan.timeoutMs);
    const clientGone = new AbortController();
    res.on("close", () => clientGone.abort());
    const routeSignal = routeTimeout ? AbortSignal.any([routeTimeout, clientGone.signal]) : clientGone.signal;
    const timedOut = () => routeTimeout?.aborted === true;
    const tried = new Set<string>();
    const started = performance.now();
    const answer = (status: number, text: string, extra: Record<string, string> = {}): number => {
      this.#reply(res, status, text, { ...plan.localReplyHeaders, ...extra });
      return status;
    };

    for (let attempt = 1; ; attempt++) {
      const now = this.#o.now();
      const healthy = healthyEndpoints(
        this.#clusterEndpoints(cluster),
        cluster.selector,
        (id) => cluster.outlier?.isEjected(id, now) ?? false,
      );
      const candidates = plan.retryOtherHosts ? untried(healthy, tried) : healthy;
      if (candidates.length === 0) {
        trace.local = true;
        return answer(503, NO_HEALTHY_UPSTREAM_BODY);
      }
      const lb = cluster.policy.loadBalancer;
      const hashKey = "consistentHash" in lb ? headers[lb.consistentHash.httpHeaderName] : undefined;
      const endpoint =
        candidates[
          pickEndpoint(
            lb,
            candidates.map((e) => ({ id: e.id, active: cluster.active.get(e.id) ?? 0 })),
            cluster.nextCursor(worker),
            this.#o.random,
            hashKey,
          )
        ]!;
      tried.add(endpoint.id);
      let release: () => void;
      try {
        release = await cluster.pools.acquire(worker, endpoint.id, routeSignal);
      } catch (error) {
        if (error instanceof Overflow) {
          notes.push("overflow: circuit breaker open");
          trace.local = true;
          return answer(503, OVERFLOW_BODY, { "x-envoy-overloaded": "true" });
        }
        if (timedOut()) return answer(504, TIMEOUT_BODY);
        return 499;
      }
      cluster.active.set(endpoint.id, (cluster.active.get(endpoint.id) ?? 0) + 1);
      let outcome: AttemptOutcome;
      let response: Upstream | undefined;
      // The per-try timeout covers the time to the response headers only; the route timeout runs to the end of the body.
      const attemptSignal = new AbortController();
      const onRouteAbort = () => attemptSignal.abort(routeSignal.reason);
      routeSignal.addEventListener("abort", onRouteAbort, { once: true });
      let perTryFired = false;
      const perTry =
        retries.perTryTimeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              perTryFired = true;
              attemptSignal.abort();
            }, retries.perTryTimeoutMs);
      let releaseInbound: (() => void) | undefined;
      try {
        try {
          releaseInbound = await this.#inbound(cluster, endpoint, worker, attemptSignal.signal);
          response = await this.#transport(endpoint).request({
            path: request.path,
            method: request.method as Dispatcher.HttpMethod,
            headers: this.#toUpstream(headers, endpoint, attempt),
            body: body.length > 0 ? body : null,
            signal: attemptSignal.signal,
          });
          outcome = { kind: "response", status: response.statusCode };
        } catch (error) {
          const code = (error as { code?: string }).code ?? "";
          if (error instanceof Overflow) outcome = { kind: "response", status: 503, serverSideOverflow: true };
          else if (perTryFired && !routeSignal.aborted) outcome = { kind: "per-try-timeout" };
          else if (attemptSignal.signal.aborted) outcome = { kind: "reset" };
          else if (code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT") outcome = { kind: "connect-failure" };
          else outcome = { kind: "reset" };
        } finally {
          clearTimeout(perTry);
        }
        if (
          cluster.outlier?.record(
            endpoint.id,
            countsAsError(outcome),
            this.#o.now(),
            this.#clusterEndpoints(cluster).length,
          )
        )
          trace.ejected.push({ endpoint: endpoint.id, until: cluster.outlier.ejectedUntil(endpoint.id) });
        trace.attempts.push({ endpoint: endpoint.id, status: outcome.kind === "response" ? outcome.status : 0 });

        if (timedOut()) {
          await response?.body.dump().catch(() => undefined);
          return answer(504, TIMEOUT_BODY);
        }
        if (clientGone.signal.aborted) return 499;
        if (!shouldRetry(retries, attempt, outcome)) {
          if (attempt > 1) notes.push(`${attempt} tries`);
          return await this.#respond(res, outcome, response, responseRules, routeSignal, timedOut, started);
        }
        await response?.body.dump().catch(() => undefined);
      } finally {
        routeSignal.removeEventListener("abort", onRouteAbort);
        cluster.active.set(endpoint.id, (cluster.active.get(endpoint.id) ?? 1) - 1);
        releaseInbound?.();
        release();
      }
      const waited = await sleep(retryBackoffMs(attempt, this.#o.random()), undefined, { signal: routeSignal }).then(
        () => true,
        () => false,
      );
      if (!waited) return timedOut() ? answer(504, TIMEOUT_BODY) : 499;
    }
  }

  /**
   * Passes the final try's answer to the client, or the error Envoy would send
   * for it. The route timeout runs until the response is complete: when it
   * fires mid-body, the client's stream is reset.
   */
  async #respond(
    res: ServerResponse,
    outcome: AttemptOutcome,
    response: Upstream | undefined,
    responseRules: Array<HeaderOperations | undefined>,
    routeSignal: AbortSignal,
    timedOut: () => boolean,
    started: number,
  ): Promise<number> {
    if (!response) {
      if (outcome.kind === "response" && outcome.serverSideOverflow) {
        this.#reply(res, 503, OVERFLOW_BODY, { "x-envoy-overloaded": "true" });
        return 503;
      }
      if (outcome.kind === "per-try-timeout") {
        this.#reply(res, 504, TIMEOUT_BODY);
        return 504;
      }
      const reason = outcome.kind === "connect-failure" ? "connection failure" : "connection termination";
      this.#reply(res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`);
      return 503;
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    // The client's sidecar names itself (server: envoy, replacing the app's) and says how long the upstream took.
    out.server = "envoy";
    out["x-envoy-upstream-service-time"] = String(Math.round(performance.now() - started));
    for (const rules of responseRules) applyHeaderOperations(out, rules);
    res.writeHead(response.statusCode, out);
    await new Promise<void>((resolve) => {
      const onAbort = () => {
        response.body.destroy();
        res.destroy();
        resolve();
      };
      if (routeSignal.aborted) return onAbort();
      routeSignal.addEventListener("abort", onAbort, { once: true });
      response.body.on("data", (chunk: Buffer) => {
        if (!res.write(chunk)) response.body.pause();
      });
      res.on("drain", () => response.body.resume());
      response.body.once("end", () => {
        routeSignal.removeEventListener("abort", onAbort);
        res.end(() => resolve());
      });
      response.body.once("error", () => {
        routeSignal.removeEventListener("abort", onAbort);
        res.destroy();
        resolve();
      });
    });
    return timedOut() ? 504 : response.statusCode;
  }
}

const EXPLAINED_KINDS = 12;

/**
 * What the proxies did during a check, grouped and counted, most frequent
 * first: the rule that decided, the destination, what else happened, the status.
 */
export function explainDecisions(decisions: Decision[]): string {
  const counts = new Map<string, number>();
  // A mirrored copy's own decision is the live view's; its route's decision already notes the copy.
  for (const d of decisions.filter((d) => d.kind !== "mirror")) {
    const line = `${d.proxy}: ${d.rule}${d.destination ? ` → ${d.destination}` : ""}${d.notes.length ? ` (${d.notes.join("; ")})` : ""}${d.status ? ` → ${d.status}` : ""}`;
    counts.set(line, (counts.get(line) ?? 0) + 1);
  }
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const width = String(sorted[0]?.[1] ?? 0).length;
  const lines = sorted.slice(0, EXPLAINED_KINDS).map(([line, n]) => `  ${String(n).padStart(width)}  ${line}`);
  if (sorted.length > EXPLAINED_KINDS) lines.push(`  … and ${sorted.length - EXPLAINED_KINDS} more kinds of decision`);
  return lines.length === 0 ? "" : `what the mesh preview's proxies decided:\n${lines.join("\n")}\n`;
}

/** The host a request was for when the proxy answered it itself: the Service it resolved to, or the host it named. */
function hostOfDecision(call: Call): Destination | undefined {
  const host = hostDecision(call);
  if (host.kind === "service") return { host: host.service.host };
  return "host" in host ? { host: host.host } : undefined;
}
