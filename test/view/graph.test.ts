// The live view's graph model: hops from the proxies' decisions, counts, shares, rates,
// the nodes and links a lesson's configuration gives, and the rules shown for "why".
import { describe, expect, it } from "vitest";
import { meshConfig } from "#lessons/mesh/config.ts";
import type { Decision } from "#lessons/mesh/proxy.ts";
import {
  configLinks,
  configNodes,
  decisionHops,
  describeDecision,
  KEPT_PER_ITEM,
  localReason,
  nodeId,
  RATE_WINDOW_MS,
  statusClass,
  Traffic,
  type Workloads,
} from "#lessons/view/graph.ts";
import { rulesAt, rulesYaml } from "#lessons/view/rules.ts";
import { lessonRender } from "../renders.ts";

const HOST = "flaskapp.istio-lessons.svc.cluster.local";
const POD_V1 = "flaskapp-v1-abc12-xyz01";
const POD_V2 = "flaskapp-v2-def34-uvw02";

const workloads: Workloads = {
  client: "sleep",
  gateways: [],
  pods: [
    { name: POD_V1, deployment: "flaskapp-v1", namespace: "istio-lessons", labels: { app: "flaskapp", version: "v1" } },
    { name: POD_V2, deployment: "flaskapp-v2", namespace: "istio-lessons", labels: { app: "flaskapp", version: "v2" } },
  ],
};

function decision(fields: Partial<Decision>): Decision {
  return {
    proxy: "sleep",
    rule: "VirtualService flaskapp http[0]",
    notes: [],
    status: 200,
    kind: "route",
    at: 1_000_000,
    path: "/env/version",
    host: HOST,
    attempts: [],
    ejected: [],
    ...fields,
  };
}

const endpointNode = (endpoint: string) => (endpoint.startsWith("flaskapp-") ? nodeId.pod(endpoint) : undefined);

describe("decisionHops", () => {
  it("a routed request: client → Service → subset → the pod chosen", () => {
    const hops = decisionHops(decision({ subset: "v2", attempts: [{ endpoint: POD_V2, status: 200 }] }), endpointNode);
    expect(hops).toEqual([
      { from: "w:sleep", to: `s:${HOST}`, kind: "route", status: 200 },
      { from: `s:${HOST}`, to: `ss:${HOST}|v2`, kind: "route", status: 200 },
      { from: `ss:${HOST}|v2`, to: `p:${POD_V2}`, kind: "route", status: 200 },
    ]);
  });

  it("retries: the tries after the first are retry hops, each with its own status (0: reset)", () => {
    const hops = decisionHops(
      decision({
        status: 200,
        attempts: [
          { endpoint: POD_V1, status: 503 },
          { endpoint: POD_V2, status: 0 },
          { endpoint: POD_V1, status: 200 },
        ],
      }),
      endpointNode,
    );
    expect(hops.slice(1).map((h) => [h.to, h.kind, h.status])).toEqual([
      [`p:${POD_V1}`, "route", 503],
      [`p:${POD_V2}`, "retry", 0],
      [`p:${POD_V1}`, "retry", 200],
    ]);
  });

  it("a sidecar's own reply or a fault ends at the Service: nothing reached a pod", () => {
    expect(decisionHops(decision({ kind: "local", status: 503 }), endpointNode)).toEqual([
      { from: "w:sleep", to: `s:${HOST}`, kind: "local", status: 503 },
    ]);
    expect(decisionHops(decision({ kind: "fault", status: 500 }), endpointNode)).toHaveLength(1);
  });

  it("the outside world ends at its host; a decision without a host draws nothing", () => {
    expect(
      decisionHops(decision({ host: "httpbin.org", attempts: [{ endpoint: "outside", status: 200 }] }), endpointNode),
    ).toHaveLength(1);
    const { host: _, ...noHost } = decision({});
    expect(decisionHops(noHost, endpointNode)).toEqual([]);
  });
});

