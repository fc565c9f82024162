// Ambient mode in the preview: the pure reading of a render (ambient.ts: enrolment,
// waypoints, the rules ambient ignores and says so), and the data path through the real
// pieces (ztunnel's listener, the waypoint proxy, flaskapp pods as processes, tally), tried
// as a learner would in a playground of their own. Every ambient lesson under every release,
// and a broken copy of each (its lesson.yaml), run in test/e2e/lessons.test.ts and broken.test.ts.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { renderKustomization, type K8sObject } from "#lessons/core/kustomize.ts";
import { overlayDir, resolveTarget } from "#lessons/catalog/lessons.ts";
import {
  ambientPlan,
  ingressUsesWaypoint,
  isAmbient,
  useWaypoint,
  waypointConfig,
  waypointRoutes,
  ztunnelPick,
} from "#lessons/mesh/ambient.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import { RuleError, type HttpRoute } from "#lessons/mesh/model.ts";
import { findRelease, NEWEST_RELEASE, RELEASES } from "#lessons/mesh/releases.ts";
import { previewTarget } from "#lessons/checks/preview.ts";
import { routesOf, waypointHost } from "#lessons/mesh/routing.ts";
import { decide } from "#lessons/mesh/decide.ts";

const K8S = fileURLToPath(new URL("../../k8s/", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const renders = new Map<string, K8sObject[]>();
async function render(lesson: string): Promise<K8sObject[]> {
  if (!renders.has(lesson)) renders.set(lesson, await renderKustomization(overlayDir(lesson)));
  return structuredClone(renders.get(lesson)!);
}

function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  return objects.find((o) => o.kind === kind && o.metadata.name === name)!;
}

function labels(obj: K8sObject): Record<string, string> {
  const meta = obj.metadata as { labels?: Record<string, string> };
  return (meta.labels ??= {});
}

const FLASKAPP = "flaskapp.istio-lessons.svc.cluster.local";

describe("[ambient-enrolment] a namespace in ambient mode", () => {
  it("is one labelled istio.io/dataplane-mode: ambient; the sidecar lessons are not", async () => {
    expect(isAmbient(await render("ambient/l4-only"))).toBe(true);
    expect(isAmbient(await render("round-robin"))).toBe(false);
    expect(
      ambientPlan(await render("ambient/l4-only"), meshConfig(await render("ambient/l4-only"))).namespaces,
    ).toEqual(new Set(["istio-lessons"]));
  });

  it("with istio-injection: enabled as well is refused, naming both labels", async () => {
    const objects = await render("ambient/l4-only");
    labels(find(objects, "Namespace", "istio-lessons"))["istio-injection"] = "enabled";
    expect(() => ambientPlan(objects, meshConfig(objects))).toThrow(RuleError);
    expect(() => ambientPlan(objects, meshConfig(objects))).toThrow(
      "Namespace istio-lessons: metadata.labels: both istio.io/dataplane-mode: ambient and istio-injection: enabled",
    );
  });
});

describe("[waypoint-enrolment] which waypoint a Service uses", () => {
  it.each([
    [{}, undefined, false],
    [{ "istio.io/use-waypoint": "wp" }, "ns/wp", false],
    [{ "istio.io/use-waypoint": "wp", "istio.io/use-waypoint-namespace": "other" }, "other/wp", false],
    [{ "istio.io/use-waypoint": "none" }, undefined, true],
  ])("labels %j name %s (none: %s)", (given, named, none) => {
    expect(useWaypoint(given, "ns")).toEqual({ none, ...(named ? { named } : {}) });
  });

  it("the Service's label, else its namespace's; none opts a Service out", async () => {
    const objects = await render("ambient/v2-default");
    expect([...ambientPlan(objects, meshConfig(objects)).enrolled.keys()]).toEqual([FLASKAPP]);
    delete labels(find(objects, "Service", "flaskapp"))["istio.io/use-waypoint"];
    labels(find(objects, "Namespace", "istio-lessons"))["istio.io/use-waypoint"] = "flaskapp-waypoint";
    const all = ambientPlan(objects, meshConfig(objects));
    expect([...all.enrolled.keys()].sort()).toEqual([
      "flaskapp-v1.istio-lessons.svc.cluster.local",
      "flaskapp-v2.istio-lessons.svc.cluster.local",
      FLASKAPP,
      "sleep.istio-lessons.svc.cluster.local",
    ]);
    labels(find(objects, "Service", "sleep"))["istio.io/use-waypoint"] = "none";
    expect(ambientPlan(objects, meshConfig(objects)).enrolled.has("sleep.istio-lessons.svc.cluster.local")).toBe(false);
  });

  it("a waypoint for workload traffic only, or one missing from the render, serves nothing, with a warning saying why", async () => {
    const objects = await render("ambient/v2-default");
    labels(find(objects, "Gateway", "flaskapp-waypoint"))["istio.io/waypoint-for"] = "workload";
    const workloadOnly = ambientPlan(objects, meshConfig(objects));
    expect(workloadOnly.enrolled.size).toBe(0);
    expect(workloadOnly.warnings).toContain(
      "Service flaskapp: waypoint istio-lessons/flaskapp-waypoint serves workload traffic (istio.io/waypoint-for), not Service traffic; istiod does not bind the Service to it and its traffic stays on ztunnel (L4)",
    );
    labels(find(objects, "Service", "flaskapp"))["istio.io/use-waypoint"] = "elsewhere";
    expect(ambientPlan(objects, meshConfig(objects)).warnings[0]).toBe(
      "Service flaskapp: istio.io/use-waypoint names waypoint istio-lessons/elsewhere, which is not in the render; istiod reports it not ready and its traffic stays on ztunnel (L4): no L7 rule applies",
    );
  });

  it("a waypoint Gateway without an HBONE listener on 15008 is refused", async () => {
    const objects = await render("ambient/v2-default");
    find(objects, "Gateway", "flaskapp-waypoint").spec.listeners[0].protocol = "HTTP";
    expect(() => ambientPlan(objects, meshConfig(objects))).toThrow(
      "Gateway flaskapp-waypoint: spec.listeners: a waypoint needs a listener with protocol HBONE on port 15008",
    );
  });

  it("an HTTPRoute with the waypoint itself as parent is refused, pointing at the Service as parent", async () => {
    const objects = await render("ambient/v2-default");
    find(objects, "HTTPRoute", "flaskapp-default-v2").spec.parentRefs = [{ name: "flaskapp-waypoint" }];
    expect(() => meshConfig(objects)).toThrow(
      "flaskapp-waypoint is a waypoint: a route for every Service using it is not modelled; make the Service the parent",
    );
  });
});

describe("[ambient-not-enrolled] a rule for a Service with no waypoint", () => {
  it("an HTTPRoute has no effect, and the preview says so (Istio only in the route's status)", async () => {
    const objects = await render("ambient/enrol-waypoint");
    expect(ambientPlan(objects, meshConfig(objects)).warnings).toEqual([
      "HTTPRoute flaskapp-default-v2: no effect on ambient clients: Service flaskapp is not enrolled with a waypoint (label it istio.io/use-waypoint: <waypoint>), so ztunnel carries its connections at L4 and no L7 rule applies; Istio says so only in the route's status",
    ]);
  });

  it("a DestinationRule no waypoint or gateway sends by has no effect; one for a waypoint's backend does", async () => {
    const outlier = await render("ambient/outlier-ejection");
    expect(ambientPlan(outlier, meshConfig(outlier)).warnings).toEqual([]);
    const objects = await render("ambient/circuit-breaker");
    delete labels(find(objects, "Service", "flaskapp"))["istio.io/use-waypoint"];
    expect(ambientPlan(objects, meshConfig(objects)).warnings).toEqual([
      "DestinationRule flaskapp: no effect on ambient clients: its traffic policy is applied by an Envoy (a waypoint or a gateway), and no waypoint or gateway sends to Service flaskapp; ztunnel picks an endpoint per connection",
    ]);
  });

  it("a Sidecar (REGISTRY_ONLY) does not apply in ambient mode", async () => {
    const objects = await render("ambient/l4-only");
    objects.push({
      apiVersion: "networking.istio.io/v1",
      kind: "Sidecar",
      metadata: { name: "default", namespace: "istio-lessons" },
      spec: { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } },
    });
    expect(ambientPlan(objects, meshConfig(objects)).warnings).toEqual([
      "Sidecar default: does not apply in ambient mode (no sidecar reads it): its outbound REGISTRY_ONLY is not enforced, and ztunnel passes unknown destinations through",
    ]);
  });
});

