// The live view's graph: the nodes come from the mesh configuration (the
// client, gateways, Services, DestinationRule subsets, pods), the edges from
// the proxies' own decisions (mesh/proxy.ts Decision), each drawn as hops
// client → Service → subset → pod. Pure: the server feeds it decisions and
// asks for snapshots; nothing here does I/O.
import type { MeshConfig } from "../mesh/model.ts";
import type { Decision, DecisionKind } from "../mesh/proxy.ts";

export type NodeKind = "client" | "gateway" | "workload" | "service" | "external" | "unregistered" | "subset" | "pod";

export interface GraphNode {
  id: string;
  kind: NodeKind;
  label: string;
  /** The Service host a subset or Service node stands for. */
  host?: string;
  namespace?: string;
}

/** How an edge's requests were carried: plain traffic, or something the learner should see apart. */
export type EdgeKind = DecisionKind | "retry";

export type StatusClass = "2xx" | "3xx" | "4xx" | "5xx" | "reset";

export interface EdgeStats {
  id: string;
  from: string;
  to: string;
  kind: EdgeKind;
  requests: number;
  /** Requests per second over the last RATE_WINDOW_MS. */
  rps: number;
  /** This edge's requests as a share (0–100) of the plain and local requests leaving its source. */
  share: number;
  statuses: Record<StatusClass, number>;
  /** A sidecar reply's reason (the last one seen): overflow, no healthy upstream, unregistered host, … */
  reason?: string;
}

export interface PodState {
  ready: boolean;
  /** Until when the outlier detector has ejected it (ms since the epoch), if it has now. */
  ejectedUntil?: number;
}

export interface Snapshot {
  at: number;
  nodes: Array<GraphNode & { ready?: boolean; ejected?: boolean; ejectedUntil?: number }>;
  edges: EdgeStats[];
  links: Link[];
  /** Every decision seen since the view started. */
  decisions: number;
}

export interface Workloads {
  /** The client proxy's name (sleep). */
  client: string;
  gateways: Array<{ name: string; endpoint: string; namespace: string }>;
  pods: Array<{ name: string; deployment: string; namespace: string; labels: Record<string, string> }>;
}

export const RATE_WINDOW_MS = 5_000;
/** Decisions kept per node and per edge for "why". */
export const KEPT_PER_ITEM = 20;

export const nodeId = {
  workload: (name: string) => `w:${name}`,
  service: (host: string) => `s:${host}`,
  subset: (host: string, subset: string) => `ss:${host}|${subset}`,
  pod: (name: string) => `p:${name}`,
};

function shortHost(host: string): string {
  return host.endsWith(".svc.cluster.local") ? host.split(".").slice(0, 2).join(".") : host;
}

/** A pod's name on two lines, its Deployment's name first: long names would run into the edges' labels. */
function podLabel(name: string): string {
  const parts = name.split("-");
  return parts.length > 2 ? `${parts.slice(0, -2).join("-")}\n${parts.slice(-2).join("-")}` : name;
}

/** The nodes the configuration gives before any request: what the learner's render deploys. */
export function configNodes(config: MeshConfig, workloads: Workloads): GraphNode[] {
  const nodes: GraphNode[] = [{ id: nodeId.workload(workloads.client), kind: "client", label: workloads.client }];
  for (const gw of workloads.gateways)
    nodes.push({ id: nodeId.workload(gw.name), kind: "gateway", label: gw.name, namespace: gw.namespace });
  // Services in the lesson's namespace (the pods') by their name, as the sleep pod calls them; others as name.namespace.
  const home = workloads.pods[0]?.namespace;
  for (const service of config.services.values()) {
    // The client's own Service takes no part in the lessons' traffic (a request to it adds it).
    if (service.name === workloads.client && service.namespace === home) continue;
    const label =
      service.kind === "external" ? service.host : service.namespace === home ? service.name : shortHost(service.host);
    nodes.push({
      id: nodeId.service(service.host),
      kind: service.kind === "external" ? "external" : "service",
      label,
      host: service.host,
      namespace: service.namespace,
    });
    for (const subset of config.destinations.get(service.host)?.subsets.values() ?? []) {
      nodes.push({
        id: nodeId.subset(service.host, subset.name),
        kind: "subset",
        label: `${service.name} ${subset.name}`,
        host: service.host,
        namespace: service.namespace,
      });
    }
  }
  for (const pod of workloads.pods)
    nodes.push({ id: nodeId.pod(pod.name), kind: "pod", label: podLabel(pod.name), namespace: pod.namespace });
  return nodes;
}

