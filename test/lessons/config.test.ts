// Reading a render into the preview's mesh configuration: what it accepts, a
// clear error for a field Istio does not have (a typo), another for a real
// field the preview does not model, and the model built from good rules.
import { describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import { fieldsOutside } from "#lessons/mesh/fields.ts";
import { ISTIO_SCHEMA, MODELLED_FIELDS } from "#lessons/mesh/istio-api.ts";
import { RuleError } from "#lessons/mesh/model.ts";
import { parseIstioDuration, resolveHost } from "#lessons/mesh/values.ts";
import { NEWEST_RELEASE, OLDEST_RELEASE } from "#lessons/mesh/releases.ts";

const NS = "istio-lessons";
const HOST = "flaskapp.istio-lessons.svc.cluster.local";
const service: K8sObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "flaskapp", namespace: NS },
  spec: { selector: { app: "flaskapp" }, ports: [{ port: 80 }] },
};
const rule = (kind: string, name: string, spec: Record<string, unknown>): K8sObject => ({
  apiVersion: "networking.istio.io/v1",
  kind,
  metadata: { name, namespace: NS },
  spec,
});
const dr = (spec: Record<string, unknown>): K8sObject =>
  rule("DestinationRule", "flaskapp", {
    host: "flaskapp",
    subsets: [
      { name: "v1", labels: { version: "v1" } },
      { name: "v2", labels: { version: "v2" } },
    ],
    ...spec,
  });
const vs = (http: unknown[], extra: Record<string, unknown> = {}, name = "flaskapp"): K8sObject =>
  rule("VirtualService", name, { hosts: ["flaskapp"], http, ...extra });
const toV1 = { route: [{ destination: { host: "flaskapp", subset: "v1" } }] };
const configOf = (...objects: K8sObject[]) => meshConfig([service, ...objects]);
const routesOf = (...objects: K8sObject[]) => configOf(...objects).virtualHosts[0]!.routes;

describe("[unknown-field] a field Istio does not have is a typo, reported as such", () => {
  const cases: Array<[string, K8sObject, string]> = [
    [
      "VS wieght",
      vs([{ route: [{ destination: { host: "flaskapp", subset: "v1" }, wieght: 70 }] }]),
      "spec.http[0].route[0].wieght",
    ],
    ["VS retries.attempt", vs([{ ...toV1, retries: { attempt: 3 } }]), "spec.http[0].retries.attempt"],
    [
      "DR subset label (singular)",
      dr({ subsets: [{ name: "v1", label: { version: "v1" } }] }),
      "spec.subsets[0].label",
    ],
  ];
  it.each(cases)("%s", (_name, bad, field) => {
    expect(() => configOf(dr({}), bad)).toThrow(RuleError);
    expect(() => configOf(dr({}), bad)).toThrow(`${field}: no such field in networking.istio.io/v1`);
  });
});

describe("[unknown-field] a real Istio field the preview does not model is an error naming it", () => {
  const cases: Array<[string, K8sObject, string]> = [
    ["VS corsPolicy", vs([{ ...toV1, corsPolicy: { allowOrigins: [] } }]), "spec.http[0].corsPolicy"],
    [
      "VS ignoreUriCase",
      vs([{ ...toV1, match: [{ uri: { prefix: "/" }, ignoreUriCase: true }] }]),
      "spec.http[0].match[0].ignoreUriCase",
    ],
    ["VS tcp routes", vs([toV1], { tcp: [] }), "spec.tcp"],
    ["DR tls", dr({ trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } }), "spec.trafficPolicy.tls"],
    [
      "DR http2MaxRequests in a subset",
      dr({
        subsets: [{ name: "v1", labels: {}, trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1 } } } }],
      }),
      "spec.subsets[0].trafficPolicy.connectionPool.http.http2MaxRequests",
    ],
    [
      "DR consecutiveGatewayErrors",
      dr({ trafficPolicy: { outlierDetection: { consecutiveGatewayErrors: 1 } } }),
      "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors",
    ],
    [
      "DR consistentHash on a cookie",
      dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpCookie: { name: "u" } } } } }),
      "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie",
    ],
  ];
  it.each(cases)("%s", (_name, bad, field) => {
    expect(() => configOf(dr({}), bad)).toThrow(RuleError);
    expect(() => configOf(dr({}), bad)).toThrow(`${field}: a real Istio field the mesh preview does not model`);
  });

  it.each([
    [
      "consecutiveErrors",
      dr({ trafficPolicy: { outlierDetection: { consecutiveErrors: 1 } } }),
      "spec.trafficPolicy.outlierDetection.consecutiveErrors: deprecated, use consecutive5xxErrors",
    ],
    [
      "mirror_percent",
      vs([{ ...toV1, mirror: { host: "flaskapp" }, mirror_percent: 50 }]),
      "spec.http[0].mirror_percent: deprecated, use mirrorPercentage",
    ],
  ])("a deprecated field (%s) names the one to use", (_name, bad, message) => {
    expect(() => configOf(dr({}), bad)).toThrow(message);
  });

  it("lists every field outside a shape, not just the first", () => {
    expect(
      fieldsOutside({ hosts: [], http: [{ a: 1, route: [{ b: 2 }] }] }, MODELLED_FIELDS.VirtualService, "spec"),
    ).toEqual(["spec.http[0].a", "spec.http[0].route[0].b"]);
  });

  it("every modelled field is a field of Istio's schema", () => {
    for (const kind of Object.keys(MODELLED_FIELDS) as Array<keyof typeof MODELLED_FIELDS>) {
      const sample = (shape: unknown): unknown =>
        shape === true
          ? "x"
          : Array.isArray(shape)
            ? [sample(shape[0])]
            : Object.fromEntries(Object.entries(shape as object).map(([k, v]) => [k === "*" ? "any" : k, sample(v)]));
      expect(fieldsOutside(sample(MODELLED_FIELDS[kind]), ISTIO_SCHEMA[kind], "spec"), kind).toEqual([]);
    }
  });
});

