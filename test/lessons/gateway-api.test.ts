// Reading Gateway API objects into the preview's mesh configuration, as istiod
// converts them: good objects and the model built from them, and beside them the
// bad ones, each an error naming the object and the field.
import { readFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { renderKustomization } from "#lessons/core/kustomize.ts";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import { fieldsOutside } from "#lessons/mesh/fields.ts";
import { RuleError, type HttpRoute, type MeshConfig } from "#lessons/mesh/model.ts";
import {
  GATEWAY_API_MODELLED,
  GATEWAY_API_SCHEMA,
  gatewayDuration,
  sortGatewayRoutes,
} from "#lessons/mesh/gateway-api.ts";
import { GATEWAY_API_CANNOT, GATEWAY_API_LESSONS, LESSONS } from "#lessons/catalog/lessons.ts";
import { Mesh } from "#lessons/mesh/mesh.ts";
import { runningPodCount } from "#lessons/mesh/pods.ts";
import { jsonPatch, overlayOver, removeOverlays } from "./overlay.ts";
import { NEWEST_RELEASE, OLDEST_RELEASE } from "#lessons/mesh/releases.ts";
import {
  gatewayHost,
  matchRequest,
  redirectLocation,
  regexRewritePath,
  rewritePath,
  selectRoute,
  sidecarHost,
} from "#lessons/mesh/routing.ts";
import { lessonRender } from "../renders.ts";

const NS = "istio-lessons";
const HOST = (name: string) => `${name}.${NS}.svc.cluster.local`;
const service = (name: string, selector: Record<string, string>, namespace = NS): K8sObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace },
  spec: { selector, ports: [{ name: "http", port: 80 }] },
});
const SERVICES = [
  service("flaskapp", { app: "flaskapp" }),
  service("flaskapp-v1", { app: "flaskapp", version: "v1" }),
  service("flaskapp-v2", { app: "flaskapp", version: "v2" }),
];
const MESH = { group: "", kind: "Service", name: "flaskapp", port: 80 };
const to = (name: string, extra: Record<string, unknown> = {}) => ({ name, port: 80, ...extra });
const httpRoute = (rules: unknown[], spec: Record<string, unknown> = {}, name = "flaskapp"): K8sObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace: NS },
  spec: { parentRefs: [MESH], rules, ...spec },
});
const LISTENER = { name: "http", port: 80, protocol: "HTTP", hostname: "flaskapp.example.com" };
const gateway = (spec: Record<string, unknown> = {}, name = "gw"): K8sObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name, namespace: NS },
  spec: { gatewayClassName: "istio", listeners: [LISTENER], ...spec },
});
const ingressRoute = (spec: Record<string, unknown> = {}) =>
  httpRoute(
    [{ backendRefs: [to("flaskapp-v1")] }],
    { parentRefs: [{ name: "gw" }], hostnames: ["flaskapp.example.com"], ...spec },
    "ingress",
  );
const configOf = (...objects: K8sObject[]): MeshConfig => meshConfig([...SERVICES, ...objects]);
/** The routes of the only virtual host. */
const routesOf = (...objects: K8sObject[]): HttpRoute[] => {
  const config = configOf(...objects);
  expect(config.virtualHosts).toHaveLength(1);
  return config.virtualHosts[0]!.routes;
};
const onlyRoute = (rule: Record<string, unknown>): HttpRoute => {
  const routes = routesOf(httpRoute([rule]));
  expect(routes).toHaveLength(1);
  return routes[0]!;
};
const request = (path: string, headers: Record<string, string> = {}, method = "GET") => ({ path, method, headers });

describe("[gw-unknown-field] a field the Gateway API does not have is a typo, a real one the preview does not model says so", () => {
  it.each([
    [
      "backendRef (singular)",
      httpRoute([{ backendRef: [to("flaskapp-v1")] }]),
      "HTTPRoute flaskapp: spec.rules[0].backendRef: no such field in gateway.networking.k8s.io/v1 HTTPRoute",
    ],
    [
      "parentRef.service",
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], { parentRefs: [{ ...MESH, service: "x" }] }),
      "spec.parentRefs[0].service: no such field",
    ],
    [
      "a Gateway listener's host (not hostname)",
      gateway({ listeners: [{ ...LISTENER, host: "x" }] }),
      "Gateway gw: spec.listeners[0].host: no such field in gateway.networking.k8s.io/v1 Gateway",
    ],
  ])("%s", (_name, obj, message) => {
    expect(() => configOf(obj)).toThrow(RuleError);
    expect(() => configOf(obj)).toThrow(message);
  });

  it.each([
    [
      "sessionPersistence",
      httpRoute([{ backendRefs: [to("flaskapp-v1")], sessionPersistence: { sessionName: "s" } }]),
      "spec.rules[0].sessionPersistence",
    ],
    [
      "a CORS filter",
      httpRoute([
        { filters: [{ type: "CORS", cors: { allowOrigins: ["https://x"] } }], backendRefs: [to("flaskapp-v1")] },
      ]),
      "spec.rules[0].filters[0].cors",
    ],
    [
      "retry.backoff",
      httpRoute([{ retry: { attempts: 1, backoff: "1s" }, backendRefs: [to("flaskapp-v1")] }]),
      "spec.rules[0].retry.backoff",
    ],
    [
      "a mirror filter on a backendRef",
      httpRoute([
        {
          backendRefs: [
            to("flaskapp-v1", {
              filters: [{ type: "RequestMirror", requestMirror: { backendRef: to("flaskapp-v2") } }],
            }),
          ],
        },
      ]),
      "spec.rules[0].backendRefs[0].filters[0].requestMirror",
    ],
    ["a Gateway's addresses", gateway({ addresses: [{ value: "10.0.0.1" }] }), "spec.addresses"],
    [
      "a listener's tls",
      gateway({ listeners: [{ ...LISTENER, tls: { mode: "Terminate" } }] }),
      "spec.listeners[0].tls",
    ],
  ])("%s", (_name, obj, field) => {
    expect(() => configOf(obj)).toThrow(
      `${field}: a real Gateway API field the mesh preview does not model (docs/gateway-api.md lists what it does)`,
    );
  });

  it("every modelled field is a field of the Gateway API's CRDs", () => {
    const sample = (shape: unknown): unknown =>
      shape === true
        ? "x"
        : Array.isArray(shape)
          ? [sample(shape[0])]
          : Object.fromEntries(Object.entries(shape as object).map(([k, v]) => [k, sample(v)]));
    for (const kind of ["HTTPRoute", "Gateway"] as const)
      expect(fieldsOutside(sample(GATEWAY_API_MODELLED[kind]), GATEWAY_API_SCHEMA[kind], "spec"), kind).toEqual([]);
  });

  it.each([
    [
      "v1beta1",
      { ...httpRoute([]), apiVersion: "gateway.networking.k8s.io/v1beta1" },
      "HTTPRoute flaskapp: apiVersion gateway.networking.k8s.io/v1beta1: use gateway.networking.k8s.io/v1",
    ],
    [
      "a GRPCRoute",
      { ...httpRoute([]), kind: "GRPCRoute" },
      "GRPCRoute flaskapp: GRPCRoute is not modelled by the mesh preview (it models Gateway and HTTPRoute)",
    ],
    [
      "a GatewayClass",
      { apiVersion: "gateway.networking.k8s.io/v1", kind: "GatewayClass", metadata: { name: "istio" }, spec: {} },
      "GatewayClass istio: GatewayClass is not modelled",
    ],
  ] as [string, K8sObject, string][])("%s is refused", (_name, obj, message) => {
    expect(() => configOf(obj)).toThrow(message);
  });
});

