// The live view's page: plain DOM and Cytoscape.js, bundled by scripts/build.ts
// into dist/view/view.js. It draws the snapshots the server streams
// (lessons/src/view/server.ts) and asks it for "why", traffic and checks.
import cytoscape, { type Core, type ElementDefinition, type StylesheetJson } from "cytoscape";
import type { EdgeStats, Snapshot } from "../graph.ts";

interface Meta {
  lesson: string;
  summary: string;
  services: string[];
  defaultService: string;
  defaultPath: string;
  defaultHeaders: Array<[string, string]>;
  checks: string[];
  limits: { count: { min: number; max: number }; concurrency: { min: number; max: number } };
  urls: Record<string, string>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

/** What the browser tests read: the graph, the last snapshot and when it was drawn. */
interface ViewState {
  cy: Core;
  snapshot?: Snapshot;
  firstRenderAt?: number;
  appliedAt: number;
  meta?: Meta;
}
declare global {
  interface Window {
    meshView: ViewState;
  }
}

const STYLE: StylesheetJson = [
  {
    selector: "node",
    style: {
      label: "data(label)",
      "font-size": 11,
      "text-valign": "bottom",
      "text-margin-y": 4,
      "background-color": "#8aa4c8",
      width: 26,
      height: 26,
      "text-wrap": "wrap",
      "text-max-width": "140px",
    },
  },
  { selector: "node.client", style: { shape: "round-rectangle", "background-color": "#1f5fbf" } },
  { selector: "node.gateway", style: { shape: "diamond", "background-color": "#00796b", width: 32, height: 32 } },
  { selector: "node.workload", style: { shape: "round-rectangle", "background-color": "#3d6fb6" } },
  { selector: "node.service", style: { shape: "triangle", "background-color": "#5c6bc0" } },
  { selector: "node.external", style: { shape: "hexagon", "background-color": "#8d6e63" } },
  {
    selector: "node.unregistered",
    style: {
      shape: "octagon",
      "background-color": "#fff",
      "border-width": 3,
      "border-color": "#b3261e",
      "border-style": "dashed",
    },
  },
  {
    selector: "node.subset",
    style: { shape: "round-rectangle", "background-color": "#9fa8da", width: 34, height: 20 },
  },
  { selector: "node.pod", style: { shape: "ellipse", "background-color": "#43a047" } },
  {
    selector: "node.unready",
    style: { opacity: 0.45, "border-width": 2, "border-style": "dotted", "border-color": "#555" },
  },
  {
    selector: "node.ejected",
    style: { "background-color": "#9e9e9e", "border-width": 3, "border-style": "dashed", "border-color": "#b3261e" },
  },
  { selector: "node:selected", style: { "border-width": 3, "border-color": "#ffbf47", "border-style": "solid" } },
  {
    selector: "edge",
    style: {
      width: 2,
      "curve-style": "bezier",
      "target-arrow-shape": "triangle",
      "line-color": "#2e7d32",
      "target-arrow-color": "#2e7d32",
      label: "data(label)",
      "font-size": 10,
      "text-rotation": "autorotate",
      "text-background-color": "#fff",
      "text-background-opacity": 0.85,
      "text-background-padding": "2px",
    },
  },
  {
    selector: "edge.link",
    style: {
      width: 1,
      "line-color": "#d5dae2",
      "target-arrow-color": "#d5dae2",
      "target-arrow-shape": "none",
      label: "",
    },
  },
  { selector: "edge.warn", style: { "line-color": "#d17a00", "target-arrow-color": "#d17a00" } },
  { selector: "edge.bad", style: { "line-color": "#b3261e", "target-arrow-color": "#b3261e" } },
  {
    selector: "edge.mirror",
    style: {
      "line-style": "dashed",
      "line-color": "#7b3fb5",
      "target-arrow-color": "#7b3fb5",
      "target-arrow-shape": "vee",
    },
  },
  {
    selector: "edge.retry",
    style: { "line-style": "dotted", width: 3, "line-color": "#d17a00", "target-arrow-color": "#d17a00" },
  },
  {
    selector: "edge.fault",
    style: {
      "line-style": "dashed",
      "line-color": "#b3261e",
      "target-arrow-color": "#b3261e",
      "target-arrow-shape": "tee",
    },
  },
  {
    selector: "edge.local",
    style: {
      "line-style": "dotted",
      width: 3,
      "line-color": "#b3261e",
      "target-arrow-color": "#b3261e",
      "target-arrow-shape": "square",
    },
  },
  { selector: "edge:selected", style: { width: 4, "overlay-opacity": 0.08 } },
];

const STATUS = ["2xx", "3xx", "4xx", "5xx", "reset"] as const;

function edgeLabel(e: EdgeStats): string {
  const statuses = STATUS.filter((s) => e.statuses[s] > 0)
    .map((s) => `${s} ${e.statuses[s]}`)
    .join(" ");
  const share = e.kind === "mirror" || e.kind === "retry" ? e.kind : `${e.share}%`;
  return `${e.rps}/s · ${share}${e.reason ? ` · ${e.reason}` : ""} · ${statuses}`;
}

function errorClass(e: EdgeStats): string {
  const bad = e.statuses["5xx"] + e.statuses.reset;
  if (bad === 0) return "";
  return bad * 5 >= e.requests ? "bad" : "warn";
}

const view: ViewState = {
  cy: cytoscape({ container: $("graph"), style: STYLE, minZoom: 0.3, maxZoom: 3 }),
  appliedAt: 0,
};
window.meshView = view;
let layoutKey = "";
let selected: string | undefined;
let explainedAt = 0;
/** How often the open "why" panel follows new decisions while traffic flows. */
const WHY_REFRESH_MS = 1_000;

function labelOf(id: string): string {
  return (view.cy.getElementById(id).data("label") as string | undefined) ?? id;
}

/**
 * Columns left to right, as a request travels (and as Kiali lays out its graph): the client;
 * the gateway's Service and the gateway, one row below the rest so that the client's direct
 * calls pass above them; Services; subsets; pods; workloads calling out; outside hosts.
 */
function column(node: Snapshot["nodes"][number], gatewayServices: ReadonlySet<string>): number {
  if (gatewayServices.has(node.id)) return 1;
  return { client: 0, gateway: 2, service: 3, subset: 4, pod: 5, workload: 6, external: 7, unregistered: 7 }[node.kind];
}

function relayout(snapshot: Snapshot): void {
  const key = snapshot.nodes.map((n) => n.id).join(",");
  if (key === layoutKey) return;
  layoutKey = key;
  const gateways = new Set(snapshot.nodes.filter((n) => n.kind === "gateway").map((n) => n.id));
  const gatewayServices = new Set(snapshot.links.filter((l) => gateways.has(l.to)).map((l) => l.from));
  const columns = new Map<number, string[]>();
  for (const node of [...snapshot.nodes].sort((a, b) => a.label.localeCompare(b.label))) {
    const c = column(node, gatewayServices);
    columns.set(c, [...(columns.get(c) ?? []), node.id]);
  }
  const used = [...columns.keys()].sort((a, b) => a - b);
  const below = gateways.size > 0 ? 1 : 0;
  const rows = Math.max(...[...columns].map(([c, ids]) => ids.length + (c === 1 || c === 2 ? below : 0)), 1) + below;
  const cells = new Map<string, { row: number; col: number }>();
  for (const [c, ids] of columns) {
    const space = c === 1 || c === 2 ? rows : rows - below;
    const first = c === 1 || c === 2 ? rows - ids.length : Math.floor((space - ids.length) / 2);
    for (const [i, id] of ids.entries()) cells.set(id, { row: first + i, col: used.indexOf(c) });
  }
  // Cytoscape's grid layout places each node in the cell given.
  view.cy
    .layout({
      name: "grid",
      rows,
      cols: used.length,
      position: (node: cytoscape.NodeSingular) => cells.get(node.id()) ?? { row: 0, col: 0 },
      avoidOverlap: true,
      padding: 24,
      animate: false,
      fit: true,
    } as cytoscape.LayoutOptions)
    .run();
}

function apply(snapshot: Snapshot): void {
  const cy = view.cy;
  const wanted: ElementDefinition[] = [
    ...snapshot.nodes.map((n) => ({
      group: "nodes" as const,
      data: {
        id: n.id,
        label: n.ejected ? `${n.label}\n(ejected)` : n.ready === false ? `${n.label}\n(not ready)` : n.label,
      },
      classes: [n.kind, n.ejected ? "ejected" : "", n.ready === false ? "unready" : ""].filter(Boolean).join(" "),
    })),
    ...snapshot.links.map((l) => ({
      group: "edges" as const,
      data: { id: `link:${l.from}>${l.to}`, source: l.from, target: l.to, label: "" },
      classes: "link",
    })),
    ...snapshot.edges.map((e) => ({
      group: "edges" as const,
      data: { id: e.id, source: e.from, target: e.to, label: edgeLabel(e) },
      classes: [e.kind, errorClass(e)].filter(Boolean).join(" "),
    })),
  ];
  cy.batch(() => {
    const ids = new Set(wanted.map((w) => w.data.id!));
    cy.elements()
      .filter((el) => !ids.has(el.id()))
      .remove();
    for (const w of wanted) {
      const existing = cy.getElementById(w.data.id!);
      if (existing.nonempty()) {
        existing.data(w.data);
        (existing as cytoscape.Singular).classes(w.classes as string);
      } else if (
        w.group === "nodes" ||
        (cy.getElementById(w.data.source!).nonempty() && cy.getElementById(w.data.target!).nonempty())
      ) {
        cy.add(w);
      }
    }
  });
  relayout(snapshot);
  renderTables(snapshot);
  if (
    selected !== undefined &&
    Date.now() - explainedAt >= WHY_REFRESH_MS &&
    snapshot.decisions !== view.snapshot?.decisions
  )
    void explain(selected);
  view.snapshot = snapshot;
  view.appliedAt = Date.now();
  if (view.firstRenderAt === undefined) {
    view.firstRenderAt = performance.now();
    performance.mark("mesh-view-first-render");
  }
}

function cell(text: string | number, numeric = false): HTMLTableCellElement {
  const td = document.createElement("td");
  td.textContent = String(text);
  if (numeric) td.className = "n";
  return td;
}

function renderTables(snapshot: Snapshot): void {
  const rows = [...snapshot.edges].sort(
    (a, b) => a.from.localeCompare(b.from) || a.to.localeCompare(b.to) || a.kind.localeCompare(b.kind),
  );
  const body = document.querySelector<HTMLTableSectionElement>("#edges tbody")!;
  body.replaceChildren(
    ...rows.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.edge = e.id;
      const from = document.createElement("th");
      from.scope = "row";
      const button = document.createElement("button");
      button.type = "button";
      button.className = "secondary";
      button.textContent = labelOf(e.from);
      button.title = "why: rules and last decisions";
      button.addEventListener("click", () => void explain(e.id));
      from.append(button);
      tr.append(
        from,
        cell(labelOf(e.to)),
        cell(e.reason ? `${e.kind}: ${e.reason}` : e.kind),
        cell(e.requests, true),
        cell(e.rps, true),
        cell(e.kind === "mirror" || e.kind === "retry" ? "" : e.share, true),
        ...STATUS.map((s) => cell(e.statuses[s], true)),
      );
      return tr;
    }),
  );
  const pods = document.querySelector<HTMLTableSectionElement>("#pods tbody")!;
  pods.replaceChildren(
    ...snapshot.nodes
      .filter((n) => n.kind === "pod" || n.kind === "gateway")
      .map((n) => {
        const tr = document.createElement("tr");
        tr.dataset.node = n.id;
        tr.append(
          cell(n.label),
          cell(n.ready === false ? "no" : "yes"),
          cell(n.ejected ? `until ${new Date(n.ejectedUntil!).toLocaleTimeString()}` : "no"),
        );
        return tr;
      }),
  );
}

