// ztunnel in the mesh preview: the node proxy of ambient mode, at L4. One TCP
// listener per Service stands for the Service's address; each connection is
// sent, whole, to one place chosen when it opens: the Service's waypoint when
// the Service is enrolled with one, else one ready pod at random
// (istio/ztunnel src/proxy/outbound.rs build_request, src/state.rs
// load_balance). It reads no byte of HTTP, so no header, route or request-level
// balancing reaches it: every request on a keep-alive connection lands on the
// same pod.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { pipeline } from "node:stream/promises";
import { request as undiciRequest, type Dispatcher } from "undici";
import { labelsMatch } from "../core/kustomize.ts";
import { ztunnelPick } from "./ambient.ts";
import type { Endpoints } from "./endpoints.ts";
import type { MeshService } from "./model.ts";
import type { Decision } from "./proxy.ts";

export interface ZtunnelOptions {
  endpoints: Endpoints;
  /** The Service a pod of `namespace` reaches under `host`, if any (for a pod's own calls). */
  findService?: (host: string, namespace: string) => MeshService | undefined;
  /** Where a destination outside the registry goes: ztunnel passes it through. */
  outsideUrl?: string;
  /** The waypoint's listener for a Service enrolled with one, and its name for explanations. */
  waypointFor: (host: string) => { url: string; name: string } | undefined;
  random?: () => number;
  onDecision?: (decision: Decision) => void;
}

/** Where a connection goes: a host and port on 127.0.0.1, and how to explain it. */
interface Target {
  port: number;
  destination: string;
  notes: string[];
}

export class Ztunnel {
  readonly #o: ZtunnelOptions;
  readonly #servers: Server[] = [];
  readonly #sockets = new Set<Socket>();

  constructor(options: ZtunnelOptions) {
    this.#o = options;
  }

  /** Where a new connection to `service` goes, or undefined when the Service has no ready pod (the connection is then refused). */
  target(service: MeshService): Target | undefined {
    const waypoint = this.#o.waypointFor(service.host);
    if (waypoint)
      return {
        port: portOf(waypoint.url),
        destination: `waypoint ${waypoint.name}`,
        notes: [`Service ${service.name} is enrolled with it`],
      };
    const selector = service.selector;
    if (!selector) return undefined;
    const pods = this.#o.endpoints
      .all()
      .filter((e) => e.namespace === service.namespace && labelsMatch(selector, e.labels));
    const pod = ztunnelPick(pods, this.#o.random ?? Math.random);
    return (
      pod && { port: portOf(pod.url), destination: pod.id, notes: ["L4: every request on this connection goes there"] }
    );
  }

  /** Opens the listener that stands for `service`'s address; resolves with its URL. */
  async listen(service: MeshService): Promise<string> {
    const server = createServer((client) => this.#carry(client, service));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#servers.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  #carry(client: Socket, service: MeshService): void {
    this.#track(client);
    const target = this.target(service);
    const record = (status: number, destination?: string, notes: string[] = []) =>
      this.#o.onDecision?.(connectionDecision(status, notes, destination));
    if (!target) {
      record(0, undefined, [`no ready pod of Service ${service.name}: connection reset`]);
      client.destroy();
      return;
    }
    record(0, target.destination, target.notes);
    const upstream = this.#track(connect(target.port, "127.0.0.1"));
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
  }

  /**
   * A pod's own calls (flaskapp's /fetch, through its FETCH_PROXY): one listener per pod. The app
   * names its target in the request line (absolute form), which stands for the destination
   * address ztunnel captures; ztunnel reads nothing else. Each client connection keeps the
   * place chosen for a Service the first time it is called on it: the Service's waypoint, or one
   * ready pod; a host outside the registry is passed through.
   */
  async listenOutbound(namespace: string): Promise<string> {
    const pinned = new WeakMap<Socket, Map<string, Target>>();
    const server = createHttpServer((req, res) => {
      this.#outbound(req, res, namespace, pinned).catch((error: unknown) => {
        if (!res.headersSent)
          res
            .writeHead(502, { "content-type": "text/plain" })
            .end(`mesh preview: ztunnel: ${(error as Error).message}`);
        else res.destroy();
      });
    });
    server.on("connection", (socket: Socket) => this.#track(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    this.#servers.push(server as unknown as Server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async #outbound(
    req: IncomingMessage,
    res: ServerResponse,
    namespace: string,
    pinned: WeakMap<Socket, Map<string, Target>>,
  ): Promise<void> {
    const url = new URL(req.url ?? "/", "http://invalid");
    if (url.hostname === "invalid") throw new Error("a pod's call must name its target (absolute form)");
    const service = this.#o.findService?.(url.host, namespace);
    let target: Target | undefined;
    if (!service) {
      if (!this.#o.outsideUrl) throw new Error(`no route to ${url.host}`);
      target = {
        port: portOf(this.#o.outsideUrl),
        destination: url.host,
        notes: ["not in the registry: passed through"],
      };
    } else {
      const byService = pinned.get(req.socket) ?? new Map<string, Target>();
      pinned.set(req.socket, byService);
      target = byService.get(service.host);
      if (!target) {
        target = this.target(service);
        if (target) {
          byService.set(service.host, target);
          this.#o.onDecision?.(connectionDecision(0, target.notes, target.destination));
        }
      }
    }
    if (!target) {
      res.writeHead(503, { "content-type": "text/plain" }).end("");
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined && !["connection", "keep-alive", "proxy-connection", "transfer-encoding"].includes(name))
        headers[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    headers.host = url.host;
    const upstream = await undiciRequest(`http://127.0.0.1:${target.port}${url.pathname}${url.search}`, {
      method: (req.method ?? "GET") as Dispatcher.HttpMethod,
      headers,
      body: req.method === "GET" || req.method === "HEAD" ? null : req,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(upstream.headers)) {
      if (value !== undefined && !["connection", "keep-alive", "transfer-encoding"].includes(name))
        out[name] = Array.isArray(value) ? value.join(", ") : value;
    }
    res.writeHead(upstream.statusCode, out);
    await pipeline(upstream.body, res);
  }

  #track(socket: Socket): Socket {
    this.#sockets.add(socket);
    socket.on("close", () => this.#sockets.delete(socket));
    return socket;
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** ztunnel's decision for one connection: where it went; no request, so no path, status or tries. */
function connectionDecision(status: number, notes: string[], destination: string | undefined): Decision {
  return {
    proxy: "ztunnel",
    rule: "connection",
    status,
    notes,
    kind: "connection",
    at: Date.now(),
    path: "",
    attempts: [],
    ejected: [],
    ...(destination ? { destination } : {}),
  };
}

function portOf(url: string): number {
  return Number(new URL(url).port);
}