describe("invalid values are errors naming the field", () => {
  const cases: Array<[string, K8sObject[], RegExp]> = [
    [
      "weights adding up to 0",
      [
        dr({}),
        vs([
          {
            route: [
              { destination: { host: "flaskapp", subset: "v1" }, weight: 0 },
              { destination: { host: "flaskapp", subset: "v2" }, weight: 0 },
            ],
          },
        ]),
      ],
      /spec\.http\[0\]\.route: the weights add up to 0/,
    ],
    [
      "a negative weight",
      [dr({}), vs([{ route: [{ destination: { host: "flaskapp", subset: "v1" }, weight: -1 }] }])],
      /route\[0\]\.weight: expected an integer/,
    ],
    [
      "a duration without unit",
      [dr({}), vs([{ ...toV1, timeout: "1" }])],
      /spec\.http\[0\]\.timeout: expected a duration/,
    ],
    [
      "an unknown retry condition",
      [dr({}), vs([{ ...toV1, retries: { attempts: 2, retryOn: "5xx,sometimes" } }])],
      /retryOn: sometimes is not a retry condition/,
    ],
    [
      "a percentage over 100",
      [dr({}), vs([{ ...toV1, fault: { abort: { httpStatus: 500, percentage: { value: 150 } } } }])],
      /fault\.abort\.percentage\.value/,
    ],
    ["two VirtualServices for one host", [dr({}), vs([toV1]), vs([toV1], {}, "second")], /a second VirtualService/],
    [
      "two DestinationRules for one host",
      [dr({}), { ...dr({}), metadata: { name: "again", namespace: NS } }],
      /a second DestinationRule/,
    ],
    ["redirect and route together", [vs([{ ...toV1, redirect: { uri: "/x" } }])], /either redirect or route/],
    [
      "an old apiVersion",
      [{ ...vs([toV1]), apiVersion: "networking.istio.io/v1alpha3" }],
      /use networking\.istio\.io\/v1/,
    ],
  ];
  it.each(cases)("%s", (_name, objects, message) => {
    expect(() => configOf(...objects)).toThrow(message);
  });
});

describe("[durations] parseIstioDuration: a rule's duration as Istio reads it (Go's time.ParseDuration)", () => {
  it.each([
    ["0", 0],
    ["0s", 0],
    ["1s", 1000],
    ["500ms", 500],
    ["1.5s", 1500],
    [".5s", 500],
    ["1.s", 1000],
    ["1m30s", 90_000],
    ["1h2m3s4ms", 3_723_004],
    ["2h", 7_200_000],
    ["1500us", 2],
    ["1500µs", 2],
    ["2000000ns", 2],
  ])("%s is %d ms", (text, ms) => {
    expect(parseIstioDuration(text)).toBe(ms);
  });

  it.each(["", "1", "s", "-1s", "+1s", " 1s", "1s ", "1 s", "1d", "1sec", "1e3s", "1..5s", "ms"])(
    "refuses %j",
    (text) => {
      expect(parseIstioDuration(text)).toBeUndefined();
    },
  );

  it("lets a VirtualService timeout be written 1m30s, as Istio's docs write outlier intervals", () => {
    const config = meshConfig(
      [service, dr({}), vs([{ route: [{ destination: { host: "flaskapp", subset: "v1" } }], timeout: "1m30s" }])],
      NEWEST_RELEASE,
    );
    expect(config.virtualHosts[0]!.routes[0]!.timeoutMs).toBe(90_000);
  });
});