describe("localReason and statusClass", () => {
  it.each([
    [{ kind: "local" as const, status: 503, notes: ["overflow: circuit breaker open"] }, "overflow"],
    [{ kind: "local" as const, status: 503 }, "no healthy upstream"],
    [
      { kind: "local" as const, status: 502, rule: "outbound REGISTRY_ONLY: x.example is not in the registry" },
      "unregistered host",
    ],
    [{ kind: "local" as const, status: 404, rule: "no Gateway route for Host a.example" }, "no route"],
    [
      { kind: "local" as const, status: 503, notes: ["no cluster for subset v3 of h (no DestinationRule defines it)"] },
      "no such subset",
    ],
    [{ kind: "fault" as const, status: 500 }, "fault abort"],
    [{ kind: "route" as const, status: 503 }, undefined],
  ])("%j: %s", (fields, reason) => {
    expect(localReason(decision(fields))).toBe(reason);
  });

  it.each([
    [0, "reset"],
    [200, "2xx"],
    [301, "3xx"],
    [404, "4xx"],
    [499, "4xx"],
    [503, "5xx"],
  ])("%i is %s", (status, cls) => {
    expect(statusClass(status)).toBe(cls);
  });
});

describe("Traffic", () => {
  const config = meshConfig(lessonRender("weighted"));
  const nodes = configNodes(config, workloads);

  it("the weighted lesson's nodes and links: sleep, flaskapp, its subsets and their pods (not sleep's own Service)", () => {
    expect(nodes.map((n) => `${n.id} ${n.kind} ${n.label}`)).toEqual([
      "w:sleep client sleep",
      `s:${HOST} service flaskapp`,
      `ss:${HOST}|v1 subset flaskapp v1`,
      `ss:${HOST}|v2 subset flaskapp v2`,
      `p:${POD_V1} pod flaskapp-v1\nabc12-xyz01`,
      `p:${POD_V2} pod flaskapp-v2\ndef34-uvw02`,
    ]);
    expect(configLinks(config, workloads)).toEqual([
      { from: "w:sleep", to: `s:${HOST}` },
      { from: `s:${HOST}`, to: `ss:${HOST}|v1` },
      { from: `ss:${HOST}|v1`, to: `p:${POD_V1}` },
      { from: `s:${HOST}`, to: `ss:${HOST}|v2` },
      { from: `ss:${HOST}|v2`, to: `p:${POD_V2}` },
      { from: `p:${POD_V1}`, to: "w:flaskapp-v1" },
      { from: `p:${POD_V2}`, to: "w:flaskapp-v2" },
    ]);
  });

  it("counts each edge, its status classes, its share of the source's requests and its rate over the window", () => {
    const traffic = new Traffic(nodes, workloads);
    const now = 2_000_000;
    for (let i = 0; i < 10; i++) {
      const v2 = i < 3;
      traffic.record(
        decision({
          at: now - i * 100,
          subset: v2 ? "v2" : "v1",
          status: i === 9 ? 503 : 200,
          attempts: [{ endpoint: v2 ? POD_V2 : POD_V1, status: i === 9 ? 503 : 200 }],
        }),
      );
    }
    // One old request, outside the rate window.
    traffic.record(
      decision({ at: now - RATE_WINDOW_MS - 1, subset: "v1", attempts: [{ endpoint: POD_V1, status: 200 }] }),
    );
    const snapshot = traffic.snapshot(now, new Map([[`p:${POD_V1}`, { ready: true }]]));
    const edge = (to: string) => snapshot.edges.find((e) => e.from === `s:${HOST}` && e.to === to)!;
    expect(edge(`ss:${HOST}|v1`)).toMatchObject({
      requests: 8,
      share: 72.7,
      rps: 1.4,
      statuses: { "2xx": 7, "5xx": 1 },
    });
    expect(edge(`ss:${HOST}|v2`)).toMatchObject({ requests: 3, share: 27.3, rps: 0.6 });
    expect(snapshot.decisions).toBe(11);
    expect(snapshot.nodes.find((n) => n.id === `p:${POD_V1}`)).toMatchObject({ ready: true });
  });

  it("mirror copies and retries are edges of their own, outside the source's share", () => {
    const traffic = new Traffic(nodes, workloads);
    traffic.record(decision({ subset: "v1", attempts: [{ endpoint: POD_V1, status: 200 }] }));
    traffic.record(decision({ kind: "mirror", subset: "v2", attempts: [{ endpoint: POD_V2, status: 200 }] }));
    const edges = traffic.snapshot(1_000_000, new Map()).edges;
    expect(edges.map((e) => `${e.from}>${e.to} ${e.kind} ${e.share}`)).toContain(`w:sleep>s:${HOST} mirror 100`);
    expect(edges.find((e) => e.kind === "route" && e.from === "w:sleep")!.share).toBe(100);
  });

  it("an ejected pod is marked until its ejection ends", () => {
    const traffic = new Traffic(nodes, workloads);
    traffic.record(
      decision({
        status: 503,
        attempts: [{ endpoint: POD_V1, status: 503 }],
        ejected: [{ endpoint: POD_V1, until: 1_030_000 }],
      }),
    );
    const pod = (now: number) => traffic.snapshot(now, new Map()).nodes.find((n) => n.id === `p:${POD_V1}`)!;
    expect(pod(1_029_999)).toMatchObject({ ejected: true, ejectedUntil: 1_030_000 });
    expect(pod(1_030_000).ejected).toBeUndefined();
  });

  it("an unregistered host becomes a node of its own; the last decisions are kept per node and edge, bounded", () => {
    const traffic = new Traffic(nodes, workloads);
    traffic.record(
      decision({
        kind: "local",
        status: 502,
        host: "evil.example",
        rule: "outbound REGISTRY_ONLY: evil.example is not in the registry",
      }),
    );
    expect(traffic.node("s:evil.example")).toMatchObject({ kind: "unregistered", label: "evil.example" });
    for (let i = 0; i < KEPT_PER_ITEM + 5; i++)
      traffic.record(decision({ at: i, subset: "v1", attempts: [{ endpoint: POD_V1, status: 200 }] }));
    const recent = traffic.recent(`s:${HOST}>ss:${HOST}|v1>route`);
    expect(recent).toHaveLength(KEPT_PER_ITEM);
    expect(recent.at(-1)!.at).toBe(KEPT_PER_ITEM + 4);
    expect(traffic.recent("w:sleep")).toHaveLength(KEPT_PER_ITEM);
  });

  it("describeDecision: the rule path, each try and the status on one line", () => {
    const line = describeDecision(
      decision({
        at: Date.UTC(2026, 0, 1, 12, 0, 0, 5),
        destination: "flaskapp subset v2 (weight 30 of 100)",
        notes: ["2 tries"],
        attempts: [
          { endpoint: POD_V2, status: 503 },
          { endpoint: POD_V2, status: 200 },
        ],
      }),
    );
    expect(line).toBe(
      `12:00:00.005 sleep: /env/version · VirtualService flaskapp http[0] → flaskapp subset v2 (weight 30 of 100) via ${POD_V2} 503 → ${POD_V2} 200 (2 tries) → 200`,
    );
  });
});