/** A render with flaskapp's HTTPRoute replaced by a VirtualService sending the sleep pod's calls (sourceLabels) to v2, others to v1. */
const sourceLabelsVs = (rendered: K8sObject[]) => {
  const objects = rendered.filter((o) => o.kind !== "HTTPRoute");
  objects.push(
    {
      apiVersion: "networking.istio.io/v1",
      kind: "DestinationRule",
      metadata: { name: "flaskapp", namespace: "istio-lessons" },
      spec: {
        host: "flaskapp",
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          { name: "v2", labels: { version: "v2" } },
        ],
      },
    },
    {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "flaskapp", namespace: "istio-lessons" },
      spec: {
        hosts: ["flaskapp"],
        http: [
          { match: [{ sourceLabels: { app: "sleep" } }], route: [{ destination: { host: "flaskapp", subset: "v2" } }] },
          { route: [{ destination: { host: "flaskapp", subset: "v1" } }] },
        ],
      },
    },
  );
  return objects;
};

describe("[waypoint-source-labels] a sourceLabels match at a waypoint", () => {
  it("is dropped, and a route left without a match with it", () => {
    const route = (match: HttpRoute["match"]): HttpRoute => ({
      source: "r",
      match,
      route: [],
      retries: NEWEST_RELEASE.defaultRetry,
    });
    expect(waypointRoutes([route([{ headers: {}, sourceLabels: { app: "sleep" } }]), route([])])).toEqual([route([])]);
    expect(
      waypointRoutes([
        route([{ headers: {}, sourceLabels: { app: "sleep" } }, { headers: { lab: { exact: "canary" } } }]),
      ]),
    ).toEqual([route([{ headers: { lab: { exact: "canary" } } }])]);
  });

  it("is warned about with its reason; the waypoint then routes the sleep pod's calls to v1", async () => {
    const objects = sourceLabelsVs(await render("ambient/round-robin"));
    const config = meshConfig(objects);
    const plan = ambientPlan(objects, config);
    expect(plan.warnings).toContain(
      "VirtualService flaskapp http[0] match[0]: dropped by waypoint flaskapp-waypoint: a waypoint serves every caller and Istio drops any match with sourceLabels, silently (istio/istio#51565)",
    );
    const wp = waypointConfig(config, plan, plan.waypoints.get("istio-lessons/flaskapp-waypoint")!);
    const role = { kind: "waypoint" as const, namespace: "istio-lessons", labels: {} };
    const decision = waypointHost(wp, role, "flaskapp");
    expect(decision.kind).toBe("service");
    const routes = routesOf(wp, decision as Extract<typeof decision, { kind: "service" }>, { app: "sleep" });
    expect(routes.map((r) => r.route[0]!.destination.subset)).toEqual(["v1"]);
  });
});