function tableText(): string {
  const table = $<HTMLTableElement>("edges");
  return [...table.querySelectorAll("tr")]
    .map((tr) => [...tr.querySelectorAll("th,td")].map((c) => c.textContent?.trim() ?? "").join("\t"))
    .join("\n");
}

async function api<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(
    path,
    body === undefined
      ? {}
      : { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) },
  );
  const value = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(value.error ?? `${response.status}`);
  return value;
}

async function explain(id: string): Promise<void> {
  selected = id;
  explainedAt = Date.now();
  let why: { title: string; rules: string; decisions: string[] };
  try {
    why = await api(`/api/why?id=${encodeURIComponent(id)}`);
  } catch (error) {
    $("why-hint").hidden = false;
    $("why-hint").textContent = `error: ${(error as Error).message}`;
    return;
  }
  if (selected !== id) return;
  $("why-title").textContent = `Why: ${why.title}`;
  $("why-hint").hidden = true;
  $("why-body").hidden = false;
  $("why-rules").textContent = why.rules || "(no rule applies here: Istio's defaults)";
  $("why-decisions").replaceChildren(
    ...(why.decisions.length ? why.decisions : ["(no request through here yet)"]).map((line) => {
      const li = document.createElement("li");
      li.textContent = line;
      return li;
    }),
  );
}