describe("rulesAt", () => {
  it("a Service of the weighted lesson: the Service, its VirtualService and DestinationRule, as YAML", () => {
    const objects = lessonRender("weighted");
    const nodes = configNodes(meshConfig(objects), workloads);
    const rules = rulesAt(nodes.find((n) => n.id === `ss:${HOST}|v2`)!, objects, workloads, new Map());
    expect(rules.map((r) => `${r.kind} ${r.metadata.name}`)).toEqual([
      "Service flaskapp",
      "DestinationRule flaskapp",
      "VirtualService flaskapp",
    ]);
    expect(rulesYaml(rules)).toMatch(
      /^apiVersion: networking\.istio\.io\/v1\nkind: VirtualService\n[\s\S]*---\napiVersion: networking\.istio\.io\/v1\nkind: DestinationRule\n[\s\S]*---\napiVersion: v1\nkind: Service\n/,
    );
  });

  it("the Gateway API twin: the HTTPRoute whose parent is the Service", () => {
    const objects = lessonRender("gateway-api/weighted");
    const nodes = configNodes(meshConfig(objects), workloads);
    const rules = rulesAt(nodes.find((n) => n.id === `s:${HOST}`)!, objects, workloads, new Map());
    expect(rules.map((r) => r.kind)).toContain("HTTPRoute");
  });

  it("a pod: its Service's DestinationRule (outlier detection applies there), no routes", () => {
    const objects = lessonRender("outlier-ejection");
    const rules = rulesAt({ id: `p:${POD_V1}`, kind: "pod", label: POD_V1 }, objects, workloads, new Map());
    expect(rules.map((r) => r.kind).sort()).toEqual(["DestinationRule", "Service"]);
  });
});
