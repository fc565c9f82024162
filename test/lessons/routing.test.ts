// Which rules apply to a request: host resolution as sidecars and gateways do
// it, route matching and the route's actions, one table per decision.
import { describe, expect, it } from "vitest";
import { labelsMatch } from "#lessons/core/kustomize.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import type { HttpRoute, MeshConfig, RequestMatch, StringMatch } from "#lessons/mesh/model.ts";
import { NEWEST_RELEASE } from "#lessons/mesh/releases.ts";
import {
  applyHeaderOperations,
  findService,
  gatewayHost,
  matchRequest,
  matchString,
  redirectLocation,
  rewritePath,
  routesOf,
  selectRoute,
  sidecarHost,
  type RequestInfo,
} from "#lessons/mesh/routing.ts";

const request = (path: string, headers: Record<string, string> = {}, method = "GET"): RequestInfo => ({
  path,
  method,
  headers,
});

describe("[match] matchString", () => {
  const cases: Array<[string, StringMatch, string | undefined, boolean]> = [
    ["exact equal", { exact: "canary" }, "canary", true],
    ["exact differs in case", { exact: "canary" }, "Canary", false],
    ["exact on a missing header", { exact: "canary" }, undefined, false],
    ["prefix", { prefix: "/env" }, "/env/version", true],
    ["prefix not at start", { prefix: "/version" }, "/env/version", false],
    ["regex must match all of it", { regex: /^(?:v[12])$/ }, "v1", true],
    ["regex partial match is no match", { regex: /^(?:v[12])$/ }, "v12", false],
  ];
  it.each(cases)("%s", (_name, match, value, expected) => {
    expect(matchString(match, value)).toBe(expected);
  });
});

describe("[match] matchRequest", () => {
  const cases: Array<[string, RequestMatch, RequestInfo, boolean]> = [
    ["empty match applies to everything", { headers: {} }, request("/x"), true],
    ["exact uri ignores the query", { uri: { exact: "/env/version" }, headers: {} }, request("/env/version?a=1"), true],
    ["exact uri differs", { uri: { exact: "/env/version" }, headers: {} }, request("/env/versions"), false],
    [
      "prefix uri sees the query",
      { uri: { prefix: "/env/version?a" }, headers: {} },
      request("/env/version?a=1"),
      true,
    ],
    ["regex uri ignores the query", { uri: { regex: /^(?:\/delay\/\d+)$/ }, headers: {} }, request("/delay/2?x"), true],
    ["method", { method: { exact: "POST" }, headers: {} }, request("/", {}, "GET"), false],
    [
      "header and uri both needed",
      { uri: { prefix: "/env" }, headers: { lab: { exact: "canary" } } },
      request("/env/version", { lab: "canary" }),
      true,
    ],
    [
      "header and uri: header missing",
      { uri: { prefix: "/env" }, headers: { lab: { exact: "canary" } } },
      request("/env/version"),
      false,
    ],
    ["header with another value", { headers: { lab: { exact: "canary" } } }, request("/", { lab: "phoenix" }), false],
  ];
  it.each(cases)("%s", (_name, match, req, expected) => {
    expect(matchRequest(match, req)).toBe(expected);
  });
});

describe("[match] selectRoute", () => {
  const route = (name: string, match: RequestMatch[]): HttpRoute => ({
    source: name,
    name,
    match,
    route: [],
    retries: NEWEST_RELEASE.defaultRetry,
  });
  const canary = route("canary", [
    { headers: { lab: { exact: "canary" } } },
    { uri: { prefix: "/canary" }, headers: {} },
  ]);
  const rest = route("rest", []);
  const cases: Array<[string, HttpRoute[], RequestInfo, string | undefined]> = [
    ["first matching route wins", [canary, rest], request("/", { lab: "canary" }), "canary"],
    ["match list is OR: second condition", [canary, rest], request("/canary/x"), "canary"],
    ["falls through to the catch-all", [canary, rest], request("/", { lab: "phoenix" }), "rest"],
    ["no route matches", [canary], request("/"), undefined],
    ["catch-all first shadows the rest", [rest, canary], request("/", { lab: "canary" }), "rest"],
  ];
  it.each(cases)("%s", (_name, routes, req, expected) => {
    expect(selectRoute(routes, req)?.route.name).toBe(expected);
  });
});

describe("[readiness] labelsMatch: the pods a selector picks", () => {
  const cases: Array<[Record<string, string>, Record<string, string>, boolean]> = [
    [{ version: "v2" }, { app: "flaskapp", version: "v2" }, true],
    [{ version: "v2" }, { app: "flaskapp", version: "v1" }, false],
    [{ version: "v2" }, { app: "flaskapp" }, false],
    [{}, { app: "flaskapp" }, true],
  ];
  it.each(cases)("%j selects %j: %s", (selector, labels, expected) => {
    expect(labelsMatch(selector, labels)).toBe(expected);
  });
});