describe("[gw-parent-service] an HTTPRoute on a Service applies to every request for that Service (GAMMA)", () => {
  it("becomes the Service's mesh routes, whatever the route's hostnames", () => {
    const config = configOf(
      httpRoute([{ backendRefs: [to("flaskapp-v2")] }], { hostnames: ["elsewhere.example.com"] }),
    );
    expect(config.virtualHosts).toEqual([
      {
        source: "HTTPRoute flaskapp",
        namespace: NS,
        hosts: [HOST("flaskapp")],
        gateways: ["mesh"],
        routes: [expect.objectContaining({ source: "HTTPRoute flaskapp rules[0]" })],
      },
    ]);
    const decision = sidecarHost(config, { kind: "sidecar", namespace: NS, labels: { app: "sleep" } }, "flaskapp");
    expect(decision).toMatchObject({ kind: "service", virtualHost: { source: "HTTPRoute flaskapp" } });
  });

  it.each([
    [
      "a Service not in the render",
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], { parentRefs: [{ ...MESH, name: "web" }] }),
      "HTTPRoute flaskapp: spec.parentRefs[0]: Service istio-lessons/web is not in the render",
    ],
    [
      "another port than the Service's",
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], { parentRefs: [{ ...MESH, port: 8080 }] }),
      "spec.parentRefs[0].port: Service istio-lessons/flaskapp has port 80, not 8080",
    ],
    [
      "a Service in another namespace (a consumer route)",
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], { parentRefs: [{ ...MESH, namespace: "other" }] }),
      "spec.parentRefs[0]: Service other/flaskapp is not in the render",
    ],
    [
      "no parent",
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], { parentRefs: [] }),
      "spec.parentRefs: expected at least one parent",
    ],
    [
      "a ServiceEntry parent",
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], {
        parentRefs: [{ group: "networking.istio.io", kind: "ServiceEntry", name: "x" }],
      }),
      'spec.parentRefs[0]: group "networking.istio.io" kind "ServiceEntry": the preview models a Service (group "") or a Gateway as parent',
    ],
  ])("refused: %s", (_name, obj, message) => {
    expect(() => configOf(obj)).toThrow(message);
  });

  it("refused: a consumer route, in the clients' namespace, for a Service of another namespace", () => {
    const objects = [
      service("flaskapp", { app: "flaskapp" }, "other"),
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], { parentRefs: [{ ...MESH, namespace: "other" }] }),
    ];
    expect(() => configOf(...objects)).toThrow(
      "spec.parentRefs[0].namespace: other: a consumer route (for the clients of namespace istio-lessons only) is not modelled",
    );
  });

  it("refused: an HTTPRoute and a VirtualService for the same Service", () => {
    const vs: K8sObject = {
      apiVersion: "networking.istio.io/v1",
      kind: "VirtualService",
      metadata: { name: "flaskapp", namespace: NS },
      spec: { hosts: ["flaskapp"], http: [{ route: [{ destination: { host: "flaskapp" } }] }] },
    };
    expect(() => configOf(httpRoute([{ backendRefs: [to("flaskapp-v1")] }]), vs)).toThrow(
      "VirtualService flaskapp: a second VirtualService for flaskapp.istio-lessons.svc.cluster.local (the first is HTTPRoute flaskapp)",
    );
  });
});

