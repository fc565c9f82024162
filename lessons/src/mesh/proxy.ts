// The routing proxy of the mesh preview: plays the client sidecar for one
// Service. It applies the Service's rules (rules.ts) with the pure decisions of
// policy.ts and does the I/O: an HTTP server on 127.0.0.1, one undici Pool per
// cluster and endpoint, readiness polling of every endpoint's /readyz.
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { Pool } from "undici";
import {
  applies,
  countsAsError,
  labelsMatch,
  OutlierDetector,
  pickEndpoint,
  pickWeighted,
  retryBackoffMs,
  selectCandidates,
  selectRoute,
  shadowHost,
  shouldRetry,
  type AttemptOutcome,
  type RequestInfo,
} from "./policy.ts";
import type { Destination, HttpRoute, ServiceRules, TrafficPolicy } from "./rules.ts";

export interface Endpoint {
  id: string;
  /** http://127.0.0.1:PORT */
  url: string;
  labels: Record<string, string>;
}

export interface ProxyOptions {
  /** Labels a pod needs to be an endpoint of the Service (its selector). */
  selector: Record<string, string>;
  rules: ServiceRules;
  /** How often each endpoint's /readyz is polled. */
  readinessIntervalMs?: number;
  /** Largest request body the proxy buffers (bodies are kept for retries and mirroring). */
  maxBodyBytes?: number;
  random?: () => number;
  now?: () => number;
}

export const OVERFLOW_BODY = "upstream connect error or disconnect/reset before headers. reset reason: overflow";
export const TIMEOUT_BODY = "upstream request timeout";
export const FAULT_ABORT_BODY = "fault filter abort";
export const NO_HEALTHY_UPSTREAM_BODY = "no healthy upstream";

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te", "trailer", "host"]);

class Overflow extends Error {}

/** One Envoy cluster: the Service, or one subset of it, with its own pools, limits and outlier state. */
class Cluster {
  readonly policy: TrafficPolicy;
  readonly selector: Record<string, string>;
  readonly pools = new Map<string, Pool>();
  readonly active = new Map<string, number>();
  readonly outlier: OutlierDetector | undefined;
  inFlight = 0;
  cursor = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(policy: TrafficPolicy, selector: Record<string, string>) {
    this.policy = policy;
    this.selector = selector;
    this.outlier = policy.outlierDetection ? new OutlierDetector(policy.outlierDetection) : undefined;
  }

