// Every lesson overlay (Istio's API and the Gateway API) rendered by the real kustomize in
// kubectl, validated against the Kubernetes, Istio and Gateway API schemas, cross-checked,
// and held to the facts its lesson relies on.
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RenderError, renderKustomization, type K8sObject } from "../../lessons/src/kustomize.ts";
import { loadChecks } from "../../lessons/src/checks.ts";
import { IMAGE_NAMES, IMAGES } from "../../lessons/src/images.ts";
import { checkManifests } from "./manifest-checks.ts";
import { allLessons, checksFile, GATEWAY_API_DIR, GATEWAY_API_LESSONS, LESSONS, OVERLAYS_DIR, overlayDir, type Lesson } from "../../lessons/src/lessons.ts";
import { fieldsOutside } from "../../lessons/src/mesh/config.ts";
import { GATEWAY_API_STANDARD } from "../../lessons/src/mesh/gateway-api.ts";
import { parseDuration } from "../../services/common/src/duration.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const OVERLAYS = OVERLAYS_DIR;
const NAMESPACE = "istio-lessons";

// Rendered before the tests are collected, since some test lists depend on what a render holds.
// renderKustomization rejects with "kubectl is not installed or not on PATH ..." when it is missing.
const renders = new Map<Lesson, K8sObject[]>(await Promise.all(allLessons().map(async (lesson) => [lesson, await renderKustomization(overlayDir(lesson))] as const)));

function render(lesson: Lesson): K8sObject[] {
  const objects = renders.get(lesson);
  if (objects === undefined) throw new Error(`overlay ${lesson} was not rendered`);
  return objects;
}

