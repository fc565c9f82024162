// Envoy's HTTP/1.1 connection pools and circuit breakers for one cluster of
// one proxy, as counters: no sockets. A request needs a connection of its own
// (HTTP/1.1 carries one request at a time); pools are per worker thread and
// per host, the limits (tcp.maxConnections, http.http1MaxPendingRequests) are
// shared by the whole cluster, and a pool that has no connection at all may
// always open one, even at the limit. A request that finds every connection
// busy and cannot open one waits as pending; with the pending queue full it
// overflows.
import type { ConnectionPool } from "./model.ts";

export class Overflow extends Error {}

interface Connection {
  busy: boolean;
  requests: number;
}

interface Waiter {
  pool: Connection[];
  wake: (connection: Connection) => void;
}

export class ConnectionPools {
  readonly #limits: ConnectionPool;
  /** Per worker and host. */
  readonly #pools = new Map<string, Connection[]>();
  readonly #waiting: Waiter[] = [];
  #open = 0;

  constructor(limits: ConnectionPool) {
    this.#limits = limits;
  }

  /** Connections open across the cluster (for tests and explanations). */
  get open(): number {
    return this.#open;
  }

  get pending(): number {
    return this.#waiting.length;
  }

  #pool(worker: number, host: string): Connection[] {
    const key = `${worker} ${host}`;
    let pool = this.#pools.get(key);
    if (!pool) this.#pools.set(key, (pool = []));
    return pool;
  }

  /**
   * Takes a connection to `host` on `worker`: an idle one, a new one, or the
   * next to free up. Throws Overflow when it would have to wait and the
   * pending queue is full. Resolves to the release function.
   */
  async acquire(worker: number, host: string, signal: AbortSignal): Promise<() => void> {
    const pool = this.#pool(worker, host);
    const idle = pool.find((c) => !c.busy);
    let connection: Connection;
    if (idle) connection = idle;
    else if (pool.length === 0 || this.#open < (this.#limits.maxConnections ?? Infinity)) {
      connection = { busy: false, requests: 0 };
      pool.push(connection);
      this.#open++;
    } else {
      if (this.#waiting.length >= (this.#limits.http1MaxPendingRequests ?? Infinity)) throw new Overflow();
      connection = await new Promise<Connection>((resolve, reject) => {
        const waiter: Waiter = {
          pool,
          wake: (c) => {
            signal.removeEventListener("abort", onAbort);
            resolve(c);
          },
        };
        const onAbort = () => {
          this.#waiting.splice(this.#waiting.indexOf(waiter), 1);
          reject(signal.reason);
        };
        this.#waiting.push(waiter);
        signal.addEventListener("abort", onAbort, { once: true });
      });
    }
    connection.busy = true;
    connection.requests++;
    return () => this.#release(pool, connection);
  }

  #release(pool: Connection[], connection: Connection): void {
    connection.busy = false;
    const perConnection = this.#limits.maxRequestsPerConnection;
    let next: Connection | undefined = connection;
    if (perConnection !== undefined && connection.requests >= perConnection) {
      pool.splice(pool.indexOf(connection), 1);
      this.#open--;
      next = undefined;
    }
    // The first request waiting for this pool gets the connection; with it closed, a new one if one may open.
    const index = this.#waiting.findIndex((w) => w.pool === pool);
    if (index === -1) return;
    if (next === undefined) {
      if (pool.length > 0 && this.#open >= (this.#limits.maxConnections ?? Infinity)) return;
      next = { busy: false, requests: 0 };
      pool.push(next);
      this.#open++;
    }
    const [waiter] = this.#waiting.splice(index, 1);
    next.busy = true;
    waiter!.wake(next);
  }
}