describe("[waypoint-virtual-service] a VirtualService for an enrolled Service", () => {
  it("is applied by the waypoint, with a warning that this is alpha and HTTPRoute the recommended API", async () => {
    const objects = sourceLabelsVs(await render("ambient/round-robin"));
    expect(ambientPlan(objects, meshConfig(objects)).warnings).toContain(
      "VirtualService flaskapp: applied by waypoint flaskapp-waypoint as an alpha feature (istio.io: VirtualService with waypoints is alpha); Istio recommends an HTTPRoute with Service flaskapp as parent",
    );
  });
});

describe("[ingress-use-waypoint] ingress traffic and the waypoint", () => {
  it.each([
    [{ "istio.io/ingress-use-waypoint": "true" }, {}, true],
    [{ "istio.io/ingress-use-waypoint": "True" }, {}, true],
    [{}, { "istio.io/ingress-use-waypoint": "true" }, true],
    [{ "istio.io/ingress-use-waypoint": "false" }, { "istio.io/ingress-use-waypoint": "true" }, false],
    [{ "istio.io/ingress-use-waypoint": "yes" }, {}, false],
    [{}, {}, false],
  ])("Service labels %j, namespace labels %j: %s", (service, namespace, uses) => {
    expect(ingressUsesWaypoint(service, namespace)).toBe(uses);
  });

  it("without the label, a gateway route to an enrolled Service is warned to bypass the waypoint", async () => {
    const objects = await render("ambient/ingress-waypoint");
    expect(ambientPlan(objects, meshConfig(objects)).warnings).toEqual([]);
    delete labels(find(objects, "Service", "flaskapp"))["istio.io/ingress-use-waypoint"];
    expect(ambientPlan(objects, meshConfig(objects)).warnings).toEqual([
      'HTTPRoute flaskapp-ingress rules[0]: the gateway sends to flaskapp\'s pods directly, bypassing waypoint flaskapp-waypoint and its rules (ingress uses a waypoint only with istio.io/ingress-use-waypoint: "true")',
    ]);
  });
});