describe("[gw-backends] backendRefs: Services of the render with their port, weights relative (default 1)", () => {
  it("weights default to 1 and are relative; a backend of weight 0 is dropped", () => {
    const route = onlyRoute({
      backendRefs: [to("flaskapp-v1"), to("flaskapp-v2", { weight: 3 }), to("flaskapp", { weight: 0 })],
    });
    expect(route.route).toEqual([
      { destination: { host: HOST("flaskapp-v1") }, weight: 1 },
      { destination: { host: HOST("flaskapp-v2") }, weight: 3 },
    ]);
  });

  it.each([
    [
      "no port",
      [{ name: "flaskapp-v1" }],
      "spec.rules[0].backendRefs[0].port: missing: a reference to a Service needs its port",
    ],
    [
      "another port than the Service's",
      [to("flaskapp-v1", { port: 8080 })],
      "spec.rules[0].backendRefs[0].port: Service istio-lessons/flaskapp-v1 has port 80, not 8080",
    ],
    [
      "a host name for a name",
      [to("flaskapp-v1.istio-lessons.svc.cluster.local")],
      "spec.rules[0].backendRefs[0].name: flaskapp-v1.istio-lessons.svc.cluster.local: the name of a Service, not a host name",
    ],
    [
      "a ServiceEntry Hostname",
      [to("httpbin.org", { group: "networking.istio.io", kind: "Hostname" })],
      'spec.rules[0].backendRefs[0]: group "networking.istio.io" kind "Hostname": the preview models references to Services',
    ],
    [
      "a weight above 1,000,000",
      [to("flaskapp-v1", { weight: 1_000_001 })],
      "spec.rules[0].backendRefs[0].weight: expected an integer from 0 to 1000000",
    ],
  ])("refused: %s", (_name, backendRefs, message) => {
    expect(() => configOf(httpRoute([{ backendRefs }]))).toThrow(message);
  });

  it.each([
    ["only weights of 0", [to("flaskapp-v1", { weight: 0 })]],
    ["no backendRefs", []],
  ])("%s: a direct response 500 (convertHTTPRoute)", (_name, backendRefs) => {
    expect(onlyRoute({ backendRefs }).directResponse).toEqual({
      status: 500,
      reason: "no backend with a weight above 0: 500",
    });
  });

  it("no rules at all: the CRD's default rule, without a backend, answers 500", () => {
    expect(
      configOf({ ...httpRoute([]), spec: { parentRefs: [MESH] } }).virtualHosts[0]!.routes[0]!.directResponse?.status,
    ).toBe(500);
  });

  it("a Service not in the render: not ResolvedRefs (BackendNotFound), a warning, and its share of requests gets 500", () => {
    const config = configOf(httpRoute([{ backendRefs: [to("flaskapp-v1"), to("flaskapp-v3")] }]));
    expect(config.warnings).toEqual([
      "HTTPRoute flaskapp: spec.rules[0].backendRefs[1]: not ResolvedRefs (BackendNotFound: Service istio-lessons/flaskapp-v3); its share of requests gets 500",
    ]);
    expect(config.virtualHosts[0]!.routes[0]!.route[1]).toMatchObject({
      weight: 1,
      unresolved: "backend not resolved: BackendNotFound: Service istio-lessons/flaskapp-v3",
    });
  });
});

describe("[gw-match] matches as istiod converts them, with the Gateway API's defaults", () => {
  it.each([
    ["no matches: PathPrefix / (the CRD default)", undefined, [{ headers: {}, uri: { prefix: "/" } }]],
    [
      "a match without path: PathPrefix /",
      [{ method: "GET" }],
      [{ headers: {}, uri: { prefix: "/" }, method: { exact: "GET" } }],
    ],
    [
      "PathPrefix, the trailing / ignored: a path-separated prefix",
      [{ path: { value: "/legacy/" } }],
      [{ headers: {}, uri: { pathSeparatedPrefix: "/legacy" } }],
    ],
    ["Exact", [{ path: { type: "Exact", value: "/old-version" } }], [{ headers: {}, uri: { exact: "/old-version" } }]],
    [
      "RegularExpression, whole path",
      [{ path: { type: "RegularExpression", value: "/env/v[12]" } }],
      [{ headers: {}, uri: { regex: /^(?:\/env\/v[12])$/ } }],
    ],
    [
      "headers Exact by default and RegularExpression, names lower-cased",
      [
        {
          headers: [
            { name: "Lab", value: "canary" },
            { type: "RegularExpression", name: "x-user", value: "a.*" },
          ],
        },
      ],
      [{ uri: { prefix: "/" }, headers: { lab: { exact: "canary" }, "x-user": { regex: /^(?:a.*)$/ } } }],
    ],
  ] as [string, unknown, unknown[]][])("%s", (_name, matches, expected) => {
    const rule =
      matches === undefined ? { backendRefs: [to("flaskapp-v1")] } : { matches, backendRefs: [to("flaskapp-v1")] };
    expect(onlyRoute(rule).match).toEqual(expected);
  });

  it("a rule with two matches becomes two routes, one match each (as HTTPRouteCollection splits it)", () => {
    const routes = routesOf(
      httpRoute([
        {
          matches: [{ path: { type: "Exact", value: "/a" } }, { headers: [{ name: "lab", value: "x" }] }],
          backendRefs: [to("flaskapp-v1")],
        },
      ]),
    );
    expect(routes.map((r) => [r.source, r.match])).toEqual([
      ["HTTPRoute flaskapp rules[0] matches[0]", [{ headers: {}, uri: { exact: "/a" } }]],
      ["HTTPRoute flaskapp rules[0] matches[1]", [{ headers: { lab: { exact: "x" } }, uri: { prefix: "/" } }]],
    ]);
  });

  it.each([
    ["/legacy", true],
    ["/legacy/version", true],
    ["/legacy?x=1", true],
    ["/legacyx", false],
    ["/leg", false],
  ])("a PathPrefix /legacy matches %s: %s (whole segments, Envoy's path_separated_prefix)", (path, matches) => {
    const [match] = onlyRoute({ matches: [{ path: { value: "/legacy" } }], backendRefs: [to("flaskapp-v1")] }).match;
    expect(matchRequest(match!, request(path))).toBe(matches);
  });

  it.each([
    [
      "a path type Prefix",
      [{ path: { type: "Prefix", value: "/" } }],
      'spec.rules[0].matches[0].path.type: expected one of PathPrefix, Exact, RegularExpression, got "Prefix"',
    ],
    [
      "a path without /",
      [{ path: { value: "env" } }],
      'spec.rules[0].matches[0].path.value: "env": a path starts with /',
    ],
    [
      "a bad regular expression",
      [{ path: { type: "RegularExpression", value: "/(" } }],
      "spec.rules[0].matches[0].path.value: not a valid regular expression: /(",
    ],
    [
      "a header matched twice",
      [
        {
          headers: [
            { name: "lab", value: "a" },
            { name: "Lab", value: "b" },
          ],
        },
      ],
      "spec.rules[0].matches[0].headers[1].name: lab is matched twice",
    ],
    [
      "a header match type Prefix",
      [{ headers: [{ type: "Prefix", name: "lab", value: "a" }] }],
      'spec.rules[0].matches[0].headers[0].type: expected one of Exact, RegularExpression, got "Prefix"',
    ],
  ])("refused: %s", (_name, matches, message) => {
    expect(() => configOf(httpRoute([{ matches, backendRefs: [to("flaskapp-v1")] }]))).toThrow(message);
  });
});

