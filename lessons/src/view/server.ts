// The live view's server: serves the page (bundled into dist/view by the
// build) and its API on 127.0.0.1 only, streams graph snapshots with
// server-sent events as the mesh's proxies decide, explains a node or edge,
// sends traffic with tally and runs the lesson's checks. Page input never
// reaches a shell: tally is spawned with an argument list.
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { withLessonVars, type Check } from "../checks/checks.ts";
import { previewRunner, runTally } from "../checks/preview.ts";
import { runCheck } from "../checks/run-check.ts";
import type { K8sObject } from "../core/kustomize.ts";
import { TALLY_BUNDLE } from "../core/paths.ts";
import { formatCommand } from "../core/shell.ts";
import { gatewayEndpointId, type Mesh } from "../mesh/mesh.ts";
import { configLinks, configNodes, describeDecision, nodeId, Traffic, type PodState, type Workloads } from "./graph.ts";
import { InputError, parseSendRequest, SEND_LIMITS, sendTallyArgs } from "./input.ts";
import { rulesAt, rulesYaml } from "./rules.ts";

export interface ViewOptions {
  mesh: Mesh;
  objects: K8sObject[];
  lesson: string;
  summary?: string | undefined;
  checks: Check[];
  /** The directory holding the built page (index.html, view.js). */
  assets: string;
  /** 0 (the default): any free port. */
  port?: number;
  tallyBundle?: string;
}

export interface View {
  /** http://127.0.0.1:PORT/ */
  url: string;
  close(): Promise<void>;
}

/** How often snapshots are pushed while traffic flows, and at most how long an idle page waits for one (rates decay, ejections end). */
export const PUSH_INTERVAL_MS = 100;
export const IDLE_PUSH_MS = 1_000;
/** Sends from the page that may run at once; more get 429. */
export const MAX_SENDS = 2;
/** Open event streams; more get 503 (each page holds one). */
export const MAX_STREAMS = 16;

const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: "index.html", type: "text/html; charset=utf-8" },
  "/view.js": { file: "view.js", type: "text/javascript; charset=utf-8" },
};

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "cache-control": "no-store",
  // The page loads nothing but itself and talks only to this server.
  "content-security-policy":
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
};

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

function workloadsOf(mesh: Mesh): Workloads {
  return {
    client: mesh.clientName,
    gateways: mesh.config.gatewayDeployments.map((g) => ({
      name: g.name,
      endpoint: gatewayEndpointId(g.name),
      namespace: g.namespace,
    })),
    pods: mesh.pods.map((p) => ({ name: p.name, deployment: p.deployment, namespace: p.namespace, labels: p.labels })),
  };
}