describe("[waypoint-route-defaults] a waypoint's route for a Service with no route of its own", () => {
  it.each(RELEASES.map((r) => [r.version, r.waypointDefaultRetry, r.waypointHashWithoutRoute] as const))(
    "Istio %s: default retries %s, consistentHash %s",
    async (version, retries, hashes) => {
      const objects = await render("ambient/session-affinity");
      const release = findRelease(version)!;
      const withRoute = meshConfig(objects, release);
      expect(ambientPlan(objects, withRoute).warnings).toEqual([]);
      const noRoute = objects.filter((o) => o.kind !== "HTTPRoute");
      const config = meshConfig(noRoute, release);
      const plan = ambientPlan(noRoute, config);
      const wp = waypointConfig(config, plan, plan.waypoints.get("istio-lessons/flaskapp-waypoint")!);
      expect(wp.release.defaultRetry.attempts > 0).toBe(retries);
      expect("consistentHash" in wp.destinations.get(FLASKAPP)!.trafficPolicy.loadBalancer).toBe(hashes);
      expect(
        plan.warnings.some((w) => w.includes("its consistentHash has no effect at waypoint flaskapp-waypoint")),
      ).toBe(!hashes);
    },
  );
});

describe("[waypoint-rules] what a waypoint decides", () => {
  it("the Service it was tunnelled for, not the Host header, picks the rules: the enrolled Service's HTTPRoute", async () => {
    const objects = await render("ambient/v2-default");
    const config = meshConfig(objects);
    const plan = ambientPlan(objects, config);
    const wp = waypointConfig(config, plan, plan.waypoints.get("istio-lessons/flaskapp-waypoint")!);
    const role = { kind: "waypoint" as const, namespace: "istio-lessons", labels: {} };
    const decided = decide({
      config: wp,
      role,
      request: { path: "/env/version", method: "GET", headers: {} },
      authority: "anything.example.com",
      destination: "flaskapp",
      random: () => 0,
    });
    expect(decided).toMatchObject({
      kind: "forward",
      rule: "HTTPRoute flaskapp-default-v2 rules[0]",
      destination: "flaskapp-v2",
    });
  });

  it("a Service not enrolled with it gets no route of it", async () => {
    const objects = await render("ambient/enrol-waypoint");
    const config = meshConfig(objects);
    const plan = ambientPlan(objects, config);
    expect(waypointConfig(config, plan, plan.waypoints.get("istio-lessons/flaskapp-waypoint")!).virtualHosts).toEqual(
      [],
    );
  });
});

describe("[ztunnel-connection] ztunnel's choice of a pod", () => {
  it("is one ready endpoint at random per connection, none when none is ready", () => {
    const pods = [
      { id: "a", ready: true },
      { id: "b", ready: false },
      { id: "c", ready: true },
    ];
    expect(ztunnelPick(pods, () => 0)?.id).toBe("a");
    expect(ztunnelPick(pods, () => 0.99)?.id).toBe("c");
    expect(ztunnelPick([{ id: "b", ready: false }], () => 0)).toBeUndefined();
  });
});

/** A playground: k8s/app in ambient mode plus these rules and checks, in a directory of its own. */
function playground(rules: string, checks: string, components: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "ambient-playground-"));
  dirs.push(dir);
  if (rules) writeFileSync(join(dir, "rules.yaml"), rules);
  writeFileSync(join(dir, "checks.yaml"), checks);
  const resources = [relative(dir, join(K8S, "app")), ...(rules ? ["rules.yaml"] : [])];
  writeFileSync(
    join(dir, "kustomization.yaml"),
    `namespace: istio-lessons\nresources:\n${resources.map((r) => `  - ${r}\n`).join("")}components:\n${["version-services", ...components].map((c) => `  - ${relative(dir, join(K8S, "components", c))}\n`).join("")}`,
  );
  return dir;
}

async function run(dir: string) {
  let report = "";
  const results = await previewTarget(await resolveTarget(dir, "/"), {
    write: (t) => (report += t),
    release: NEWEST_RELEASE,
  });
  return { passed: results.length > 0 && results.every((r) => r.passed), report };
}