/** Who may call whom by the configuration, drawn faintly before any traffic (and what the layout follows). */
export interface Link {
  from: string;
  to: string;
}

export function configLinks(config: MeshConfig, workloads: Workloads): Link[] {
  const links: Link[] = [];
  const gatewayHosts = new Map(workloads.gateways.map((g) => [`${g.name}.${g.namespace}.svc.cluster.local`, g.name]));
  for (const service of config.services.values()) {
    if (service.kind !== "kubernetes") continue;
    const from = nodeId.service(service.host);
    // The client calls every Service but its own.
    if (service.name !== workloads.client) links.push({ from: nodeId.workload(workloads.client), to: from });
    const gateway = gatewayHosts.get(service.host);
    if (gateway !== undefined) {
      links.push({ from, to: nodeId.workload(gateway) });
      continue;
    }
    const selector = service.selector;
    if (!selector) continue;
    const selects = (labels: Record<string, string>, pod: Workloads["pods"][number]) =>
      pod.namespace === service.namespace &&
      Object.entries({ ...selector, ...labels }).every(([k, v]) => pod.labels[k] === v);
    const subsets = [...(config.destinations.get(service.host)?.subsets.values() ?? [])];
    if (subsets.length === 0) {
      for (const pod of workloads.pods) if (selects({}, pod)) links.push({ from, to: nodeId.pod(pod.name) });
    }
    for (const subset of subsets) {
      const sub = nodeId.subset(service.host, subset.name);
      links.push({ from, to: sub });
      for (const pod of workloads.pods)
        if (selects(subset.labels, pod)) links.push({ from: sub, to: nodeId.pod(pod.name) });
    }
  }
  // A pod's outbound calls are its Deployment's sidecars' (one proxy name for all its pods): drawn once it calls out.
  for (const pod of workloads.pods) links.push({ from: nodeId.pod(pod.name), to: nodeId.workload(pod.deployment) });
  return links;
}

export function statusClass(status: number): StatusClass {
  if (status === 0) return "reset";
  if (status >= 500) return "5xx";
  if (status >= 400) return "4xx";
  if (status >= 300) return "3xx";
  return "2xx";
}

/** Why a proxy answered a request itself, in a few words for an edge's label. */
export function localReason(d: Decision): string | undefined {
  if (d.kind === "fault") return "fault abort";
  if (d.kind !== "local") return undefined;
  if (d.notes.some((n) => n.startsWith("overflow"))) return "overflow";
  if (d.notes.some((n) => n.startsWith("no cluster for subset"))) return "no such subset";
  if (d.notes.some((n) => n.startsWith("redirect"))) return "redirect";
  if (d.rule.startsWith("outbound REGISTRY_ONLY")) return "unregistered host";
  if (d.rule.includes("no route") || d.rule.includes("no Gateway route")) return "no route";
  if (d.status === 503) return "no healthy upstream";
  return undefined;
}

export interface Hop {
  from: string;
  to: string;
  kind: EdgeKind;
  status: number;
}

/**
 * The hops one decision takes: from the deciding proxy to the host; then, for
 * a request sent upstream (or a mirrored copy), through the subset to each
 * endpoint tried (tries after the first are retries). Endpoints map to nodes
 * with `endpointNode` (a pod, a gateway); the outside world ends at its host.
 */