function the(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ""}`).toHaveLength(1);
  return found[0]!;
}

function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

function envOf(deployment: K8sObject): Record<string, unknown> {
  const env = (deployment.spec.template.spec.containers[0].env ?? []) as { name: string; value?: string; valueFrom?: unknown }[];
  return Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom]));
}

/** The only HTTP rule of a VirtualService's; lessons with one rule use this. */
function onlyHttpRule(vs: K8sObject): any {
  expect(vs.spec.http, `${vs.metadata.name} has one http rule`).toHaveLength(1);
  return vs.spec.http[0];
}

function subsetsOf(rule: any): string[] {
  return (rule.route as { destination: { host: string; subset?: string } }[]).map((r) => {
    expect(r.destination.host).toBe("flaskapp");
    return r.destination.subset ?? "(none)";
  });
}

describe("the lesson overlays", () => {
  it.each([
    [OVERLAYS, LESSONS],
    [GATEWAY_API_DIR, GATEWAY_API_LESSONS],
  ])("in %s are exactly the lessons in the contracts, each with a kustomization", async (dir, lessons) => {
    const dirs = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual([...lessons].sort());
  });

  it("run exactly the images this repository builds, each from a Dockerfile of the repository", async () => {
    const used = new Set(LESSONS.flatMap((lesson) => ofKind(render(lesson), "Deployment").flatMap((d) => d.spec.template.spec.containers.map((c: { image: string }) => c.image))));
    expect([...used].sort()).toEqual([...IMAGE_NAMES].sort());
    for (const image of IMAGES) await expect(readFile(path.join(ROOT, image.dockerfile), "utf8")).resolves.toMatch(/^FROM /m);
  });

  it.each(allLessons())("%s passes the schema and cross-checks", (lesson) => {
    expect(checkManifests(render(lesson))).toEqual([]);
  });

  it.each(allLessons())("%s puts everything in namespace istio-lessons and uses only networking.istio.io/v1 and gateway.networking.k8s.io/v1", (lesson) => {
    const objects = render(lesson);
    const ns = the(objects, "Namespace");
    expect(ns.metadata.name).toBe(NAMESPACE);
    expect(ns.metadata.labels?.["istio-injection"]).toBe("enabled");
    for (const obj of objects.filter((o) => o.kind !== "Namespace")) {
      expect(obj.metadata.namespace, `${obj.kind}/${obj.metadata.name}`).toBe(NAMESPACE);
    }
    for (const rule of objects.filter((o) => o.apiVersion.startsWith("networking.istio.io/"))) {
      expect(rule.apiVersion).toBe("networking.istio.io/v1");
    }
    for (const route of objects.filter((o) => o.apiVersion.startsWith("gateway.networking.k8s.io/"))) {
      expect(route.apiVersion).toBe("gateway.networking.k8s.io/v1");
    }
  });

  it.each(allLessons())("%s deploys both flaskapp versions and sleep", (lesson) => {
    const names = ofKind(render(lesson), "Deployment").map((d) => d.metadata.name);
    expect(names).toEqual(expect.arrayContaining(["flaskapp-v1", "flaskapp-v2", "sleep"]));
  });
});

describe("the workloads", () => {
  const deployments = () => ofKind(render("round-robin"), "Deployment");

  it("derive flaskapp-v1 and flaskapp-v2 from one definition: they differ only in the version", () => {
    const objects = render("round-robin");
    const v1 = JSON.stringify(the(objects, "Deployment", "flaskapp-v1"));
    const v2 = JSON.stringify(the(objects, "Deployment", "flaskapp-v2"));
    expect(v2).not.toBe(v1);
    expect(v2.replaceAll("v2", "v1")).toBe(v1);
  });

  it.each(["v1", "v2"])("flaskapp-%s labels its pods and sets env version to its version", (version) => {
    const d = the(render("round-robin"), "Deployment", `flaskapp-${version}`);
    expect(d.spec.selector.matchLabels).toEqual({ app: "flaskapp", version });
    expect(d.spec.template.metadata.labels).toEqual({ app: "flaskapp", version, "sidecar.istio.io/inject": "true" });
    expect(envOf(d).version).toBe(version);
  });

  it("run as apps/v1 with sidecar injection, resources, the contract images and IfNotPresent", () => {
    for (const d of deployments()) {
      expect(d.apiVersion).toBe("apps/v1");
      expect(d.spec.template.metadata.labels["sidecar.istio.io/inject"]).toBe("true");
      expect(d.spec.template.spec.serviceAccountName).toBe(d.metadata.labels?.app);
      for (const c of d.spec.template.spec.containers) {
        expect(c.image).toBe(`istio-lessons/${d.metadata.labels?.app}:0.1.0`);
        expect(c.imagePullPolicy).toBe("IfNotPresent");
        expect(Object.keys(c.resources.requests).sort()).toEqual(["cpu", "memory"]);
        expect(Object.keys(c.resources.limits).sort()).toEqual(["cpu", "memory"]);
        expect(c.securityContext.runAsUser).toBe(1000);
        expect(c.securityContext.runAsGroup).toBe(1000);
      }
    }
  });

  it("give flaskapp probes on the http port, the downward API and what the lessons read", () => {
    const d = the(render("round-robin"), "Deployment", "flaskapp-v1");
    const c = d.spec.template.spec.containers[0];
    expect(c.ports).toEqual([{ name: "http", containerPort: 8080 }]);
    expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    const env = envOf(d);
    expect(env.POD_NAME).toEqual({ fieldRef: { fieldPath: "metadata.name" } });
    expect(env.POD_NAMESPACE).toEqual({ fieldRef: { fieldPath: "metadata.namespace" } });
    expect(env.POD_IP).toEqual({ fieldRef: { fieldPath: "status.podIP" } });
    expect(String(env.ENV_ALLOW).split(",")).toEqual(expect.arrayContaining(["version", "POD_NAME", "POD_NAMESPACE", "POD_IP", "HOSTNAME"]));
    const budget = parseDuration(String(env.SHUTDOWN_DELAY))! + parseDuration(String(env.DRAIN_TIMEOUT))!;
    expect(d.spec.template.spec.terminationGracePeriodSeconds * 1000).toBeGreaterThan(budget);
  });

  it("give sleep a writable /tmp as HOME on its read-only root", () => {
    const spec = the(render("round-robin"), "Deployment", "sleep").spec.template.spec;
    const c = spec.containers[0];
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(envOf(the(render("round-robin"), "Deployment", "sleep")).HOME).toBe("/tmp");
    const mount = c.volumeMounts.find((m: { mountPath: string }) => m.mountPath === "/tmp");
    expect(spec.volumes.find((v: { name: string }) => v.name === mount.name).emptyDir).toBeDefined();
  });

  it.each(["flaskapp", "sleep"])("expose %s on port 80 named http with appProtocol http", (name) => {
    const svc = the(render("round-robin"), "Service", name);
    expect(svc.spec.ports).toEqual([expect.objectContaining({ name: "http", appProtocol: "http", port: 80 })]);
  });

  it("point the flaskapp Service at the container port named http", () => {
    expect(the(render("round-robin"), "Service", "flaskapp").spec.ports[0].targetPort).toBe("http");
  });
});

describe("each lesson's rules", () => {
  it("round-robin has no Istio rules", () => {
    expect(render("round-robin").filter((o) => o.apiVersion.startsWith("networking.istio.io/"))).toEqual([]);
  });

  it.each(LESSONS.filter((l) => ofKind(render(l), "DestinationRule").length > 0))("%s uses the shared DestinationRule flaskapp with subsets v1 and v2", (lesson) => {
    const dr = the(render(lesson), "DestinationRule");
    expect(dr.metadata.name).toBe("flaskapp");
    expect(dr.spec.host).toBe("flaskapp");
    expect(dr.spec.subsets.map((s: { name: string; labels: object }) => ({ name: s.name, labels: s.labels }))).toEqual([
      { name: "v1", labels: { version: "v1" } },
      { name: "v2", labels: { version: "v2" } },
    ]);
  });

  it("v2-default: flaskapp-v2's pods carry version v2 and VirtualService flaskapp-default-v2 sends all of flaskapp to v2", () => {
    const objects = render("v2-default");
    const v2 = the(objects, "Deployment", "flaskapp-v2");
    expect(v2.spec.template.metadata.labels?.version).toBe("v2");
    expect(envOf(v2).version).toBe("v2");
    const vs = the(objects, "VirtualService");
    expect(vs.metadata.name).toBe("flaskapp-default-v2");
    expect(vs.spec.hosts).toEqual(["flaskapp"]);
    const rule = onlyHttpRule(vs);
    expect(rule.match).toBeUndefined();
    expect(subsetsOf(rule)).toEqual(["v2"]);
  });

  it("weighted: 70% to v1, 30% to v2", () => {
    const rule = onlyHttpRule(the(render("weighted"), "VirtualService", "flaskapp"));
    expect(rule.route.map((r: any) => [r.destination.subset, r.weight])).toEqual([
      ["v1", 70],
      ["v2", 30],
    ]);
  });

  it("header-canary: lab exactly canary goes to v2, everything else to v1", () => {
    const vs = the(render("header-canary"), "VirtualService", "flaskapp");
    expect(vs.spec.http).toHaveLength(2);
    const [canary, rest] = vs.spec.http;
    expect(canary.match).toEqual([{ headers: { lab: { exact: "canary" } } }]);
    expect(subsetsOf(canary)).toEqual(["v2"]);
    expect(rest.match).toBeUndefined();
    expect(subsetsOf(rest)).toEqual(["v1"]);
  });

  it("timeout: a 1s route timeout, so /delay/2 times out and /delay/0.5 does not", () => {
    const rule = onlyHttpRule(the(render("timeout"), "VirtualService", "flaskapp"));
    const timeout = parseDuration(rule.timeout)!;
    expect(timeout).toBe(1000);
    expect(timeout).toBeLessThan(2000);
    expect(timeout).toBeGreaterThan(500);
  });

  it("retries: 3 attempts of 1s each on 5xx, gateway errors and refused connections", () => {
    const rule = onlyHttpRule(the(render("retries"), "VirtualService", "flaskapp"));
    expect(rule.retries.attempts).toBe(3);
    expect(parseDuration(rule.retries.perTryTimeout)).toBe(1000);
    expect(rule.retries.retryOn.split(",")).toEqual(["5xx", "gateway-error", "connect-failure"]);
  });

  it("fault-delay: every request delayed 1s", () => {
    const rule = onlyHttpRule(the(render("fault-delay"), "VirtualService", "flaskapp"));
    expect(parseDuration(rule.fault.delay.fixedDelay)).toBe(1000);
    expect(rule.fault.delay.percentage).toEqual({ value: 100 });
    expect(rule.fault.abort).toBeUndefined();
  });

  it("fault-abort: HTTP 500 for half the requests", () => {
    const rule = onlyHttpRule(the(render("fault-abort"), "VirtualService", "flaskapp"));
    expect(rule.fault.abort).toEqual({ httpStatus: 500, percentage: { value: 50 } });
    expect(rule.fault.delay).toBeUndefined();
  });

  it("circuit-breaker: connection pool 1/1/1 on the shared DestinationRule, no outlier detection (an ejection would fail a re-run)", () => {
    const objects = render("circuit-breaker");
    expect(ofKind(objects, "VirtualService")).toEqual([]);
    const policy = the(objects, "DestinationRule", "flaskapp").spec.trafficPolicy;
    expect(policy.connectionPool).toEqual({ tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } });
    expect(policy.outlierDetection).toBeUndefined();
  });

  it("mirror: everything to v1, all of it mirrored to v2", () => {
    const rule = onlyHttpRule(the(render("mirror"), "VirtualService", "flaskapp"));
    expect(subsetsOf(rule)).toEqual(["v1"]);
    expect(rule.mirror).toEqual({ host: "flaskapp", subset: "v2" });
    expect(rule.mirrorPercentage).toEqual({ value: 100 });
  });

  // The same name in every lesson, so applying one lesson over another replaces the rule instead of adding a second for the same host.
  it.each(LESSONS.filter((l) => !["round-robin", "v2-default", "circuit-breaker"].includes(l)))("%s names its mesh VirtualService for flaskapp \"flaskapp\" (if it has one)", (lesson) => {
    const mesh = ofKind(render(lesson), "VirtualService").filter((vs) => (vs.spec.gateways ?? ["mesh"]).includes("mesh"));
    for (const vs of mesh) {
      expect(vs.metadata.name).toBe("flaskapp");
      expect(vs.spec.hosts).toEqual(["flaskapp"]);
    }
  });
});

describe("the Gateway API lessons", () => {
  const twin = (lesson: string) => lesson.replace(/^gateway-api\//, "");
  const gatewayLessons = GATEWAY_API_LESSONS.map((l) => `gateway-api/${l}`);
  const routes = (lesson: string) => ofKind(render(lesson), "HTTPRoute");
  /** Each rule of each HTTPRoute: its backends with their weights, and the filter types. */
  const rulesOf = (lesson: string) => routes(lesson).flatMap((r) => r.spec.rules.map((rule: any) => ({ backends: (rule.backendRefs ?? []).map((b: any) => `${b.name}:${b.port}${b.weight === undefined ? "" : `×${b.weight}`}`), filters: (rule.filters ?? []).map((f: any) => f.type) })));

  it.each(gatewayLessons)("%s has its Istio-API twin's checks (the ingress one through the Gateway's own Service)", async (lesson) => {
    const ours = await loadChecks(checksFile(overlayDir(lesson)));
    const theirs = await loadChecks(checksFile(overlayDir(twin(lesson))));
    const service = (s: string) => (s === "istio-ingressgateway.istio-system" ? "flaskapp-gateway-istio" : s);
    const comparable = (checks: typeof ours.checks) => checks.map(({ name: _name, ...check }) => check);
    expect(comparable(ours.checks)).toEqual(comparable(theirs.checks.map((c) => ({ ...c, service: service(c.service) }))));
  });

  it.each(gatewayLessons)("%s has no Istio rules, and adds the version Services flaskapp-v1 and flaskapp-v2 to the same workloads", (lesson) => {
    const objects = render(lesson);
    expect(objects.filter((o) => o.apiVersion.startsWith("networking.istio.io/"))).toEqual([]);
    const withoutRules = (o: K8sObject[]) => o.filter((x) => !x.apiVersion.startsWith("networking.istio.io/") && !x.apiVersion.startsWith("gateway.networking.k8s.io/") && !["flaskapp-v1", "flaskapp-v2"].includes(x.kind === "Service" ? x.metadata.name : ""));
    expect(withoutRules(objects)).toEqual(withoutRules(render(twin(lesson))));
  });

  it.each(["v1", "v2"])("the Service flaskapp-%s selects the pods of flaskapp-%s only, on the same port as flaskapp", (version) => {
    const objects = render("gateway-api/round-robin");
    const svc = the(objects, "Service", `flaskapp-${version}`);
    const selected = ofKind(objects, "Deployment").filter((d) => Object.entries(svc.spec.selector).every(([k, v]) => d.spec.template.metadata.labels[k] === v));
    expect(selected.map((d) => d.metadata.name)).toEqual([`flaskapp-${version}`]);
    expect(svc.spec.ports).toEqual(the(objects, "Service", "flaskapp").spec.ports);
  });

  it.each(gatewayLessons)("%s attaches its HTTPRoutes to the Service flaskapp (the mesh) or, for ingress, to the Gateway only", (lesson) => {
    for (const route of routes(lesson)) {
      const expected = lesson.endsWith("ingress-gateway") ? [{ name: "flaskapp-gateway" }] : [{ group: "", kind: "Service", name: "flaskapp", port: 80 }];
      expect(route.spec.parentRefs).toEqual(expected);
    }
  });

  it.each(gatewayLessons)("%s uses the standard channel's fields only, except retry (the experimental channel) in the retries lesson", (lesson) => {
    const outside = render(lesson)
      .filter((o) => o.apiVersion.startsWith("gateway.networking.k8s.io/"))
      .flatMap((o) => fieldsOutside(o.spec, GATEWAY_API_STANDARD[o.kind as "HTTPRoute" | "Gateway"], `${o.kind}/${o.metadata.name} spec`));
    expect(outside).toEqual(lesson === "gateway-api/retries" ? ["HTTPRoute/flaskapp spec.rules[0].retry"] : []);
  });

  const routedTo: Array<[string, unknown[]]> = [
    ["round-robin", [{ backends: ["flaskapp-v1:80", "flaskapp-v2:80"], filters: [] }]],
    ["v2-default", [{ backends: ["flaskapp-v2:80"], filters: [] }]],
    ["weighted", [{ backends: ["flaskapp-v1:80×70", "flaskapp-v2:80×30"], filters: [] }]],
    ["header-canary", [{ backends: ["flaskapp-v2:80"], filters: [] }, { backends: ["flaskapp-v1:80"], filters: [] }]],
    ["fetch-chain", [{ backends: ["flaskapp-v1:80"], filters: [] }, { backends: ["flaskapp-v2:80"], filters: [] }, { backends: ["flaskapp-v1:80"], filters: [] }]],
    ["header-manipulation", [{ backends: ["flaskapp-v1:80"], filters: ["RequestHeaderModifier", "ResponseHeaderModifier"] }]],
    ["rewrite-redirect", [{ backends: ["flaskapp-v1:80"], filters: ["URLRewrite"] }, { backends: [], filters: ["RequestRedirect"] }, { backends: ["flaskapp-v1:80"], filters: [] }]],
    ["ingress-gateway", [{ backends: ["flaskapp-v2:80"], filters: [] }, { backends: ["flaskapp-v1:80"], filters: [] }]],
    ["timeout", [{ backends: ["flaskapp-v1:80"], filters: [] }]],
    ["retries", [{ backends: ["flaskapp-v1:80"], filters: [] }]],
    ["mirror", [{ backends: ["flaskapp-v1:80"], filters: ["RequestMirror"] }]],
  ];

  it.each(routedTo)("gateway-api/%s sends each rule to the version Services its twin sends to", (lesson, rules) => {
    expect(rulesOf(`gateway-api/${lesson}`)).toEqual(rules);
  });

  it("says where every Gateway API lesson routes", () => {
    expect(routedTo.map(([lesson]) => lesson).sort()).toEqual([...GATEWAY_API_LESSONS].sort());
  });

  it("ingress-gateway: a Gateway of class istio on port 80 for flaskapp.example.com, its Service made ClusterIP, and a route for that host", () => {
    const objects = render("gateway-api/ingress-gateway");
    const gw = the(objects, "Gateway", "flaskapp-gateway");
    expect(gw.spec).toEqual({ gatewayClassName: "istio", listeners: [{ name: "http", port: 80, protocol: "HTTP", hostname: "flaskapp.example.com", allowedRoutes: { namespaces: { from: "Same" } } }] });
    expect(gw.metadata.annotations).toEqual({ "networking.istio.io/service-type": "ClusterIP" });
    expect(the(objects, "HTTPRoute", "flaskapp-ingress").spec.hostnames).toEqual(["flaskapp.example.com"]);
  });

  it("timeout and retries: a 1s request timeout; 3 attempts on 500, 502, 503, 504 with a 1s timeout each", () => {
    expect(routes("gateway-api/timeout")[0]!.spec.rules[0].timeouts).toEqual({ request: "1s" });
    const retries = routes("gateway-api/retries")[0]!.spec.rules[0];
    expect(retries.retry).toEqual({ attempts: 3, codes: [500, 502, 503, 504] });
    expect(retries.timeouts).toEqual({ backendRequest: "1s" });
  });

  it("rewrite-redirect: /legacy rewritten to /env, /old-version redirected with 301 (the twin's code; 302 is the Gateway API's default)", () => {
    const [legacy, moved] = routes("gateway-api/rewrite-redirect")[0]!.spec.rules;
    expect(legacy.filters[0].urlRewrite.path).toEqual({ type: "ReplacePrefixMatch", replacePrefixMatch: "/env" });
    expect(moved.filters[0].requestRedirect).toEqual({ path: { type: "ReplaceFullPath", replaceFullPath: "/env/version" }, statusCode: 301 });
  });
});

describe("the checks on a real render", () => {
  // The seed's mistakes, made again in our v2-default render, must be caught there too.
  const broken = (change: (objects: K8sObject[]) => void, lesson: Lesson = "v2-default"): string[] => {
    const objects = structuredClone(render(lesson));
    change(objects);
    return checkManifests(objects).map((f) => `${f.rule} ${f.object}`);
  };

  it.each([
    // Subset v1 then selects two Deployments and v2 none; the selector no longer matches.
    ["flaskapp-v2's pods labelled version v1", (o: K8sObject[]) => (the(o, "Deployment", "flaskapp-v2").spec.template.metadata.labels.version = "v1"), ["subset-pods DestinationRule/flaskapp", "subset-pods DestinationRule/flaskapp", "deployment-selector Deployment/flaskapp-v2"]],
    ["the sleep port named ssh", (o: K8sObject[]) => Object.assign(the(o, "Service", "sleep").spec.ports[0], { name: "ssh", appProtocol: undefined }), ["port-name Service/sleep"]],
    ["a Deployment on extensions/v1beta1", (o: K8sObject[]) => (the(o, "Deployment", "sleep").apiVersion = "extensions/v1beta1"), ["api-version Deployment/sleep"]],
    ["the route to a subset v3", (o: K8sObject[]) => (the(o, "VirtualService").spec.http[0].route[0].destination.subset = "v3"), ["route-subset VirtualService/flaskapp-default-v2"]],
    ["a root container", (o: K8sObject[]) => (the(o, "Deployment", "flaskapp-v1").spec.template.spec.containers[0].securityContext.runAsUser = 0), ["restricted Deployment/flaskapp-v1"]],
    ["a grace period of 10s", (o: K8sObject[]) => (the(o, "Deployment", "flaskapp-v1").spec.template.spec.terminationGracePeriodSeconds = 10), ["shutdown-budget Deployment/flaskapp-v1"]],
    ["an image tag nobody builds", (o: K8sObject[]) => (the(o, "Deployment", "sleep").spec.template.spec.containers[0].image = "istio-lessons/sleep:latest"), ["image Deployment/sleep"]],
  ] as [string, (o: K8sObject[]) => void, string[]][])("report %s", (_name, change, expected) => {
    expect(broken(change).sort()).toEqual(expected.sort());
  });

  it.each([
    ["a backendRef to a Service that does not exist", (o: K8sObject[]) => (the(o, "HTTPRoute").spec.rules[0].backendRefs[0].name = "flaskapp-v3"), ["route-host HTTPRoute/flaskapp-default-v2"]],
    ["a version Service that selects no pods", (o: K8sObject[]) => (the(o, "Service", "flaskapp-v2").spec.selector.version = "v3"), ["service-selector Service/flaskapp-v2"]],
    ["the parent Service misspelled", (o: K8sObject[]) => (the(o, "HTTPRoute").spec.parentRefs[0].name = "flask-app"), ["route-parent HTTPRoute/flaskapp-default-v2"]],
    ["a weight written as a string", (o: K8sObject[]) => (the(o, "HTTPRoute").spec.rules[0].backendRefs[0].weight = "100"), ["schema HTTPRoute/flaskapp-default-v2"]],
    ["the HTTPRoute on v1alpha2", (o: K8sObject[]) => (the(o, "HTTPRoute").apiVersion = "gateway.networking.k8s.io/v1alpha2"), ["api-version HTTPRoute/flaskapp-default-v2"]],
  ] as [string, (o: K8sObject[]) => void, string[]][])("report %s in gateway-api/v2-default", (_name, change, expected) => {
    expect(broken(change, "gateway-api/v2-default").sort()).toEqual(expected.sort());
  });
});

describe("the registry override documented in the README", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "k8s-images-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("moves both images to the registry with kustomize images:", async () => {
    await writeFile(
      path.join(dir, "kustomization.yaml"),
      [
        "resources:",
        // kustomize takes only relative paths to other kustomizations, as the README shows.
        `  - ${path.relative(dir, path.join(OVERLAYS, "v2-default"))}`,
        "images:",
        "  - name: istio-lessons/flaskapp",
        "    newName: registry.example.com/istio-lessons/flaskapp",
        "  - name: istio-lessons/sleep",
        "    newName: registry.example.com/istio-lessons/sleep",
        "",
      ].join("\n"),
    );
    const images = ofKind(await renderKustomization(dir), "Deployment").map((d) => d.spec.template.spec.containers[0].image);
    expect(images.sort()).toEqual([
      "registry.example.com/istio-lessons/flaskapp:0.1.0",
      "registry.example.com/istio-lessons/flaskapp:0.1.0",
      "registry.example.com/istio-lessons/sleep:0.1.0",
    ]);
  });
});

describe("a render that fails", () => {
  it("is one line with kustomize's own words, without kubectl's log prefix", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "no-kustomization-"));
    try {
      await expect(renderKustomization(dir)).rejects.toThrow(
        new RenderError(`kubectl kustomize ${dir} failed: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '${dir}'`),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("without kubectl", () => {
  it("rendering fails with a message that names kubectl", async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmpdir(), "no-such-dir");
    try {
      await expect(renderKustomization(path.join(OVERLAYS, "round-robin"))).rejects.toThrow(/kubectl is not installed or not on PATH/);
    } finally {
      process.env.PATH = saved;
    }
  });
});