function setUpForms(meta: Meta): void {
  $("lesson").textContent = `mesh preview: ${meta.lesson}`;
  $("summary").textContent = meta.summary;
  document.title = `mesh preview: ${meta.lesson}`;
  const service = $<HTMLSelectElement>("send-service");
  service.replaceChildren(
    ...meta.services.map(
      (s) => new Option(`${s} (${meta.urls[s]})`, s, s === meta.defaultService, s === meta.defaultService),
    ),
  );
  $<HTMLInputElement>("send-path").value = meta.defaultPath;
  $<HTMLTextAreaElement>("send-headers").value = meta.defaultHeaders.map(([k, v]) => `${k}: ${v}`).join("\n");
  for (const [field, limit] of [
    ["count", meta.limits.count],
    ["concurrency", meta.limits.concurrency],
  ] as const) {
    const input = $<HTMLInputElement>(`send-${field}`);
    input.min = String(limit.min);
    input.max = String(limit.max);
  }
  $("send").addEventListener("submit", (event) => {
    event.preventDefault();
    void send();
  });
  const checks = $<HTMLButtonElement>("checks-button");
  checks.disabled = meta.checks.length === 0;
  if (meta.checks.length === 0) $("checks").textContent = "This lesson has no checks.yaml.";
  checks.addEventListener("click", () => void runChecks());
  $("copy").addEventListener("click", () => void navigator.clipboard?.writeText(tableText()));
}

