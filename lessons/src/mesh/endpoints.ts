// The endpoints every proxy of the mesh preview sends to: pods (ready when
// their /readyz answers 200, polled like a kubelet readiness probe), gateway
// pods and the stand-in for the outside world (always ready).
import { setTimeout as sleep } from "node:timers/promises";
import type { ConnectionPool, Labels } from "./model.ts";
import { ConnectionPools } from "./connection-pool.ts";

export interface Endpoint {
  id: string;
  /** http://127.0.0.1:PORT */
  url: string;
  labels: Labels;
  namespace: string;
  /** The pod's ServiceAccount: its mesh identity, shown in x-forwarded-client-cert. */
  serviceAccount?: string;
  /** Whether a server-side sidecar sits in front of it (pods); not the outside world. */
  sidecar: boolean;
  ready: boolean;
}

export class Endpoints {
  readonly #endpoints = new Map<string, Endpoint & { probe: boolean }>();
  readonly #inbound = new Map<string, ConnectionPools>();
  readonly #intervalMs: number;
  #poller: NodeJS.Timeout | undefined;
  #polling = false;

  constructor(readinessIntervalMs = 100) {
    this.#intervalMs = readinessIntervalMs;
    this.#poller = setInterval(() => void this.#pollAll(), readinessIntervalMs);
  }

  /** Adds an endpoint; with `probe`, it receives traffic once its /readyz answers 200, else at once. */
  add(endpoint: Omit<Endpoint, "ready">, probe: boolean): void {
    const entry = { ...endpoint, ready: !probe, probe };
    this.#endpoints.set(endpoint.id, entry);
    if (probe) void this.#probe(entry);
  }

  remove(id: string): void {
    this.#endpoints.delete(id);
    this.#inbound.delete(id);
  }

  /** The pod's server-side sidecar's connection pools to its app, shared by every client (created with the first limits asked for). */
  inboundPools(id: string, limits: ConnectionPool): ConnectionPools {
    let pools = this.#inbound.get(id);
    if (!pools) this.#inbound.set(id, (pools = new ConnectionPools(limits)));
    return pools;
  }

  all(): Endpoint[] {
    return [...this.#endpoints.values()];
  }

  /** The ids of the endpoints currently ready. */
  readyIds(): string[] {
    return this.all()
      .filter((e) => e.ready)
      .map((e) => e.id);
  }

  /** Resolves when `id` is ready, or rejects after `timeoutMs`. */
  async waitReady(id: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#endpoints.get(id)?.ready) {
      if (Date.now() > deadline) throw new Error(`${id} did not become ready within ${timeoutMs} ms`);
      await sleep(this.#intervalMs / 2);
    }
  }

  close(): void {
    clearInterval(this.#poller);
    this.#poller = undefined;
  }

  async #pollAll(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      await Promise.all(this.all().map((e) => this.#probe(e as Endpoint & { probe: boolean })));
    } finally {
      this.#polling = false;
    }
  }

  /** One readiness probe: GET /readyz, ready on 200, like a kubelet httpGet probe with failureThreshold 1. */
  async #probe(endpoint: Endpoint & { probe: boolean }): Promise<void> {
    if (!endpoint.probe) return;
    endpoint.ready = await fetch(`${endpoint.url}/readyz`, {
      signal: AbortSignal.timeout(Math.max(1000, this.#intervalMs)),
    })
      .then(async (r) => {
        await r.body?.cancel();
        return r.status === 200;
      })
      .catch(() => false);
  }
}