describe("[gw-precedence] routes in the Gateway API's order of precedence, not the order written", () => {
  const rule = (name: string, match?: Record<string, unknown>) => ({
    name,
    ...(match ? { matches: [match] } : {}),
    backendRefs: [to("flaskapp-v1")],
  });
  it("Exact before PathPrefix before RegularExpression, longer paths first, then a method, then more headers; a rule matching everything last", () => {
    const routes = routesOf(
      httpRoute([
        rule("everything"),
        rule("regex", { path: { type: "RegularExpression", value: "/env/.*/long/regex" } }),
        rule("short-prefix", { path: { value: "/env" } }),
        rule("one-header", { headers: [{ name: "a", value: "1" }] }),
        rule("two-headers", {
          headers: [
            { name: "a", value: "1" },
            { name: "b", value: "2" },
          ],
        }),
        rule("method", { method: "POST" }),
        rule("long-prefix", { path: { value: "/env/version" } }),
        rule("exact", { path: { type: "Exact", value: "/x" } }),
      ]),
    );
    expect(routes.map((r) => r.name)).toEqual([
      "exact",
      "long-prefix",
      "short-prefix",
      "method",
      "two-headers",
      "one-header",
      "everything",
      "regex",
    ]);
  });

  it("keeps the written order among equals, and puts a rule with an explicitly empty matches list last", () => {
    const routes = [
      { source: "a", match: [], route: [], retries: NEWEST_RELEASE.defaultRetry },
      { source: "b", match: [{ headers: {}, uri: { prefix: "/" } }], route: [], retries: NEWEST_RELEASE.defaultRetry },
      { source: "c", match: [{ headers: {}, uri: { prefix: "/" } }], route: [], retries: NEWEST_RELEASE.defaultRetry },
    ] satisfies HttpRoute[];
    expect(sortGatewayRoutes(routes).map((r) => r.source)).toEqual(["b", "c", "a"]);
  });

  it("header-canary's rules: the header match is tried first wherever it is written", () => {
    const routes = routesOf(
      httpRoute([
        { backendRefs: [to("flaskapp-v1")] },
        { matches: [{ headers: [{ name: "lab", value: "canary" }] }], backendRefs: [to("flaskapp-v2")] },
      ]),
    );
    expect(selectRoute(routes, request("/env/version", { lab: "canary" }))!.route.route[0]!.destination.host).toBe(
      HOST("flaskapp-v2"),
    );
    expect(selectRoute(routes, request("/env/version"))!.route.route[0]!.destination.host).toBe(HOST("flaskapp-v1"));
  });

  it("[gw-merge] HTTPRoutes for the same parent are merged (ordered by name, as if created together) and sorted as one", () => {
    const config = configOf(
      httpRoute([{ backendRefs: [to("flaskapp-v1")] }], {}, "b-default"),
      httpRoute(
        [{ matches: [{ headers: [{ name: "lab", value: "canary" }] }], backendRefs: [to("flaskapp-v2")] }],
        {},
        "a-canary",
      ),
    );
    expect(config.virtualHosts).toHaveLength(1);
    expect(config.virtualHosts[0]!.source).toBe("HTTPRoute a-canary, HTTPRoute b-default");
    expect(config.virtualHosts[0]!.routes.map((r) => r.source)).toEqual([
      "HTTPRoute a-canary rules[0]",
      "HTTPRoute b-default rules[0]",
    ]);
  });
});

describe("[gw-headers] RequestHeaderModifier and ResponseHeaderModifier, on a rule and on a backend", () => {
  it("set, add and remove, names lower-cased, the first of equal names winning", () => {
    const route = onlyRoute({
      filters: [
        {
          type: "RequestHeaderModifier",
          requestHeaderModifier: {
            set: [
              { name: "X-Lesson", value: "a" },
              { name: "x-lesson", value: "b" },
            ],
            remove: ["X-Debug"],
          },
        },
        {
          type: "ResponseHeaderModifier",
          responseHeaderModifier: { add: [{ name: "x-served-through", value: "mesh" }] },
        },
      ],
      backendRefs: [
        to("flaskapp-v1", {
          filters: [
            { type: "RequestHeaderModifier", requestHeaderModifier: { add: [{ name: "x-subset", value: "v1" }] } },
          ],
        }),
      ],
    });
    expect(route.headers).toEqual({
      request: { set: { "x-lesson": "a" }, add: {}, remove: ["x-debug"] },
      response: { set: {}, add: { "x-served-through": "mesh" }, remove: [] },
    });
    expect(route.route[0]!.headers).toEqual({ request: { set: {}, add: { "x-subset": "v1" }, remove: [] } });
  });

  it.each([
    [
      "a filter without its settings",
      [{ type: "RequestHeaderModifier" }],
      "spec.rules[0].filters[0].requestHeaderModifier: missing: a RequestHeaderModifier filter must set it",
    ],
    [
      "the settings of another type",
      [{ type: "RequestHeaderModifier", requestHeaderModifier: {}, responseHeaderModifier: {} }],
      "spec.rules[0].filters[0].responseHeaderModifier: set in a RequestHeaderModifier filter; a cluster rejects it",
    ],
    [
      "a filter type twice",
      [
        { type: "RequestHeaderModifier", requestHeaderModifier: {} },
        { type: "RequestHeaderModifier", requestHeaderModifier: {} },
      ],
      "spec.rules[0].filters[1].type: a second RequestHeaderModifier filter",
    ],
    [
      "an unknown filter type",
      [{ type: "Nope" }],
      "spec.rules[0].filters[0].type: Nope: not modelled by the mesh preview (or no such filter type)",
    ],
    [
      "a value with a control character",
      [{ type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "a", value: "x\ny" }] } }],
      "spec.rules[0].filters[0].requestHeaderModifier.set[0].value: contains a control character",
    ],
  ])("refused: %s", (_name, filters, message) => {
    expect(() => configOf(httpRoute([{ filters, backendRefs: [to("flaskapp-v1")] }]))).toThrow(message);
  });

  it("refused: a filter other than the header modifiers on a backend (istiod: unsupported filter type)", () => {
    const backendRefs = [to("flaskapp-v1", { filters: [{ type: "URLRewrite" }] })];
    expect(() => configOf(httpRoute([{ backendRefs }]))).toThrow(
      "spec.rules[0].backendRefs[0].filters[0].type: URLRewrite: istiod accepts only the header modifiers on a backendRef",
    );
  });
});