async function send(): Promise<void> {
  const button = $<HTMLButtonElement>("send-button");
  const output = $("send-output");
  const headers = $<HTMLTextAreaElement>("send-headers")
    .value.split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const colon = line.indexOf(":");
      return colon < 0 ? [line, ""] : [line.slice(0, colon).trim(), line.slice(colon + 1).trim()];
    });
  button.disabled = true;
  output.hidden = false;
  output.textContent = "sending…";
  try {
    const result = await api<{ command: string; output: string; errors: string }>("/api/send", {
      service: $<HTMLSelectElement>("send-service").value,
      path: $<HTMLInputElement>("send-path").value,
      headers,
      count: Number($<HTMLInputElement>("send-count").value),
      concurrency: Number($<HTMLInputElement>("send-concurrency").value),
      by: $<HTMLSelectElement>("send-by").value,
    });
    output.textContent = `${result.command}\n${result.output}${result.errors}`;
  } catch (error) {
    output.textContent = `error: ${(error as Error).message}`;
  } finally {
    button.disabled = false;
  }
}

async function runChecks(): Promise<void> {
  const button = $<HTMLButtonElement>("checks-button");
  const list = $("checks");
  button.disabled = true;
  list.textContent = "running…";
  try {
    const { results } = await api<{ results: Array<{ name: string; passed: boolean; output: string }> }>(
      "/api/checks",
      {},
    );
    list.replaceChildren(
      ...results.map((r) => {
        const li = document.createElement("li");
        li.dataset.passed = String(r.passed);
        const verdict = document.createElement("span");
        verdict.className = r.passed ? "pass" : "fail";
        verdict.textContent = r.passed ? "PASS" : "FAIL";
        const details = document.createElement("details");
        const summary = document.createElement("summary");
        summary.append(verdict, ` ${r.name}`);
        const pre = document.createElement("pre");
        pre.textContent = r.output;
        details.append(summary, pre);
        li.append(details);
        return li;
      }),
    );
  } catch (error) {
    list.textContent = `error: ${(error as Error).message}`;
  } finally {
    button.disabled = false;
  }
}

function connect(): void {
  const live = $("live");
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => {
    live.textContent = "live";
    live.className = "on";
  });
  events.addEventListener("error", () => {
    live.textContent = "disconnected (retrying)";
    live.className = "off";
  });
  events.addEventListener("snapshot", (event) => apply(JSON.parse((event as MessageEvent<string>).data) as Snapshot));
}

view.cy.on("tap", "node, edge", (event) => {
  const id = (event.target as cytoscape.SingularElementArgument).id();
  if (!id.startsWith("link:")) void explain(id);
});

void api<Meta>("/api/meta").then((meta) => {
  view.meta = meta;
  setUpForms(meta);
});
connect();