describe("[source-labels] source labels select the proxies that get a match block", () => {
  const ns = "istio-lessons";
  const rules = (http: unknown[]) =>
    meshConfig([
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name: "flaskapp", namespace: ns },
        spec: { selector: { app: "flaskapp" }, ports: [{ port: 80 }] },
      },
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "flaskapp", namespace: ns },
        spec: { hosts: ["flaskapp"], http },
      },
    ] as never);
  const toV = (v: string) => ({ route: [{ destination: { host: "flaskapp", subset: v } }] });
  const decisionOf = (config: MeshConfig) =>
    sidecarHost(config, { kind: "sidecar", namespace: ns, labels: {} }, "flaskapp") as Extract<
      ReturnType<typeof sidecarHost>,
      { kind: "service" }
    >;
  const names = (config: MeshConfig, labels: Record<string, string>) =>
    routesOf(config, decisionOf(config), labels).map((r) => r.source);
  it.each([
    [
      "the sleep client gets the sourceLabels route and the catch-all",
      { app: "sleep", version: "v1" },
      ["VirtualService flaskapp http[0]", "VirtualService flaskapp http[1]"],
    ],
    ["a flaskapp pod gets only the catch-all", { app: "flaskapp", version: "v1" }, ["VirtualService flaskapp http[1]"]],
  ])("%s", (_name, labels, expected) => {
    expect(names(rules([{ match: [{ sourceLabels: { app: "sleep" } }], ...toV("v2") }, toV("v1")]), labels)).toEqual(
      expected,
    );
  });
  it("a block without sourceLabels stays for everyone; the blocks a proxy lacks are dropped from the route", () => {
    const config = rules([
      { match: [{ sourceLabels: { app: "sleep" } }, { headers: { lab: { exact: "canary" } } }], ...toV("v2") },
    ]);
    expect(routesOf(config, decisionOf(config), { app: "flaskapp" })[0]!.match).toEqual([
      { headers: { lab: { exact: "canary" } } },
    ]);
  });
  it("a VirtualService left with no route for a proxy is skipped: the Service's default route applies", () => {
    expect(names(rules([{ match: [{ sourceLabels: { app: "sleep" } }], ...toV("v2") }]), { app: "flaskapp" })).toEqual([
      "no VirtualService for flaskapp: default route",
    ]);
  });
});

const NS = "istio-lessons";
const objects = [
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "flaskapp", namespace: NS },
    spec: { selector: { app: "flaskapp" }, ports: [{ port: 80 }] },
  },
  {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "other", namespace: "elsewhere" },
    spec: { selector: { app: "other" }, ports: [{ port: 80 }] },
  },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name: "httpbin", namespace: NS },
    spec: { hosts: ["httpbin.org"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "DNS" },
  },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: NS },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["flaskapp.example.com"] }],
    },
  },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "ingress", namespace: NS },
    spec: {
      hosts: ["flaskapp.example.com"],
      gateways: ["gw"],
      http: [{ route: [{ destination: { host: "flaskapp" } }] }],
    },
  },
  {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "mesh", namespace: NS },
    spec: { hosts: ["flaskapp"], http: [{ route: [{ destination: { host: "flaskapp" } }] }] },
  },
];
const config = (extra: object[] = []): MeshConfig => meshConfig([...objects, ...extra] as never);
const sidecar = { kind: "sidecar" as const, namespace: NS, labels: { app: "sleep" } };
const gateway = { kind: "gateway" as const, namespace: "istio-system", labels: { istio: "ingressgateway" }, port: 80 };

describe("[host-resolution] host resolution (findService)", () => {
  it.each([
    ["the short name from the Service's namespace", "flaskapp", NS, "flaskapp.istio-lessons.svc.cluster.local"],
    ["with a port", "flaskapp:80", NS, "flaskapp.istio-lessons.svc.cluster.local"],
    ["name.namespace", "flaskapp.istio-lessons", NS, "flaskapp.istio-lessons.svc.cluster.local"],
    ["the FQDN", "flaskapp.istio-lessons.svc.cluster.local", NS, "flaskapp.istio-lessons.svc.cluster.local"],
    ["another namespace needs its name", "other", NS, undefined],
    ["another namespace by name.namespace", "other.elsewhere", NS, "other.elsewhere.svc.cluster.local"],
    ["an outside host from a ServiceEntry", "httpbin.org", NS, "httpbin.org"],
    ["an unknown host", "example.com", NS, undefined],
  ])("%s: %s", (_name, host, namespace, expected) => {
    expect(findService(config(), host, namespace)?.host).toBe(expected);
  });
});

