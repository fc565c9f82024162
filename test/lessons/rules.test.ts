// Reading VirtualServices and DestinationRules into the preview's model: what
// it accepts, and the clear error for everything it does not model.
import { describe, expect, it } from "vitest";
import type { K8sObject } from "../../lessons/src/kustomize.ts";
import { DEFAULT_RETRIES, RuleError, serviceRules, unmodelledFields, MODELLED_FIELDS } from "../../lessons/src/mesh/rules.ts";

const NS = "istio-lessons";
const service: K8sObject = { apiVersion: "v1", kind: "Service", metadata: { name: "flaskapp", namespace: NS }, spec: { selector: { app: "flaskapp" }, ports: [{ port: 80 }] } };
const dr = (spec: Record<string, unknown>): K8sObject => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: "flaskapp", namespace: NS },
  spec: { host: "flaskapp", subsets: [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }], ...spec },
});
const vs = (http: unknown[], extra: Record<string, unknown> = {}, name = "flaskapp"): K8sObject => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name, namespace: NS },
  spec: { hosts: ["flaskapp"], http, ...extra },
});
const toV1 = { route: [{ destination: { host: "flaskapp", subset: "v1" } }] };
const rulesOf = (...objects: K8sObject[]) => serviceRules([service, ...objects], "flaskapp");