export function decisionHops(d: Decision, endpointNode: (endpoint: string) => string | undefined): Hop[] {
  if (d.host === undefined) return [];
  const source = nodeId.workload(d.proxy);
  const service = nodeId.service(d.host);
  const hops: Hop[] = [{ from: source, to: service, kind: d.kind, status: d.status }];
  if (d.kind !== "route" && d.kind !== "mirror") return hops;
  let last = service;
  if (d.subset !== undefined) {
    last = nodeId.subset(d.host, d.subset);
    hops.push({ from: service, to: last, kind: d.kind, status: d.status });
  }
  d.attempts.forEach((attempt, i) => {
    const to = endpointNode(attempt.endpoint);
    if (to !== undefined) hops.push({ from: last, to, kind: i === 0 ? d.kind : "retry", status: attempt.status });
  });
  return hops;
}

/** A decision as one line: proxy, rule path, where it went (each try), status. */
export function describeDecision(d: Decision): string {
  const tries =
    d.attempts.length > 1 || d.kind === "mirror"
      ? ` via ${d.attempts.map((a) => `${a.endpoint} ${a.status || "reset"}`).join(" → ")}`
      : d.attempts.length === 1
        ? ` via ${d.attempts[0]!.endpoint}`
        : "";
  const notes = d.notes.length > 0 ? ` (${d.notes.join("; ")})` : "";
  const ejected = d.ejected.length > 0 ? `; ejected ${d.ejected.map((e) => e.endpoint).join(", ")}` : "";
  return `${new Date(d.at).toISOString().slice(11, 23)} ${d.kind === "route" ? "" : `[${d.kind}] `}${d.proxy}: ${d.path} · ${d.rule}${d.destination ? ` → ${d.destination}` : ""}${tries}${notes} → ${d.status || "reset"}${ejected}`;
}

interface EdgeState {
  from: string;
  to: string;
  kind: EdgeKind;
  requests: number;
  /** When each request in the rate window was decided. */
  times: number[];
  statuses: Record<StatusClass, number>;
  reason?: string;
}

function pushBounded<T>(list: T[], item: T, max: number): void {
  list.push(item);
  if (list.length > max) list.splice(0, list.length - max);
}

/** Traffic seen by the view: edges with their counts, and the last decisions through each node and edge. */
export class Traffic {
  readonly #nodes = new Map<string, GraphNode>();
  readonly #edges = new Map<string, EdgeState>();
  readonly #recent = new Map<string, Decision[]>();
  readonly #ejected = new Map<string, number>();
  readonly #endpointNode: (endpoint: string) => string | undefined;
  readonly #links: Link[];
  #decisions = 0;