describe("[outbound-policy] [service-entry] what a sidecar does with a host", () => {
  it.each([
    ["a Service with a VirtualService: its routes", "flaskapp", undefined, "service", "VirtualService mesh"],
    [
      "the gateway-bound VirtualService does not apply to sidecars",
      "flaskapp.example.com",
      "flaskapp",
      "passthrough",
      undefined,
    ],
    ["an outside host from a ServiceEntry", "httpbin.org", undefined, "service", undefined],
    ["an unknown host under ALLOW_ANY: passthrough", "example.com", undefined, "passthrough", undefined],
  ])("%s", (_name, authority, destination, kind, source) => {
    const decision = sidecarHost(config(), sidecar, authority, destination);
    expect(decision.kind).toBe(kind);
    expect(decision.kind === "service" ? decision.virtualHost?.source : undefined).toBe(source);
  });

  it("an unknown host under REGISTRY_ONLY (a Sidecar in the namespace): blackhole", () => {
    const registryOnly = config([
      {
        apiVersion: "networking.istio.io/v1",
        kind: "Sidecar",
        metadata: { name: "default", namespace: NS },
        spec: { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } },
      },
    ]);
    expect(sidecarHost(registryOnly, sidecar, "example.com").kind).toBe("blackhole");
    expect(sidecarHost(registryOnly, sidecar, "httpbin.org").kind).toBe("service");
    expect(sidecarHost(registryOnly, { ...sidecar, namespace: "elsewhere" }, "example.com").kind).toBe("passthrough");
  });
});

describe("[gateway] what a gateway does with a host", () => {
  it.each([
    ["a host a bound VirtualService and the Gateway's server both name", "flaskapp.example.com", "gateway-route"],
    ["with a port", "flaskapp.example.com:80", "gateway-route"],
    ["a host no Gateway server accepts: 404", "other.example.com", "no-route"],
    ["a mesh Service name is not a gateway host", "flaskapp", "no-route"],
  ])("%s", (_name, authority, kind) => {
    expect(gatewayHost(config(), gateway, authority).kind).toBe(kind);
  });

  it("a gateway whose labels the Gateway does not select routes nothing", () => {
    expect(gatewayHost(config(), { ...gateway, labels: { istio: "egressgateway" } }, "flaskapp.example.com").kind).toBe(
      "no-route",
    );
  });
});

describe("[rewrite] rewritePath", () => {
  it.each([
    [
      "a prefix match replaces the matched prefix",
      "/legacy/env/version",
      "/env/",
      { headers: {}, uri: { prefix: "/legacy/" } },
      "/env/env/version",
    ],
    ["and keeps the query", "/old/x?a=1", "/new/", { headers: {}, uri: { prefix: "/old/" } }, "/new/x?a=1"],
    [
      "an exact match replaces the whole path, keeping the query",
      "/version?a=1",
      "/env/version",
      { headers: {}, uri: { exact: "/version" } },
      "/env/version?a=1",
    ],
    ["no uri match replaces the whole path", "/anything", "/env/version", undefined, "/env/version"],
  ])("%s", (_name, path, rewrite, matched, expected) => {
    expect(rewritePath(path, rewrite, matched as RequestMatch | undefined)).toBe(expected);
  });
});

describe("[redirect] redirectLocation", () => {
  const req = { path: "/old/version?a=1", authority: "flaskapp", scheme: "http" };
  it.each([
    ["uri replaces the path, the query is kept", { uri: "/env/version" }, "http://flaskapp/env/version?a=1"],
    [
      "authority replaces the host",
      { authority: "flaskapp.example.com" },
      "http://flaskapp.example.com/old/version?a=1",
    ],
    ["scheme and port", { scheme: "https", port: 8443 }, "https://flaskapp:8443/old/version?a=1"],
    ["a uri with its own query replaces the query", { uri: "/env/version?b=2" }, "http://flaskapp/env/version?b=2"],
  ])("%s", (_name, redirect, expected) => {
    expect(redirectLocation(redirect, req)).toBe(expected);
  });
});

describe("[headers] applyHeaderOperations", () => {
  it("removes, then sets (replacing), then adds (appending)", () => {
    const headers: Record<string, string> = { "x-a": "1", "x-b": "2", "x-c": "3" };
    applyHeaderOperations(headers, { remove: ["x-a"], set: { "X-B": "two" }, add: { "x-c": "three", "x-d": "4" } });
    expect(headers).toEqual({ "x-b": "two", "x-c": "3, three", "x-d": "4" });
  });
});