describe("resolveHost: a rule's host as Istio reads it (ResolveShortnameToFQDN)", () => {
  it.each([
    ["flaskapp", HOST],
    ["Flaskapp", HOST],
    [HOST, HOST],
    ["flaskapp.other", "flaskapp.other"],
    ["flaskapp.other.svc", "flaskapp.other.svc"],
    ["httpbin.org", "httpbin.org"],
    ["*", "*"],
    ["10.0.0.1", "10.0.0.1"],
    ["::1", "::1"],
  ])("%s in namespace istio-lessons is %s", (host, resolved) => {
    expect(resolveHost(host, NS)).toBe(resolved);
  });
});

describe("the model built from good rules", () => {
  it("[weights-relative] weights are relative: 1 and 3 are accepted as they are (Istio divides by the sum)", () => {
    const [route] = routesOf(
      dr({}),
      vs([
        {
          route: [
            { destination: { host: "flaskapp", subset: "v1" }, weight: 1 },
            { destination: { host: "flaskapp", subset: "v2" }, weight: 3 },
          ],
        },
      ]),
    );
    expect(route!.route.map((r) => r.weight)).toEqual([1, 3]);
  });

  it("[missing-subset] a route to a subset no DestinationRule defines loads (Istio answers its requests with 503)", () => {
    const [route] = routesOf(vs([{ route: [{ destination: { host: "flaskapp", subset: "v3" } }] }]));
    expect(route!.route[0]!.destination).toEqual({ host: HOST, subset: "v3" });
  });

  it("reads matches, weights, timeout, retries, faults, mirror, headers, rewrite and redirect", () => {
    const [canary, rest, legacy, old] = routesOf(
      dr({}),
      vs([
        {
          name: "canary",
          match: [
            {
              headers: { Lab: { exact: "canary" } },
              uri: { regex: "/env/.*" },
              method: { exact: "GET" },
              sourceLabels: { app: "sleep" },
            },
          ],
          route: [
            {
              destination: { host: "flaskapp.istio-lessons.svc.cluster.local", subset: "v2" },
              headers: { response: { set: { "x-subset": "v2" } } },
            },
          ],
          timeout: "1.5s",
          retries: { attempts: 3, perTryTimeout: "500ms", retryOn: "gateway-error,503" },
          fault: { delay: { fixedDelay: "1s" }, abort: { httpStatus: 500, percentage: { value: 50 } } },
          mirror: { host: "flaskapp", subset: "v1" },
          mirrorPercentage: { value: 25 },
          headers: { request: { set: { "x-lesson": "a" }, add: { "x-b": "b" }, remove: ["X-Debug"] } },
        },
        {
          route: [
            { destination: { host: "flaskapp", subset: "v1" }, weight: 70 },
            { destination: { host: "flaskapp", subset: "v2" }, weight: 30 },
          ],
        },
        {
          match: [{ uri: { prefix: "/legacy/" } }],
          rewrite: { uri: "/env/" },
          route: [{ destination: { host: "flaskapp" } }],
        },
        { match: [{ uri: { exact: "/old" } }], redirect: { uri: "/env/version", redirectCode: 302 } },
      ]),
    );
    expect(canary!.match[0]!.headers).toEqual({ lab: { exact: "canary" } });
    expect(canary!.match[0]!.uri).toEqual({ regex: /^(?:\/env\/.*)$/ });
    expect(canary!.match[0]!.sourceLabels).toEqual({ app: "sleep" });
    expect(canary!.route).toEqual([
      {
        destination: { host: HOST, subset: "v2" },
        weight: 100,
        headers: { response: { set: { "x-subset": "v2" }, add: {}, remove: [] } },
      },
    ]);
    expect(canary!.timeoutMs).toBe(1500);
    expect(canary!.retries).toEqual({
      attempts: 3,
      perTryTimeoutMs: 500,
      retryOn: ["gateway-error", "retriable-status-codes"],
      retriableStatusCodes: [503],
    });
    // A delay without percentage injects nothing: Istio leaves Envoy's fraction at 0.
    expect(canary!.fault).toEqual({
      delay: { fixedDelayMs: 1000, percent: 0 },
      abort: { httpStatus: 500, percent: 50 },
    });
    expect(canary!.mirrors).toEqual([{ destination: { host: HOST, subset: "v1" }, percent: 25 }]);
    expect(canary!.headers).toEqual({
      request: { set: { "x-lesson": "a" }, add: { "x-b": "b" }, remove: ["x-debug"] },
    });
    expect(rest!.route.map((r) => r.weight)).toEqual([70, 30]);
    expect(rest!.retries).toBe(NEWEST_RELEASE.defaultRetry);
    expect(legacy!.rewrite).toEqual({ uri: "/env/" });
    expect(old!.redirect).toEqual({ uri: "/env/version", status: 302 });
    expect(old!.route).toEqual([]);
  });

  it("[releases] [default-retry] a route without retries takes the modelled release's default policy", () => {
    for (const release of [OLDEST_RELEASE, NEWEST_RELEASE]) {
      expect(meshConfig([service, dr({}), vs([toV1])], release).virtualHosts[0]!.routes[0]!.retries).toBe(
        release.defaultRetry,
      );
    }
  });

  it("a subset inherits the rule's traffic policy field by field and overrides what it sets", () => {
    const config = configOf(
      dr({
        trafficPolicy: {
          loadBalancer: { simple: "RANDOM" },
          connectionPool: {
            tcp: { maxConnections: 1 },
            http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 },
          },
          outlierDetection: {
            consecutive5xxErrors: 1,
            interval: "1s",
            baseEjectionTime: "3m",
            maxEjectionPercent: 100,
          },
        },
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          {
            name: "v2",
            labels: { version: "v2" },
            trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "X-User" } } },
          },
        ],
      }),
    );
    const policy = config.destinations.get(HOST)!;
    expect(policy.trafficPolicy).toEqual({
      loadBalancer: { simple: "RANDOM" },
      connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 },
      outlierDetection: {
        consecutive5xxErrors: 1,
        intervalMs: 1000,
        baseEjectionTimeMs: 180_000,
        maxEjectionPercent: 100,
      },
    });
    expect(policy.subsets.get("v1")!.trafficPolicy).toEqual(policy.trafficPolicy);
    expect(policy.subsets.get("v2")!.trafficPolicy).toEqual({
      ...policy.trafficPolicy,
      loadBalancer: { consistentHash: { httpHeaderName: "x-user" } },
    });
  });

  it("[retry-attempts] retries without retryOn keep the default conditions; attempts 0 (or unset, proto3's 0) turns retries off", () => {
    expect(routesOf(dr({}), vs([{ ...toV1, retries: { attempts: 3, perTryTimeout: "1s" } }]))[0]!.retries).toEqual({
      ...NEWEST_RELEASE.defaultRetry,
      attempts: 3,
      perTryTimeoutMs: 1000,
    });
    expect(routesOf(dr({}), vs([{ ...toV1, retries: {} }]))[0]!.retries.attempts).toBe(0);
  });

  it("[retry-attempts] attempts 0 beside perTryTimeout or retryOn is refused, as Istio's validation does", () => {
    expect(() => routesOf(dr({}), vs([{ ...toV1, retries: { perTryTimeout: "1s" } }]))).toThrow(
      "perTryTimeout with attempts 0 (retries disabled): Istio rejects the rule",
    );
  });

  it("[weights-relative] a lone destination takes all the traffic whatever its weight", () => {
    expect(
      routesOf(dr({}), vs([{ route: [{ destination: { host: "flaskapp", subset: "v1" }, weight: 0 }] }]))[0]!.route[0]!
        .weight,
    ).toBe(100);
  });

  it("[outlier-detection] outlierDetection fields left out take Istio's defaults", () => {
    const config = configOf(dr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } } }));
    expect(config.destinations.get(HOST)!.trafficPolicy.outlierDetection).toEqual({
      consecutive5xxErrors: 3,
      intervalMs: 10_000,
      baseEjectionTimeMs: 30_000,
      maxEjectionPercent: 10,
    });
  });

  it("reads Gateways, ServiceEntries and the namespace's outbound policy", () => {
    const config = configOf(
      rule("Gateway", "gw", {
        selector: { istio: "ingressgateway" },
        servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["*/flaskapp.example.com"] }],
      }),
      rule("ServiceEntry", "httpbin", {
        hosts: ["httpbin.org"],
        ports: [{ number: 80, name: "http", protocol: "HTTP" }],
        resolution: "DNS",
        location: "MESH_EXTERNAL",
      }),
      rule("Sidecar", "default", { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } }),
    );
    expect(config.gateways).toEqual([
      {
        name: `${NS}/gw`,
        selector: { istio: "ingressgateway" },
        servers: [{ port: 80, hosts: ["flaskapp.example.com"] }],
      },
    ]);
    expect(config.services.get("httpbin.org")).toMatchObject({ kind: "external", port: 80 });
    expect(config.outbound.get(NS)).toBe("REGISTRY_ONLY");
  });
});