  pool(endpoint: Endpoint): Pool {
    let pool = this.pools.get(endpoint.id);
    if (!pool) {
      const perConnection = this.policy.connectionPool.maxRequestsPerConnection;
      pool = new Pool(endpoint.url, {
        connections: this.policy.connectionPool.maxConnections ?? null,
        ...(perConnection !== undefined ? { maxRequestsPerClient: perConnection } : {}),
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      this.pools.set(endpoint.id, pool);
    }
    return pool;
  }

  /**
   * Takes a connection slot (tcp.maxConnections; HTTP/1.1 carries one request
   * per connection at a time), waiting in the pending queue when all are busy
   * (http.http1MaxPendingRequests). A full queue throws Overflow, as Envoy's
   * circuit breaker does. Resolves to the release function.
   */
  async acquire(signal: AbortSignal): Promise<() => void> {
    const { maxConnections, http1MaxPendingRequests } = this.policy.connectionPool;
    if (maxConnections !== undefined && this.inFlight >= maxConnections) {
      if (this.#waiting.length >= (http1MaxPendingRequests ?? Infinity)) throw new Overflow();
      await new Promise<void>((resolve, reject) => {
        const wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
        const onAbort = () => {
          this.#waiting.splice(this.#waiting.indexOf(wake), 1);
          reject(signal.reason);
        };
        this.#waiting.push(wake);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
    this.inFlight += 1;
    return () => {
      this.inFlight -= 1;
      this.#waiting.shift()?.();
    };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.destroy()));
    this.pools.clear();
  }
}

export class MeshProxy {
  readonly #options: Required<Omit<ProxyOptions, "selector" | "rules">> & Pick<ProxyOptions, "selector" | "rules">;
  readonly #endpoints = new Map<string, Endpoint & { ready: boolean }>();
  readonly #clusters = new Map<string, Cluster>();
  readonly #server: Server;
  #poller: NodeJS.Timeout | undefined;
  #polling = false;
  /** Mirrored requests sent, for tests and the demo's summary. */
  mirrored = 0;

  constructor(options: ProxyOptions) {
    this.#options = {
      readinessIntervalMs: 100,
      maxBodyBytes: 1024 * 1024,
      random: Math.random,
      now: Date.now,
      ...options,
    };
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) this.#reply(res, 502, `mesh preview: ${(error as Error).message}`);
        else res.destroy();
      });
    });
  }

  async listen(port = 0): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(port, "127.0.0.1", resolve));
    this.#poller = setInterval(() => void this.#pollReadiness(), this.#options.readinessIntervalMs);
    return this.url;
  }

  get url(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  /** Adds a pod; it receives traffic once its /readyz answers 200. */
  addEndpoint(endpoint: Endpoint): void {
    const entry = { ...endpoint, ready: false };
    this.#endpoints.set(endpoint.id, entry);
    void this.#probe(entry);
  }

  /** Removes a pod (it has exited) and closes its connections. */
  removeEndpoint(id: string): void {
    this.#endpoints.delete(id);
    for (const cluster of this.#clusters.values()) {
      void cluster.pools.get(id)?.close();
      cluster.pools.delete(id);
    }
  }

  /** The ids of the endpoints currently ready. */
  readyEndpoints(): string[] {
    return [...this.#endpoints.values()].filter((e) => e.ready).map((e) => e.id);
  }

  /** Resolves when `id` is ready, or rejects after `timeoutMs`. */
  async waitReady(id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#endpoints.get(id)?.ready) {
      if (Date.now() > deadline) throw new Error(`${id} did not become ready within ${timeoutMs} ms`);
      await sleep(this.#options.readinessIntervalMs / 2);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#poller);
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    await Promise.all([...this.#clusters.values()].map((c) => c.close()));
  }

  async #pollReadiness(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      await Promise.all([...this.#endpoints.values()].map((endpoint) => this.#probe(endpoint)));
    } finally {
      this.#polling = false;
    }
  }

  /** One readiness probe: GET /readyz, ready on 200, like a kubelet httpGet probe with failureThreshold 1. */
  async #probe(endpoint: Endpoint & { ready: boolean }): Promise<void> {
    endpoint.ready = await fetch(`${endpoint.url}/readyz`, { signal: AbortSignal.timeout(Math.max(1000, this.#options.readinessIntervalMs)) })
      .then(async (r) => {
        await r.body?.cancel();
        return r.status === 200;
      })
      .catch(() => false);
  }

  #cluster(subset: string | undefined): Cluster {
    const key = subset ?? "";
    let cluster = this.#clusters.get(key);
    if (!cluster) {
      const { rules, selector } = this.#options;
      const s = subset === undefined ? undefined : rules.subsets.get(subset)!;
      cluster = new Cluster(s?.trafficPolicy ?? rules.trafficPolicy, { ...selector, ...s?.labels });
      this.#clusters.set(key, cluster);
    }
    return cluster;
  }

  /** The ready, not ejected endpoints of a cluster, preferring ones not yet tried by this request. */
  #pick(cluster: Cluster, tried: Set<string>): Endpoint | undefined {
    const now = this.#options.now();
    const candidates = selectCandidates([...this.#endpoints.values()], cluster.selector, (id) => cluster.outlier?.isEjected(id, now) ?? false, tried);
    if (candidates.length === 0) return undefined;
    const index = pickEndpoint(
      cluster.policy.loadBalancer,
      candidates.map((e) => ({ id: e.id, active: cluster.active.get(e.id) ?? 0 })),
      cluster.cursor++,
      this.#options.random,
    );
    return candidates[index];
  }

  #clusterSize(cluster: Cluster): number {
    return [...this.#endpoints.values()].filter((e) => labelsMatch(cluster.selector, e.labels)).length;
  }

  #reply(res: ServerResponse, status: number, body: string): void {
    res.writeHead(status, { "content-type": "text/plain", "content-length": Buffer.byteLength(body), server: "envoy" });
    res.end(body);
  }

  async #readBody(req: IncomingMessage): Promise<Buffer | undefined> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > this.#options.maxBodyBytes) return undefined;
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await this.#readBody(req);
    if (body === undefined) return this.#reply(res, 413, `mesh preview: request body over ${this.#options.maxBodyBytes} bytes`);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    headers["x-request-id"] ??= randomUUID();
    headers["x-forwarded-proto"] ??= "http";
    const host = req.headers.host ?? this.#options.rules.service;
    const request: RequestInfo = { path: req.url ?? "/", method: req.method ?? "GET", headers };
    const route = selectRoute(this.#options.rules.routes, request);
    if (!route) return this.#reply(res, 404, "");

    const random = this.#options.random;
    const fault = route.fault;
    if (fault?.delay && applies(fault.delay.percent, random())) await sleep(fault.delay.fixedDelayMs);
    if (fault?.abort && applies(fault.abort.percent, random())) return this.#reply(res, fault.abort.httpStatus, FAULT_ABORT_BODY);

    const { destination } = pickWeighted(route.route, random());
    if (route.mirror && applies(route.mirror.percent, random())) {
      this.#mirror(route.mirror.destination, request, { ...headers, host: shadowHost(host) }, body);
    }
    await this.#forward(route, destination, request, { ...headers, host }, body, res);
  }

  /** Fire and forget: the mirror's answer and failures never reach the client. */
  #mirror(destination: Destination, request: RequestInfo, headers: Record<string, string>, body: Buffer): void {
    const cluster = this.#cluster(destination.subset);
    const endpoint = this.#pick(cluster, new Set());
    if (!endpoint) return;
    this.mirrored += 1;
    cluster
      .pool(endpoint)
      .request({ path: request.path, method: request.method as "GET", headers, body: body.length > 0 ? body : null })
      .then((r) => r.body.dump())
      .catch(() => undefined);
  }

  async #forward(route: HttpRoute, destination: Destination, request: RequestInfo, headers: Record<string, string>, body: Buffer, res: ServerResponse): Promise<void> {
    const cluster = this.#cluster(destination.subset);
    const routeTimeout = route.timeoutMs === undefined ? undefined : AbortSignal.timeout(route.timeoutMs);
    const clientGone = new AbortController();
    res.on("close", () => clientGone.abort());
    const routeSignal = routeTimeout ? AbortSignal.any([routeTimeout, clientGone.signal]) : clientGone.signal;
    const tried = new Set<string>();
    const timedOut = () => routeTimeout?.aborted === true;

    for (let attempt = 1; ; attempt++) {
      const endpoint = this.#pick(cluster, tried);
      if (!endpoint) return this.#reply(res, 503, NO_HEALTHY_UPSTREAM_BODY);
      tried.add(endpoint.id);
      let release: () => void;
      try {
        release = await cluster.acquire(routeSignal);
      } catch (error) {
        if (error instanceof Overflow) {
          res.setHeader("x-envoy-overflow", "true");
          return this.#reply(res, 503, OVERFLOW_BODY);
        }
        return timedOut() ? this.#reply(res, 504, TIMEOUT_BODY) : undefined;
      }
      // The connection slot is held until the response has been passed on (or dropped for a retry).
      cluster.active.set(endpoint.id, (cluster.active.get(endpoint.id) ?? 0) + 1);
      try {
        const perTry = route.retries.perTryTimeoutMs === undefined ? undefined : AbortSignal.timeout(route.retries.perTryTimeoutMs);
        const signal = perTry ? AbortSignal.any([routeSignal, perTry]) : routeSignal;
        let outcome: AttemptOutcome;
        let response: Awaited<ReturnType<Pool["request"]>> | undefined;
        try {
          response = await cluster.pool(endpoint).request({ path: request.path, method: request.method as "GET", headers, body: body.length > 0 ? body : null, signal });
          outcome = { kind: "response", status: response.statusCode };
        } catch (error) {
          const code = (error as { code?: string }).code ?? "";
          if (perTry?.aborted && !routeSignal.aborted) outcome = { kind: "per-try-timeout" };
          else if (signal.aborted) outcome = { kind: "reset" };
          else if (code === "ECONNREFUSED" || code === "UND_ERR_CONNECT_TIMEOUT") outcome = { kind: "connect-failure" };
          else outcome = { kind: "reset" };
        }
        cluster.outlier?.record(endpoint.id, countsAsError(outcome), this.#options.now(), this.#clusterSize(cluster));

        if (timedOut()) {
          await response?.body.dump().catch(() => undefined);
          return this.#reply(res, 504, TIMEOUT_BODY);
        }
        if (clientGone.signal.aborted) return;
        if (!shouldRetry(route.retries, attempt, outcome)) return await this.#respond(res, outcome, response);
        await response?.body.dump().catch(() => undefined);
      } finally {
        cluster.active.set(endpoint.id, (cluster.active.get(endpoint.id) ?? 1) - 1);
        release();
      }
      const waited = await sleep(retryBackoffMs(attempt, this.#options.random()), undefined, { signal: routeSignal }).then(
        () => true,
        () => false,
      );
      if (!waited) return timedOut() ? this.#reply(res, 504, TIMEOUT_BODY) : undefined;
    }
  }

  /** Passes the final try's answer to the client, or the error Envoy would send for it. */
  async #respond(res: ServerResponse, outcome: AttemptOutcome, response: Awaited<ReturnType<Pool["request"]>> | undefined): Promise<void> {
    if (response) {
      const out: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(response.headers)) {
        if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = value;
      }
      res.writeHead(response.statusCode, out);
      return pipeline(response.body, res);
    }
    if (outcome.kind === "per-try-timeout") return this.#reply(res, 504, TIMEOUT_BODY);
    const reason = outcome.kind === "connect-failure" ? "connection failure" : "connection termination";
    this.#reply(res, 503, `upstream connect error or disconnect/reset before headers. reset reason: ${reason}`);
  }
}