describe("[gw-rewrite] URLRewrite as istiod converts it", () => {
  const rewriteOf = (
    path: Record<string, unknown>,
    match: Record<string, unknown> = { path: { value: "/legacy" } },
    hostname?: string,
  ) =>
    onlyRoute({
      matches: [match],
      filters: [{ type: "URLRewrite", urlRewrite: { path, ...(hostname ? { hostname } : {}) } }],
      backendRefs: [to("flaskapp-v1")],
    });

  it.each([
    [
      "ReplacePrefixMatch /env/ after PathPrefix /legacy",
      { type: "ReplacePrefixMatch", replacePrefixMatch: "/env/" },
      "/legacy/version?x=1",
      "/env/version?x=1",
    ],
    [
      "ReplacePrefixMatch /env on the prefix itself",
      { type: "ReplacePrefixMatch", replacePrefixMatch: "/env" },
      "/legacy",
      "/env",
    ],
    [
      "ReplacePrefixMatch / removes the prefix",
      { type: "ReplacePrefixMatch", replacePrefixMatch: "/" },
      "/legacy/version",
      "/version",
    ],
    [
      "ReplacePrefixMatch / leaves / for the prefix itself",
      { type: "ReplacePrefixMatch", replacePrefixMatch: "/" },
      "/legacy?x=1",
      "/?x=1",
    ],
    [
      "ReplaceFullPath replaces the whole path, the query kept",
      { type: "ReplaceFullPath", replaceFullPath: "/env/version" },
      "/legacy/a/b?x=1",
      "/env/version?x=1",
    ],
  ])("%s: %s becomes %s", (_name, path, from, expected) => {
    const route = rewriteOf(path);
    const matched = route.match[0];
    const rewrite = route.rewrite!;
    expect(rewrite.uriRegex ? regexRewritePath(from, rewrite.uriRegex) : rewritePath(from, rewrite.uri!, matched)).toBe(
      expected,
    );
  });

  it("hostname becomes the authority (Host) the app sees", () => {
    expect(
      rewriteOf({ type: "ReplacePrefixMatch", replacePrefixMatch: "/env" }, undefined, "Flaskapp.Example.com").rewrite,
    ).toEqual({ authority: "flaskapp.example.com", uri: "/env" });
  });

  it.each([
    [
      "ReplacePrefixMatch after an Exact match",
      { type: "ReplacePrefixMatch", replacePrefixMatch: "/env" },
      { path: { type: "Exact", value: "/legacy" } },
      "spec.rules[0].filters[0].urlRewrite.path.replacePrefixMatch: needs a PathPrefix match in the same rule",
    ],
    [
      "a path type Prefix",
      { type: "Prefix", replacePrefixMatch: "/env" },
      { path: { value: "/legacy" } },
      'spec.rules[0].filters[0].urlRewrite.path.type: expected one of ReplaceFullPath, ReplacePrefixMatch, got "Prefix"',
    ],
  ])("refused: %s", (_name, path, match, message) => {
    expect(() => rewriteOf(path, match)).toThrow(message);
  });

  it("refused: URLRewrite and RequestRedirect in one rule", () => {
    const filters = [
      { type: "URLRewrite", urlRewrite: { hostname: "a" } },
      { type: "RequestRedirect", requestRedirect: {} },
    ];
    expect(() => configOf(httpRoute([{ filters, backendRefs: [to("flaskapp-v1")] }]))).toThrow(
      "spec.rules[0].filters: RequestRedirect and URLRewrite in one rule",
    );
  });
});