const ALL_TO_V2 = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: flaskapp }
spec:
  parentRefs: [{ group: "", kind: Service, name: flaskapp, port: 80 }]
  rules: [{ backendRefs: [{ name: flaskapp-v2, port: 80 }] }]
`;

describe("ambient mode in a playground", () => {
  it("[ztunnel-connection] without a waypoint a keep-alive client stays on one pod, new connections spread", async () => {
    const { passed, report } = await run(
      playground(
        "",
        `summary: L4 only
checks:
  - { name: one connection, path: /env/version, requests: 40, concurrency: 1, expectDistinct: "=1" }
  - { name: many connections, path: /env/version, requests: 120, concurrency: 40, expect: [v1>=10, v2>=10] }
`,
        ["ambient"],
      ),
    );
    expect(passed, report).toBe(true);
    expect(report).toMatch(
      /^ {2}1 {2}ztunnel: connection → flaskapp-v[12]-\S+ \(L4: every request on this connection goes there\)$/m,
    );
    expect(report).toContain("preview: ambient mode (ztunnel, no sidecars)");
  }, 60_000);

  it("[waypoint-rules] an HTTPRoute has no effect until its Service is enrolled; then the waypoint applies it", async () => {
    const checks = `summary: all to v2\nchecks:\n  - { name: only v2, path: /env/version, requests: 60, concurrency: 20, expect: [v2=100] }\n`;
    const waypointOnly = `${ALL_TO_V2}---\n${readFileSync(join(K8S, "components/waypoint/waypoint.yaml"), "utf8")}`;
    const before = await run(playground(waypointOnly, checks, ["ambient"]));
    expect(before.passed, before.report).toBe(false);
    expect(before.report).toContain(
      "warning: HTTPRoute flaskapp: no effect on ambient clients: Service flaskapp is not enrolled with a waypoint",
    );
    const after = await run(playground(ALL_TO_V2, checks, ["ambient", "waypoint"]));
    expect(after.passed, after.report).toBe(true);
    expect(after.report).toMatch(
      /^ +60 {2}waypoint flaskapp-waypoint: HTTPRoute flaskapp rules\[0\] → flaskapp-v2 → 200$/m,
    );
    expect(after.report).toMatch(
      /ztunnel: connection → waypoint flaskapp-waypoint \(Service flaskapp is enrolled with it\)$/m,
    );
  }, 60_000);

  it("[ztunnel-outbound] a pod's own call to an enrolled Service goes through ztunnel to the waypoint, which applies the route", async () => {
    const checks = `summary: the pod's call too\nchecks:\n  - { name: second hop v2, path: "/fetch?url=http://flaskapp/env/version", requests: 20, expect: [v2=100] }\n`;
    const { passed, report } = await run(playground(ALL_TO_V2, checks, ["ambient", "waypoint"]));
    expect(passed, report).toBe(true);
    // Two hops, both routed by the waypoint: sleep's call and the pod's own.
    expect(report).toMatch(/^ +40 {2}waypoint flaskapp-waypoint: HTTPRoute flaskapp rules\[0\] → flaskapp-v2 → 200$/m);
  }, 60_000);

  it("[waypoint-source-labels] a sourceLabels match is warned about with its reason, and the sleep pod's calls go to v1", async () => {
    const rules = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: flaskapp }
spec:
  host: flaskapp
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaskapp }
spec:
  hosts: [flaskapp]
  http:
    - match: [{ sourceLabels: { app: sleep } }]
      route: [{ destination: { host: flaskapp, subset: v2 } }]
    - route: [{ destination: { host: flaskapp, subset: v1 } }]
`;
    const { passed, report } = await run(
      playground(
        rules,
        `summary: v1\nchecks:\n  - { name: only v1, path: /env/version, requests: 30, expect: [v1=100] }\n`,
        ["ambient", "waypoint"],
      ),
    );
    expect(passed, report).toBe(true);
    expect(report).toContain(
      "warning: VirtualService flaskapp http[0] match[0]: dropped by waypoint flaskapp-waypoint: a waypoint serves every caller and Istio drops any match with sourceLabels, silently (istio/istio#51565)",
    );
    expect(report).toContain(
      "warning: VirtualService flaskapp: applied by waypoint flaskapp-waypoint as an alpha feature",
    );
  }, 60_000);
});