describe("unmodelled fields are errors naming the field", () => {
  const cases: Array<[string, K8sObject, string]> = [
    ["VS corsPolicy", vs([{ ...toV1, corsPolicy: { allowOrigins: [] } }]), "spec.http[0].corsPolicy"],
    ["VS ignoreUriCase", vs([{ ...toV1, match: [{ uri: { prefix: "/" }, ignoreUriCase: true }] }]), "spec.http[0].match[0].ignoreUriCase"],
    ["VS header manipulation", vs([{ ...toV1, headers: { request: { set: { a: "b" } } } }]), "spec.http[0].headers"],
    ["VS mirrors (list form)", vs([{ ...toV1, mirrors: [{ destination: { host: "flaskapp" } }] }]), "spec.http[0].mirrors"],
    ["VS tcp routes", vs([toV1], { tcp: [] }), "spec.tcp"],
    ["VS queryParams match", vs([{ ...toV1, match: [{ queryParams: { a: { exact: "b" } } }] }]), "spec.http[0].match[0].queryParams"],
    ["VS retryRemoteLocalities", vs([{ ...toV1, retries: { attempts: 1, retryRemoteLocalities: true } }]), "spec.http[0].retries.retryRemoteLocalities"],
    ["DR tls", dr({ trafficPolicy: { tls: { mode: "ISTIO_MUTUAL" } } }), "spec.trafficPolicy.tls"],
    ["DR http2MaxRequests in a subset", dr({ subsets: [{ name: "v1", labels: {}, trafficPolicy: { connectionPool: { http: { http2MaxRequests: 1 } } } }] }), "spec.subsets[0].trafficPolicy.connectionPool.http.http2MaxRequests"],
    ["DR consecutiveGatewayErrors", dr({ trafficPolicy: { outlierDetection: { consecutiveGatewayErrors: 1 } } }), "spec.trafficPolicy.outlierDetection.consecutiveGatewayErrors"],
    ["DR consistentHash", dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x" } } } }), "spec.trafficPolicy.loadBalancer.consistentHash"],
  ];
  it.each(cases)("%s", (_name, rule, field) => {
    expect(() => rulesOf(dr({}), rule)).toThrow(RuleError);
    expect(() => rulesOf(dr({}), rule)).toThrow(field);
    expect(() => rulesOf(dr({}), rule)).toThrow(/not modelled by the mesh preview/);
  });

  it("lists every unmodelled field, not just the first", () => {
    expect(unmodelledFields({ hosts: [], http: [{ a: 1, route: [{ b: 2 }] }] }, MODELLED_FIELDS.VirtualService, "spec")).toEqual(["spec.http[0].a", "spec.http[0].route[0].b"]);
  });
});

describe("invalid values are errors naming the field", () => {
  const cases: Array<[string, K8sObject[], RegExp]> = [
    ["weights not adding up to 100", [dr({}), vs([{ route: [{ destination: { host: "flaskapp", subset: "v1" }, weight: 60 }, { destination: { host: "flaskapp", subset: "v2" }, weight: 30 }] }])], /spec\.http\[0\]\.route: weights add up to 90/],
    ["a subset no DestinationRule defines", [vs([{ route: [{ destination: { host: "flaskapp", subset: "v3" } }] }])], /subset v3/],
    ["a duration without unit", [dr({}), vs([{ ...toV1, timeout: "1" }])], /spec\.http\[0\]\.timeout: expected a duration/],
    ["an unknown retry condition", [dr({}), vs([{ ...toV1, retries: { attempts: 2, retryOn: "5xx,sometimes" } }])], /retryOn: sometimes is not a retry condition/],
    ["a host that is not a Service", [dr({}), vs([{ route: [{ destination: { host: "httpbin" } }] }])], /host httpbin is not a Service/],
    ["a host in another namespace", [dr({}), vs([{ route: [{ destination: { host: "flaskapp.other.svc.cluster.local" } }] }])], /not a Service in this overlay/],
    ["the old LEAST_CONN", [dr({ trafficPolicy: { loadBalancer: { simple: "LEAST_CONN" } } })], /loadBalancer\.simple: expected one of ROUND_ROBIN, LEAST_REQUEST, RANDOM/],
    ["a percentage over 100", [dr({}), vs([{ ...toV1, fault: { abort: { httpStatus: 500, percentage: { value: 150 } } } }])], /fault\.abort\.percentage\.value/],
    ["an ingress gateway", [dr({}), vs([toV1], { gateways: ["istio-system/ingress"] })], /only the mesh gateway/],
    ["two VirtualServices for one host", [dr({}), vs([toV1]), vs([toV1], {}, "second")], /a second VirtualService/],
    ["a port the Service lacks", [dr({}), vs([{ route: [{ destination: { host: "flaskapp", port: { number: 8080 } } }] }])], /port\.number: Service flaskapp has no port 8080/],
  ];
  it.each(cases)("%s", (_name, objects, message) => {
    expect(() => rulesOf(...objects)).toThrow(message);
  });
});

describe("the model built from good rules", () => {
  it("no VirtualService: one catch-all route to the whole Service with Istio's default retries", () => {
    const rules = rulesOf();
    expect(rules.routes).toEqual([{ name: "default", match: [], route: [{ destination: { service: "flaskapp" }, weight: 100 }], retries: DEFAULT_RETRIES }]);
    expect(rules.trafficPolicy.loadBalancer).toBe("ROUND_ROBIN");
  });

  it("reads matches, weights, timeout, retries, faults and mirror", () => {
    const rules = rulesOf(
      dr({}),
      vs([
        {
          name: "canary",
          match: [{ headers: { Lab: { exact: "canary" } }, uri: { regex: "/env/.*" }, method: { exact: "GET" } }],
          route: [{ destination: { host: "flaskapp.istio-lessons.svc.cluster.local", subset: "v2" } }],
          timeout: "1.5s",
          retries: { attempts: 3, perTryTimeout: "500ms", retryOn: "gateway-error,503" },
          fault: { delay: { fixedDelay: "1s" }, abort: { httpStatus: 500, percentage: { value: 50 } } },
          mirror: { host: "flaskapp", subset: "v1" },
          mirrorPercentage: { value: 25 },
        },
        { route: [{ destination: { host: "flaskapp", subset: "v1" }, weight: 70 }, { destination: { host: "flaskapp", subset: "v2" }, weight: 30 }] },
      ]),
    );
    const [canary, rest] = rules.routes;
    expect(canary!.match[0]!.headers).toEqual({ lab: { exact: "canary" } });
    expect(canary!.match[0]!.uri).toEqual({ regex: /^(?:\/env\/.*)$/ });
    expect(canary!.route).toEqual([{ destination: { service: "flaskapp", subset: "v2" }, weight: 100 }]);
    expect(canary!.timeoutMs).toBe(1500);
    expect(canary!.retries).toEqual({ attempts: 3, perTryTimeoutMs: 500, retryOn: ["gateway-error", "retriable-status-codes"], retriableStatusCodes: [503] });
    expect(canary!.fault).toEqual({ delay: { fixedDelayMs: 1000, percent: 100 }, abort: { httpStatus: 500, percent: 50 } });
    expect(canary!.mirror).toEqual({ destination: { service: "flaskapp", subset: "v1" }, percent: 25 });
    expect(rest!.route.map((r) => r.weight)).toEqual([70, 30]);
    expect(rest!.retries).toBe(DEFAULT_RETRIES);
  });

  it("a subset inherits the rule's traffic policy field by field and overrides what it sets", () => {
    const rules = rulesOf(
      dr({
        trafficPolicy: {
          loadBalancer: { simple: "RANDOM" },
          connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } },
          outlierDetection: { consecutive5xxErrors: 1, interval: "1s", baseEjectionTime: "3m", maxEjectionPercent: 100 },
        },
        subsets: [
          { name: "v1", labels: { version: "v1" } },
          { name: "v2", labels: { version: "v2" }, trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST" } } },
        ],
      }),
    );
    expect(rules.trafficPolicy).toEqual({
      loadBalancer: "RANDOM",
      connectionPool: { maxConnections: 1, http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 },
      outlierDetection: { consecutive5xxErrors: 1, intervalMs: 1000, baseEjectionTimeMs: 180_000, maxEjectionPercent: 100 },
    });
    expect(rules.subsets.get("v1")!.trafficPolicy).toEqual(rules.trafficPolicy);
    expect(rules.subsets.get("v2")!.trafficPolicy).toEqual({ ...rules.trafficPolicy, loadBalancer: "LEAST_REQUEST" });
  });

  it("retries without attempts disable retries (proto3's 0), without retryOn keep Istio's default conditions", () => {
    const rules = rulesOf(dr({}), vs([{ ...toV1, retries: { perTryTimeout: "1s" } }]));
    expect(rules.routes[0]!.retries).toEqual({ ...DEFAULT_RETRIES, attempts: 0, perTryTimeoutMs: 1000 });
  });

  it("outlierDetection fields left out take Envoy's defaults", () => {
    const rules = rulesOf(dr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 3 } } }));
    expect(rules.trafficPolicy.outlierDetection).toEqual({ consecutive5xxErrors: 3, intervalMs: 10_000, baseEjectionTimeMs: 30_000, maxEjectionPercent: 10 });
  });

  it("rules for another Service are not this Service's", () => {
    const other: K8sObject = { ...service, metadata: { name: "sleep", namespace: NS } };
    const rules = serviceRules([service, other, { ...vs([{ route: [{ destination: { host: "sleep" } }] }]), spec: { hosts: ["sleep"], http: [{ route: [{ destination: { host: "sleep" } }] }] } }], "flaskapp");
    expect(rules.routes[0]!.name).toBe("default");
  });
});