describe("[gw-redirect] RequestRedirect: 302 unless statusCode says otherwise, the request's port", () => {
  const redirectOf = (
    requestRedirect: Record<string, unknown>,
    match: Record<string, unknown> = { path: { type: "Exact", value: "/old-version" } },
  ) => onlyRoute({ matches: [match], filters: [{ type: "RequestRedirect", requestRedirect }] });

  it.each([
    ["nothing set: 302 to the same URL", {}, "/old-version", "http://flaskapp/old-version", 302],
    [
      "statusCode 301 and ReplaceFullPath",
      { statusCode: 301, path: { type: "ReplaceFullPath", replaceFullPath: "/env/version" } },
      "/old-version?x=1",
      "http://flaskapp/env/version?x=1",
      301,
    ],
    ["hostname", { hostname: "flaskapp.example.com" }, "/old-version", "http://flaskapp.example.com/old-version", 302],
    ["port 8080", { port: 8080 }, "/old-version", "http://flaskapp:8080/old-version", 302],
  ])("%s", (_name, requestRedirect, path, location, status) => {
    const route = redirectOf(requestRedirect);
    expect(route.redirect!.status).toBe(status);
    expect(route.route).toEqual([]);
    expect(redirectLocation(route.redirect!, { path, authority: "flaskapp", scheme: "http" }, route.match[0])).toBe(
      location,
    );
  });

  it("ReplacePrefixMatch replaces the matched prefix (Envoy's redirect prefix_rewrite)", () => {
    const route = redirectOf(
      { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/env" } },
      { path: { value: "/old" } },
    );
    expect(
      redirectLocation(
        route.redirect!,
        { path: "/old/version?x=1", authority: "flaskapp", scheme: "http" },
        route.match[0],
      ),
    ).toBe("http://flaskapp/env/version?x=1");
  });

  it("at a Gateway listening on another port than 80, the port stays in the Location (FROM_REQUEST_PORT)", () => {
    const objects = [
      gateway({ listeners: [{ ...LISTENER, port: 8080 }] }),
      httpRoute(
        [{ filters: [{ type: "RequestRedirect", requestRedirect: { hostname: "www.example.com" } }] }],
        { parentRefs: [{ name: "gw" }] },
        "ingress",
      ),
    ];
    const route = configOf(...objects).virtualHosts[0]!.routes[0]!;
    expect(
      redirectLocation(route.redirect!, { path: "/", authority: "flaskapp.example.com:8080", scheme: "http" }),
    ).toBe("http://www.example.com:8080/");
  });

  it.each([
    [304, "spec.rules[0].filters[0].requestRedirect.statusCode: expected 301, 302, 303, 307 or 308, got 304"],
    [200, "spec.rules[0].filters[0].requestRedirect.statusCode: expected an integer from 301 to 308, got 200"],
  ])("refused: statusCode %s", (statusCode, message) => {
    expect(() => redirectOf({ statusCode })).toThrow(message);
  });
});

describe("[gw-mirror] RequestMirror: a Service, percent or fraction (100% without)", () => {
  const mirrorOf = (requestMirror: Record<string, unknown>) =>
    onlyRoute({ filters: [{ type: "RequestMirror", requestMirror }], backendRefs: [to("flaskapp-v1")] }).mirrors?.[0];
  it.each([
    ["no percent", {}, 100],
    ["percent 25", { percent: 25 }, 25],
    ["fraction 1/3", { fraction: { numerator: 1, denominator: 3 } }, 100 / 3],
    ["fraction 5 (of 100, the default denominator)", { fraction: { numerator: 5 } }, 5],
    ["percent 0: no copies", { percent: 0 }, 0],
  ])("%s", (_name, extra, percent) => {
    expect(mirrorOf({ backendRef: to("flaskapp-v2"), ...extra })).toEqual({
      destination: { host: HOST("flaskapp-v2") },
      percent,
    });
  });

  it.each([
    [
      "percent and fraction",
      { backendRef: to("flaskapp-v2"), percent: 5, fraction: { numerator: 1 } },
      "spec.rules[0].filters[0].requestMirror: set percent or fraction, not both",
    ],
    [
      "a numerator above the denominator",
      { backendRef: to("flaskapp-v2"), fraction: { numerator: 3, denominator: 2 } },
      "spec.rules[0].filters[0].requestMirror.fraction: numerator 3 is above denominator 2",
    ],
    [
      "a Service not in the render",
      { backendRef: to("flaskapp-v3") },
      "spec.rules[0].filters[0].requestMirror.backendRef: Service istio-lessons/flaskapp-v3 is not in the render",
    ],
  ])("refused: %s", (_name, requestMirror, message) => {
    expect(() => mirrorOf(requestMirror)).toThrow(message);
  });

  it("two RequestMirror filters: two mirrors, in order", () => {
    const filters = ["flaskapp-v2", "flaskapp"].map((name) => ({
      type: "RequestMirror",
      requestMirror: { backendRef: to(name) },
    }));
    expect(onlyRoute({ filters, backendRefs: [to("flaskapp-v1")] }).mirrors).toEqual([
      { destination: { host: HOST("flaskapp-v2") }, percent: 100 },
      { destination: { host: HOST("flaskapp") }, percent: 100 },
    ]);
  });
});

describe("[gw-timeouts] timeouts.request and timeouts.backendRequest", () => {
  const base = { backendRefs: [to("flaskapp-v1")] };
  it.each([
    ["request 1s", { request: "1s" }, undefined, 1000, undefined],
    ["request 1m30s", { request: "1m30s" }, undefined, 90_000, undefined],
    ["request 0s: no timeout", { request: "0s" }, undefined, undefined, undefined],
    [
      "backendRequest without retry: the route timeout, over request",
      { request: "5s", backendRequest: "2s" },
      undefined,
      2000,
      undefined,
    ],
    [
      "backendRequest with retry: the timeout of each try",
      { request: "5s", backendRequest: "2s" },
      { attempts: 1 },
      5000,
      2000,
    ],
  ])("%s", (_name, timeouts, retry, timeoutMs, perTryTimeoutMs) => {
    const route = onlyRoute({ ...base, timeouts, ...(retry ? { retry } : {}) });
    expect(route.timeoutMs).toBe(timeoutMs);
    expect(route.retries.perTryTimeoutMs).toBe(perTryTimeoutMs);
  });

  it.each([
    ["1s", 1000],
    ["500ms", 500],
    ["1h2m3s4ms", 3_723_004],
  ])("gatewayDuration(%s) is %s ms", (text, ms) => {
    expect(gatewayDuration(text, "x")).toBe(ms);
  });

  it.each(["1", "1.5s", "1d", "-1s", "123456s", "1s1s1s1s1s"])("refused: the duration %s (GEP-2257)", (text) => {
    expect(() => onlyRoute({ ...base, timeouts: { request: text } })).toThrow(
      `spec.rules[0].timeouts.request: expected a Gateway API duration such as 1s, 500ms or 1m30s, got ${JSON.stringify(text)}`,
    );
  });
});

describe("[gw-retry] retry: Istio's always-on conditions plus the codes; without retry, the release's default policy", () => {
  it.each([
    [
      "attempts and codes",
      { attempts: 3, codes: [503, 504] },
      {
        attempts: 3,
        retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
        retriableStatusCodes: [503, 504],
      },
    ],
    [
      "attempts left out: 2",
      { codes: [500] },
      {
        attempts: 2,
        retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
        retriableStatusCodes: [500],
      },
    ],
    [
      "no codes: connection errors only",
      { attempts: 1 },
      {
        attempts: 1,
        retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled"],
        retriableStatusCodes: [],
      },
    ],
    [
      "attempts 0: no retries at all",
      { attempts: 0, codes: [503] },
      { attempts: 0, retryOn: [], retriableStatusCodes: [] },
    ],
  ])("%s", (_name, retry, expected) => {
    expect(onlyRoute({ retry, backendRefs: [to("flaskapp-v1")] }).retries).toEqual(expected);
  });

  it.each([OLDEST_RELEASE, NEWEST_RELEASE])(
    "no retry: Istio $version's default policy, as for a VirtualService without retries",
    (release) => {
      const config = meshConfig([...SERVICES, httpRoute([{ backendRefs: [to("flaskapp-v1")] }])], release);
      expect(config.virtualHosts[0]!.routes[0]!.retries).toEqual(release.defaultRetry);
    },
  );

  it.each([
    [
      "a code below 400",
      { codes: [302] },
      "spec.rules[0].retry.codes[0]: expected an integer from 400 to 599, got 302",
    ],
    ["negative attempts", { attempts: -1 }, "spec.rules[0].retry.attempts: expected an integer from 0"],
  ])("refused: %s", (_name, retry, message) => {
    expect(() => onlyRoute({ retry, backendRefs: [to("flaskapp-v1")] })).toThrow(message);
  });
});

describe("[gw-gateway] a Gateway of class istio: the gateway istiod deploys for it and the HTTPRoutes attached to it", () => {
  it("runs <name>-istio in the Gateway's namespace, selected by the gateway-name label, one server per listener", () => {
    const config = configOf(gateway(), ingressRoute());
    expect(config.gatewayDeployments).toEqual([
      { name: "gw-istio", namespace: NS, labels: { "gateway.networking.k8s.io/gateway-name": "gw" }, port: 80 },
    ]);
    expect(config.services.get(HOST("gw-istio"))).toMatchObject({
      name: "gw-istio",
      namespace: NS,
      port: 80,
      selector: { "gateway.networking.k8s.io/gateway-name": "gw" },
    });
    expect(config.gateways).toEqual([
      {
        name: `${NS}/gw`,
        selector: { "gateway.networking.k8s.io/gateway-name": "gw" },
        servers: [{ port: 80, hosts: ["flaskapp.example.com"] }],
      },
    ]);
    expect(config.virtualHosts).toEqual([
      expect.objectContaining({ source: "HTTPRoute ingress", hosts: ["flaskapp.example.com"], gateways: [`${NS}/gw`] }),
    ]);
  });

  it("routes the hosts both the listener and the route accept, 404 for others; the route does not apply to sidecars", () => {
    const config = configOf(gateway(), ingressRoute());
    const role = {
      kind: "gateway" as const,
      namespace: NS,
      labels: { "gateway.networking.k8s.io/gateway-name": "gw" },
      port: 80,
    };
    expect(gatewayHost(config, role, "flaskapp.example.com:80")).toMatchObject({
      kind: "gateway-route",
      virtualHost: { source: "HTTPRoute ingress" },
    });
    expect(gatewayHost(config, role, "unknown.example.com")).toEqual({ kind: "no-route", host: "unknown.example.com" });
    expect(sidecarHost(config, { kind: "sidecar", namespace: NS, labels: {} }, "flaskapp")).toEqual({
      kind: "service",
      service: expect.objectContaining({ name: "flaskapp" }),
    });
  });

  it("a route without hostnames takes every host the listener accepts", () => {
    const config = configOf(
      gateway({ listeners: [{ ...LISTENER, hostname: "*.example.com" }] }),
      ingressRoute({ hostnames: undefined }),
    );
    const role = {
      kind: "gateway" as const,
      namespace: NS,
      labels: { "gateway.networking.k8s.io/gateway-name": "gw" },
      port: 80,
    };
    expect(config.virtualHosts[0]!.hosts).toEqual(["*.example.com"]);
    expect(gatewayHost(config, role, "a.example.com").kind).toBe("gateway-route");
    expect(gatewayHost(config, role, "example.org").kind).toBe("no-route");
  });

  it.each([
    // Class istio-waypoint is a waypoint, read by ambient.ts (test/lessons/ambient.test.ts).
    [
      "another class",
      [gateway({ gatewayClassName: "kgateway" })],
      "Gateway gw: spec.gatewayClassName: kgateway: the preview runs only class istio",
    ],
    [
      "an HTTPS listener",
      [gateway({ listeners: [{ ...LISTENER, protocol: "HTTPS" }] })],
      "Gateway gw: spec.listeners[0].protocol: HTTPS: only HTTP listeners are modelled",
    ],
    [
      "listeners on two ports",
      [gateway({ listeners: [LISTENER, { ...LISTENER, name: "alt", port: 8080 }] })],
      "Gateway gw: spec.listeners: ports 80, 8080: the preview models a Gateway whose listeners share one port",
    ],
    [
      "routes from selected namespaces",
      [gateway({ listeners: [{ ...LISTENER, allowedRoutes: { namespaces: { from: "Selector" } } }] })],
      'spec.listeners[0].allowedRoutes.namespaces.from: expected one of Same, All, got "Selector"',
    ],
    [
      "a Gateway not in the render",
      [gateway(), ingressRoute({ parentRefs: [{ name: "elsewhere" }] })],
      "HTTPRoute ingress: spec.parentRefs[0].name: Gateway istio-lessons/elsewhere is not in the render",
    ],
    [
      "a backend in another namespace (needs a ReferenceGrant)",
      [
        gateway(),
        httpRoute([{ backendRefs: [to("flaskapp-v1", { namespace: "other" })] }], { parentRefs: [{ name: "gw" }] }),
      ],
      "spec.rules[0].backendRefs[0].namespace: a backend in another namespace needs a ReferenceGrant",
    ],
  ] as [string, K8sObject[], string][])("refused: %s", (_name, objects, message) => {
    expect(() => configOf(...objects)).toThrow(message);
  });

  it("a route from another namespace than the Gateway's (allowedRoutes Same, the default): unattached, with a warning", () => {
    const route = {
      ...ingressRoute({ parentRefs: [{ name: "gw", namespace: NS }] }),
      metadata: { name: "ingress", namespace: "other" },
    };
    const config = configOf(gateway(), service("flaskapp-v1", { app: "flaskapp" }, "other"), route);
    expect(config.virtualHosts).toEqual([]);
    expect(config.warnings).toEqual([
      "HTTPRoute ingress: spec.parentRefs[0]: not Accepted (NotAllowedByListeners): no listener of Gateway istio-lessons/gw allows routes from namespace other (allowedRoutes.namespaces.from is Same); istiod leaves the route unattached to this parent",
    ]);
  });

  it("a route for another host: unattached (NoMatchingListenerHostname), with a warning; the rest is served", () => {
    const config = configOf(gateway(), ingressRoute(), {
      ...ingressRoute({ hostnames: ["www.example.org"] }),
      metadata: { name: "other", namespace: NS },
    });
    expect(config.virtualHosts.map((v) => v.source)).toEqual(["HTTPRoute ingress"]);
    expect(config.warnings).toEqual([
      "HTTPRoute other: spec.hostnames: not Accepted (NoMatchingListenerHostname): www.example.org: no listener of Gateway istio-lessons/gw accepts them (flaskapp.example.com); istiod leaves the route unattached to this parent",
    ]);
  });
});

describe("[gw-backends] [gw-timeouts] the configuration an HTTPRoute gives the proxies", () => {
  it("is the same for a VirtualService and an HTTPRoute that say the same", () => {
    const vsConfig = meshConfig([
      ...SERVICES,
      {
        apiVersion: "networking.istio.io/v1",
        kind: "VirtualService",
        metadata: { name: "flaskapp", namespace: NS },
        spec: {
          hosts: ["flaskapp"],
          http: [
            {
              timeout: "1s",
              route: [
                { destination: { host: "flaskapp-v1" }, weight: 70 },
                { destination: { host: "flaskapp-v2" }, weight: 30 },
              ],
            },
          ],
        },
      },
    ]);
    const routeConfig = configOf(
      httpRoute([
        {
          timeouts: { request: "1s" },
          backendRefs: [to("flaskapp-v1", { weight: 70 }), to("flaskapp-v2", { weight: 30 })],
        },
      ]),
    );
    const strip = (r: HttpRoute) => ({ ...r, source: "", match: [] });
    expect(routeConfig.virtualHosts[0]!.routes.map(strip)).toEqual(vsConfig.virtualHosts[0]!.routes.map(strip));
  });
});

describe("docs/gateway-api.md and the lessons", () => {
  const docs = readFileSync(new URL("../../docs/gateway-api.md", import.meta.url), "utf8");

  it("every lesson of Istio's API has a Gateway API twin or a reason it cannot have one", () => {
    expect(LESSONS.filter((l) => !GATEWAY_API_LESSONS.includes(l) && !(l in GATEWAY_API_CANNOT))).toEqual([]);
    expect(GATEWAY_API_LESSONS.filter((l) => l in GATEWAY_API_CANNOT)).toEqual([]);
  });

  it.each(GATEWAY_API_LESSONS)("lists the twin of %s", (lesson) => {
    expect(docs).toContain(`| \`k8s/overlays/${lesson}\` | \`k8s/gateway-api/${lesson}\` |`);
  });

  it.each(Object.entries(GATEWAY_API_CANNOT))("says why %s has no twin, as demo and verify say it", (lesson, why) => {
    expect(docs).toContain(`| ${lesson} | ${why} | \`k8s/overlays/${lesson}\` |`);
  });
});

describe("[gw-parent-service] [gw-gateway] the Gateway API lessons' renders", () => {
  afterAll(removeOverlays);

  it.each(GATEWAY_API_LESSONS)(
    "gateway-api/%s gives the preview its HTTPRoutes' routes, for flaskapp or, for ingress, for the Gateway only",
    async (lesson) => {
      const config = meshConfig(lessonRender(`gateway-api/${lesson}`));
      const expected =
        lesson === "ingress-gateway"
          ? { hosts: ["flaskapp.example.com"], gateways: [`${NS}/flaskapp-gateway`] }
          : { hosts: [HOST("flaskapp")], gateways: ["mesh"] };
      expect(config.virtualHosts).toEqual([
        expect.objectContaining({ source: expect.stringMatching(/^HTTPRoute /), ...expected }),
      ]);
    },
  );

  it("[gw-unknown-field] a field the preview does not model is an error naming it, before any pod starts", async () => {
    const dir = overlayOver(
      "gateway-api/weighted",
      jsonPatch("HTTPRoute", "flaskapp", [
        { op: "add", path: "/spec/rules/0/sessionPersistence", value: { sessionName: "lab", type: "Cookie" } },
      ]),
    );
    const objects = await renderKustomization(dir);
    await expect(Mesh.start(objects)).rejects.toThrow(RuleError);
    await expect(Mesh.start(objects)).rejects.toThrow(
      "HTTPRoute flaskapp: spec.rules[0].sessionPersistence: a real Gateway API field the mesh preview does not model (docs/gateway-api.md lists what it does)",
    );
    expect(runningPodCount()).toBe(0);
  });
});