  constructor(nodes: GraphNode[], workloads: Workloads, links: Link[] = []) {
    this.#links = links;
    for (const node of nodes) this.#nodes.set(node.id, node);
    const gateways = new Map(workloads.gateways.map((g) => [g.endpoint, nodeId.workload(g.name)]));
    this.#endpointNode = (endpoint) =>
      gateways.get(endpoint) ??
      (this.#nodes.get(nodeId.pod(endpoint))?.kind === "pod" ? nodeId.pod(endpoint) : undefined);
  }

  get nodes(): GraphNode[] {
    return [...this.#nodes.values()];
  }

  /** Adds a pod that started after the view (a replacement). */
  addPod(name: string, namespace: string): void {
    if (!this.#nodes.has(nodeId.pod(name)))
      this.#nodes.set(nodeId.pod(name), { id: nodeId.pod(name), kind: "pod", label: podLabel(name), namespace });
  }

  record(d: Decision): void {
    this.#decisions++;
    this.#ensureNodes(d);
    const touched = new Set<string>();
    for (const hop of decisionHops(d, this.#endpointNode)) {
      const id = `${hop.from}>${hop.to}>${hop.kind}`;
      let edge = this.#edges.get(id);
      if (!edge)
        this.#edges.set(
          id,
          (edge = {
            from: hop.from,
            to: hop.to,
            kind: hop.kind,
            requests: 0,
            times: [],
            statuses: { "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0, reset: 0 },
          }),
        );
      edge.requests++;
      edge.statuses[statusClass(hop.status)]++;
      const reason = localReason(d);
      if (reason !== undefined && hop.kind === d.kind) edge.reason = reason;
      pushBounded(edge.times, d.at, 100_000);
      for (const item of [id, hop.from, hop.to]) touched.add(item);
    }
    touched.add(nodeId.workload(d.proxy));
    for (const item of touched) {
      let list = this.#recent.get(item);
      if (!list) this.#recent.set(item, (list = []));
      pushBounded(list, d, KEPT_PER_ITEM);
    }
    for (const e of d.ejected) {
      const node = this.#endpointNode(e.endpoint);
      if (node) this.#ejected.set(node, Math.max(e.until, this.#ejected.get(node) ?? 0));
    }
  }

  /** Nodes a decision names that the configuration did not: an unregistered or passthrough host, a proxy not seen before. */
  #ensureNodes(d: Decision): void {
    const source = nodeId.workload(d.proxy);
    if (!this.#nodes.has(source)) this.#nodes.set(source, { id: source, kind: "workload", label: d.proxy });
    if (d.host !== undefined && !this.#nodes.has(nodeId.service(d.host))) {
      // A host the proxy could not send on (502 unregistered, no route at a gateway), or one it passed through.
      const kind: NodeKind = d.kind === "local" ? "unregistered" : "external";
      this.#nodes.set(nodeId.service(d.host), { id: nodeId.service(d.host), kind, label: d.host, host: d.host });
    }
    if (d.host !== undefined && d.subset !== undefined && !this.#nodes.has(nodeId.subset(d.host, d.subset))) {
      this.#nodes.set(nodeId.subset(d.host, d.subset), {
        id: nodeId.subset(d.host, d.subset),
        kind: "subset",
        label: `${shortHost(d.host).split(".")[0]} ${d.subset}`,
        host: d.host,
      });
    }
  }

  /** The last decisions through a node or an edge (newest last). */
  recent(id: string): Decision[] {
    return [...(this.#recent.get(id) ?? [])];
  }

  edge(id: string): { from: string; to: string; kind: EdgeKind } | undefined {
    const edge = this.#edges.get(id);
    return edge && { from: edge.from, to: edge.to, kind: edge.kind };
  }

  node(id: string): GraphNode | undefined {
    return this.#nodes.get(id);
  }

  snapshot(now: number, pods: ReadonlyMap<string, PodState>): Snapshot {
    const outOf = new Map<string, number>();
    for (const edge of this.#edges.values()) {
      if (edge.kind !== "mirror" && edge.kind !== "retry")
        outOf.set(edge.from, (outOf.get(edge.from) ?? 0) + edge.requests);
    }
    const edges = [...this.#edges].map(([id, edge]): EdgeStats => {
      const since = now - RATE_WINDOW_MS;
      // Decisions arrive about in time order, not exactly (a mirrored copy's comes when it ends): filter, not shift.
      if (edge.times.some((t) => t < since)) edge.times = edge.times.filter((t) => t >= since);
      const total = outOf.get(edge.from) ?? 0;
      return {
        id,
        from: edge.from,
        to: edge.to,
        kind: edge.kind,
        requests: edge.requests,
        rps: Math.round((edge.times.length * 10_000) / RATE_WINDOW_MS) / 10,
        share: total === 0 ? 0 : Math.round((edge.requests * 1000) / total) / 10,
        statuses: { ...edge.statuses },
        ...(edge.reason !== undefined ? { reason: edge.reason } : {}),
      };
    });
    const nodes = this.nodes.map((node) => {
      if (node.kind !== "pod" && node.kind !== "gateway") return node;
      const state = pods.get(node.id);
      const until = this.#ejected.get(node.id) ?? 0;
      return {
        ...node,
        ...(state ? { ready: state.ready } : {}),
        ...(until > now ? { ejected: true, ejectedUntil: until } : {}),
      };
    });
    return { at: now, nodes, edges, links: this.#links, decisions: this.#decisions };
  }
}