/** The Services the page may send to, as the sleep pod names them. */
function serviceNames(mesh: Mesh): string[] {
  const home = mesh.config.services.get(mesh.service)!.namespace;
  return [...mesh.config.services.values()]
    .filter((s) => s.kind === "kubernetes")
    .map((s) => (s.namespace === home ? s.name : `${s.name}.${s.namespace}`));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  if (!/^application\/json\b/.test(req.headers["content-type"] ?? ""))
    throw new HttpError(415, "expected Content-Type: application/json");
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > SEND_LIMITS.bodyBytes) throw new HttpError(413, `request body over ${SEND_LIMITS.bodyBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch {
    throw new InputError("the body is not JSON");
  }
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** Starts the view of a running mesh on 127.0.0.1. */
export async function startView(o: ViewOptions): Promise<View> {
  const { mesh, objects } = o;
  const tallyBundle = o.tallyBundle ?? TALLY_BUNDLE;
  const workloads = workloadsOf(mesh);
  const traffic = new Traffic(configNodes(mesh.config, workloads), workloads, configLinks(mesh.config, workloads));
  const gatewayLabels = new Map(mesh.config.gatewayDeployments.map((g) => [g.name, g.labels]));
  const services = serviceNames(mesh);
  const checks = withLessonVars(o.checks, objects);
  const streams = new Set<ServerResponse>();
  let dirty = true;
  let lastPush = 0;
  let sending = 0;
  let checking = false;

  const stopWatching = mesh.watchDecisions((d) => {
    traffic.record(d);
    dirty = true;
  });

  const podStates = (): Map<string, PodState> => {
    const ready = new Map(mesh.endpoints.all().map((e) => [e.id, e.ready]));
    const states = new Map<string, PodState>();
    for (const pod of mesh.pods) {
      traffic.addPod(pod.name, pod.namespace);
      states.set(nodeId.pod(pod.name), { ready: ready.get(pod.name) ?? false });
    }
    for (const g of workloads.gateways) states.set(nodeId.workload(g.name), { ready: ready.get(g.endpoint) ?? false });
    return states;
  };
  const snapshot = () => traffic.snapshot(Date.now(), podStates());

  const push = () => {
    const now = Date.now();
    if (streams.size === 0 || (!dirty && now - lastPush < IDLE_PUSH_MS)) return;
    dirty = false;
    lastPush = now;
    const frame = `event: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`;
    for (const res of streams) res.write(frame);
  };
  const pusher = setInterval(push, PUSH_INTERVAL_MS);

  const meta = () => ({
    lesson: o.lesson,
    summary: o.summary ?? "",
    services,
    defaultService: checks[0]?.service ?? services[0],
    defaultPath: checks[0]?.path ?? "/env/version",
    defaultHeaders: Object.entries(checks[0]?.headers ?? {}),
    checks: checks.map((c) => c.name),
    limits: SEND_LIMITS,
    urls: Object.fromEntries(services.map((s) => [s, mesh.localUrl(`http://${s}/`).replace(/\/$/, "")])),
  });

  const why = (id: string) => {
    const edge = traffic.edge(id);
    const node = traffic.node(edge ? edge.to : id);
    if (!node) throw new HttpError(404, `no node or edge ${JSON.stringify(id.slice(0, 200))}`);
    const source = edge ? traffic.node(edge.from) : undefined;
    const rules = rulesAt(node, objects, workloadsOf(mesh), gatewayLabels);
    // For an edge from a proxy, the rules its sidecar applies too (a Sidecar, sourceLabels routes).
    const fromRules = source
      ? rulesAt(source, objects, workloadsOf(mesh), gatewayLabels).filter((r) => !rules.includes(r))
      : [];
    return {
      id,
      title: edge
        ? `${source?.label ?? edge.from} → ${node.label}${edge.kind === "route" ? "" : ` (${edge.kind})`}`
        : `${node.label} (${node.kind})`,
      rules: rulesYaml([...rules, ...fromRules]),
      decisions: traffic.recent(id).reverse().map(describeDecision),
    };
  };

  const send = async (body: unknown) => {
    const request = parseSendRequest(body, services);
    if (sending >= MAX_SENDS)
      throw new HttpError(429, `${MAX_SENDS} sends are already running; wait for one to finish`);
    sending++;
    try {
      const args = sendTallyArgs(request);
      const run = await runTally([...args.slice(0, -1), mesh.localUrl(args.at(-1)!)], tallyBundle);
      return { command: formatCommand(["tally", ...args]), code: run.code, output: run.stdout, errors: run.stderr };
    } finally {
      sending--;
    }
  };

  const runChecks = async () => {
    if (checking) throw new HttpError(409, "the checks are already running");
    checking = true;
    try {
      const runner = previewRunner(mesh, objects, tallyBundle);
      const results = [];
      for (const check of checks) {
        let output = "";
        const result = await runCheck(check, runner, { write: (t) => void (output += t) });
        results.push({
          name: check.name,
          passed: result.passed,
          output,
          ...(result.detail ? { detail: result.detail } : {}),
        });
      }
      return { results };
    } finally {
      checking = false;
    }
  };

  let origin = "";
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // DNS rebinding: a page from another site that resolves its name to 127.0.0.1 sends its own Host.
    if (req.headers.host !== origin.slice("http://".length))
      throw new HttpError(403, `Host ${JSON.stringify(req.headers.host ?? "")} refused: use ${origin}/`);
    const url = new URL(req.url ?? "/", origin);
    if (req.method === "POST") {
      if (req.headers.origin !== undefined && req.headers.origin !== origin)
        throw new HttpError(403, `Origin ${JSON.stringify(req.headers.origin)} refused`);
      if (url.pathname === "/api/send") return sendJson(res, 200, await send(await readJson(req)));
      if (url.pathname === "/api/checks") return sendJson(res, 200, await runChecks());
      throw new HttpError(404, `no ${url.pathname}`);
    }
    if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, `${req.method} not allowed`);
    const asset = ASSETS[url.pathname];
    if (asset) {
      const body = await readFile(join(o.assets, asset.file)).catch(() => {
        throw new HttpError(500, `${join(o.assets, asset.file)} is missing: run \`npm run build\``);
      });
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": asset.type, "content-length": body.length });
      return res.end(req.method === "HEAD" ? undefined : body);
    }
    if (url.pathname === "/api/meta") return sendJson(res, 200, meta());
    if (url.pathname === "/api/graph") return sendJson(res, 200, snapshot());
    if (url.pathname === "/api/why") {
      const id = url.searchParams.get("id") ?? "";
      if (id.length === 0 || id.length > 1024)
        throw new InputError("id: expected a node or edge id of 1 to 1024 characters");
      return sendJson(res, 200, why(id));
    }
    if (url.pathname === "/api/events") {
      if (streams.size >= MAX_STREAMS) throw new HttpError(503, `${MAX_STREAMS} pages are already watching`);
      res.writeHead(200, { ...SECURITY_HEADERS, "content-type": "text/event-stream", connection: "keep-alive" });
      res.write(`retry: 1000\nevent: snapshot\ndata: ${JSON.stringify(snapshot())}\n\n`);
      streams.add(res);
      req.on("close", () => streams.delete(res));
      return;
    }
    throw new HttpError(404, `no ${url.pathname}`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof InputError ? 400 : 500;
      if (res.headersSent) return void res.destroy();
      sendJson(res, status, { error: (error as Error).message });
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 300_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port ?? 0, "127.0.0.1", () => resolve());
  });
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: `${origin}/`,
    async close() {
      clearInterval(pusher);
      stopWatching();
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
