// Each check on small hand-made objects: one good case and the bad cases beside it.
import { describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { checkImages, crossCheck, restrictedViolations, validateSchemas, type Finding } from "./manifest-checks.ts";

const NS = "lessons";

const hardened = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  runAsUser: 1000,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

function deployment(name: string, labels: Record<string, string>, podSpec: Record<string, unknown> = {}): K8sObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace: NS },
    spec: {
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: { containers: [{ name: "app", image: "app:1", securityContext: hardened }], ...podSpec },
      },
    },
  };
}

function service(
  name: string,
  selector: Record<string, string>,
  ports: unknown[] = [{ name: "http", port: 80 }],
): K8sObject {
  return { apiVersion: "v1", kind: "Service", metadata: { name, namespace: NS }, spec: { selector, ports } };
}

function destinationRule(
  host: string,
  subsets: { name: string; labels: Record<string, string> }[],
  extra = {},
): K8sObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "DestinationRule",
    metadata: { name: "dr", namespace: NS },
    spec: { host, subsets, ...extra },
  };
}

function virtualService(http: unknown[]): K8sObject {
  return {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "vs", namespace: NS },
    spec: { hosts: ["web"], http },
  };
}

function httpRoute(
  rules: unknown[],
  parentRefs: unknown[] = [{ group: "", kind: "Service", name: "web", port: 80 }],
): K8sObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "route", namespace: NS },
    spec: { parentRefs, rules },
  };
}

const gatewayApiGateway: K8sObject = {
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "Gateway",
  metadata: { name: "gw", namespace: NS },
  spec: { gatewayClassName: "istio", listeners: [{ name: "http", port: 80, protocol: "HTTP" }] },
};

const twoVersions = [
  service("web", { app: "web" }),
  deployment("web-v1", { app: "web", version: "v1" }),
  deployment("web-v2", { app: "web", version: "v2" }),
];
/** One Service per version, as the Gateway API lessons have. */
const versionServices = [
  service("web-v1", { app: "web", version: "v1" }),
  service("web-v2", { app: "web", version: "v2" }),
];
const subsets = [
  { name: "v1", labels: { version: "v1" } },
  { name: "v2", labels: { version: "v2" } },
];

function rulesOf(findings: Finding[]): string[] {
  return findings.map((f) => f.rule);
}

describe("validateSchemas", () => {
  it.each([
    ["a valid Deployment", deployment("web-v1", { app: "web" }), []],
    ["a valid Service", service("web", { app: "web" }), []],
    ["a valid DestinationRule", destinationRule("web", subsets), []],
    ["a valid VirtualService", virtualService([{ route: [{ destination: { host: "web" } }] }]), []],
    [
      "a Deployment without a selector",
      { ...deployment("x", { app: "x" }), spec: { template: { spec: { containers: [] } } } },
      ["schema"],
    ],
    [
      "a route weight that is not an integer",
      virtualService([{ route: [{ destination: { host: "web" }, weight: "70" }] }]),
      ["schema"],
    ],
    [
      "an extensions/v1beta1 Deployment",
      { ...deployment("x", { app: "x" }), apiVersion: "extensions/v1beta1" },
      ["api-version"],
    ],
    [
      "a v1alpha3 VirtualService",
      { ...virtualService([]), apiVersion: "networking.istio.io/v1alpha3" },
      ["api-version"],
    ],
    ["a kind the checks do not know", { apiVersion: "v1", kind: "Secret", metadata: { name: "c" } }, ["api-version"]],
    [
      "a ConfigMap (the egress lesson's lesson-vars)",
      { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "lesson-vars" }, data: { OUTSIDE_HOST: "httpbin.org" } },
      [],
    ],
    ["a valid HTTPRoute", httpRoute([{ backendRefs: [{ name: "web-v1", port: 80, weight: 70 }] }]), []],
    ["a valid Gateway", gatewayApiGateway, []],
    [
      "an HTTPRoute weight that is not an integer",
      httpRoute([{ backendRefs: [{ name: "web-v1", port: 80, weight: "70" }] }]),
      ["schema"],
    ],
    [
      "a redirect code the Gateway API does not have",
      httpRoute([{ filters: [{ type: "RequestRedirect", requestRedirect: { statusCode: 304 } }] }]),
      ["schema"],
    ],
    [
      "a Gateway listener without a port",
      { ...gatewayApiGateway, spec: { gatewayClassName: "istio", listeners: [{ name: "http", protocol: "HTTP" }] } },
      ["schema"],
    ],
    ["a v1alpha2 HTTPRoute", { ...httpRoute([]), apiVersion: "gateway.networking.k8s.io/v1alpha2" }, ["api-version"]],
  ] as [string, K8sObject, string[]][])("%s", (_name, obj, expected) => {
    expect(rulesOf(validateSchemas([obj]))).toEqual(expected);
  });

  it("says what to use instead of a removed Deployment API", () => {
    const [finding] = validateSchemas([{ ...deployment("x", { app: "x" }), apiVersion: "extensions/v1beta1" }]);
    expect(finding?.message).toMatch(/use apps\/v1/);
    expect(finding?.object).toBe("Deployment/x");
  });
});

describe("crossCheck", () => {
  it.each([
    ["two versions behind one Service, subsets by version", [...twoVersions, destinationRule("web", subsets)], []],
    [
      "a Deployment whose selector misses its pods",
      [
        {
          ...deployment("x", { app: "x" }),
          spec: { ...deployment("x", { app: "x" }).spec, selector: { matchLabels: { app: "y" } } },
        },
        service("x", { app: "x" }),
      ],
      ["deployment-selector"],
    ],
    ["a Service that selects no pods", [...twoVersions, service("ghost", { app: "ghost" })], ["service-selector"]],
    ["a Service without a selector", [...twoVersions, service("empty", {})], ["service-selector"]],
    [
      "a Service in another namespace than the pods",
      [
        twoVersions[1]!,
        twoVersions[2]!,
        { ...service("web", { app: "web" }), metadata: { name: "web", namespace: "other" } },
      ],
      ["service-selector"],
    ],
    ["a port named ssh", [...twoVersions, service("ssh", { app: "web" }, [{ name: "ssh", port: 22 }])], ["port-name"]],
    ["a port with no name", [...twoVersions, service("anon", { app: "web" }, [{ port: 80 }])], ["port-name"]],
    ["a port named http-web", [...twoVersions, service("web2", { app: "web" }, [{ name: "http-web", port: 80 }])], []],
    [
      "a port named httpx (not a prefix match)",
      [...twoVersions, service("web2", { app: "web" }, [{ name: "httpx", port: 80 }])],
      ["port-name"],
    ],
    [
      "a port with appProtocol",
      [...twoVersions, service("web2", { app: "web" }, [{ name: "web", appProtocol: "http", port: 80 }])],
      [],
    ],
    [
      "a route to a host that is no Service",
      [...twoVersions, virtualService([{ route: [{ destination: { host: "nowhere" } }] }])],
      ["route-host"],
    ],
    [
      "a route to the Service's full name",
      [...twoVersions, virtualService([{ route: [{ destination: { host: `web.${NS}.svc.cluster.local` } }] }])],
      [],
    ],
    [
      "a route to a subset no DestinationRule defines",
      [
        ...twoVersions,
        virtualService([{ route: [{ destination: { host: "web", subset: "v3" } }] }]),
        destinationRule("web", subsets),
      ],
      ["route-subset"],
    ],
    [
      "a route to a subset with no DestinationRule at all",
      [...twoVersions, virtualService([{ route: [{ destination: { host: "web", subset: "v1" } }] }])],
      ["route-subset"],
    ],
    [
      "a mirror to an undefined subset",
      [
        ...twoVersions,
        destinationRule("web", subsets),
        virtualService([
          { route: [{ destination: { host: "web", subset: "v1" } }], mirror: { host: "web", subset: "v9" } },
        ]),
      ],
      ["route-subset"],
    ],
    [
      "a DestinationRule for a host that is no Service",
      [...twoVersions, destinationRule("nowhere", subsets)],
      ["route-host"],
    ],
    [
      "a subset that selects no pods",
      [...twoVersions, destinationRule("web", [...subsets, { name: "v3", labels: { version: "v3" } }])],
      ["subset-pods"],
    ],
    [
      "a subset that selects two versions",
      [...twoVersions, destinationRule("web", [{ name: "all", labels: { app: "web" } }])],
      ["subset-pods"],
    ],
    [
      "mirror_percent and a fault percent",
      [
        ...twoVersions,
        virtualService([
          {
            route: [{ destination: { host: "web" } }],
            mirrorPercent: 5,
            fault: { abort: { httpStatus: 500, percent: 50 } },
          },
        ]),
      ],
      ["deprecated-field", "deprecated-field"],
    ],
    [
      "consecutiveErrors and LEAST_CONN",
      [
        ...twoVersions,
        destinationRule("web", subsets, {
          trafficPolicy: { loadBalancer: { simple: "LEAST_CONN" }, outlierDetection: { consecutiveErrors: 1 } },
        }),
      ],
      ["deprecated-field", "deprecated-field"],
    ],
    [
      "the current fields",
      [
        ...twoVersions,
        destinationRule("web", subsets, {
          trafficPolicy: { loadBalancer: { simple: "LEAST_REQUEST" }, outlierDetection: { consecutive5xxErrors: 1 } },
        }),
      ],
      [],
    ],
    [
      "an HTTPRoute on a Service to version Services",
      [
        ...twoVersions,
        ...versionServices,
        httpRoute([
          {
            backendRefs: [{ name: "web-v1", port: 80 }],
            filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "web-v2", port: 80 } } }],
          },
        ]),
      ],
      [],
    ],
    [
      "an HTTPRoute on a Gateway of the render",
      [
        ...twoVersions,
        ...versionServices,
        gatewayApiGateway,
        httpRoute([{ backendRefs: [{ name: "web-v1", port: 80 }] }], [{ name: "gw" }]),
      ],
      [],
    ],
    [
      "an HTTPRoute backendRef to a Service that does not exist",
      [...twoVersions, ...versionServices, httpRoute([{ backendRefs: [{ name: "web-v3", port: 80 }] }])],
      ["route-host"],
    ],
    [
      "an HTTPRoute mirror to a Service that does not exist",
      [
        ...twoVersions,
        ...versionServices,
        httpRoute([
          {
            backendRefs: [{ name: "web-v1", port: 80 }],
            filters: [{ type: "RequestMirror", requestMirror: { backendRef: { name: "web-v3", port: 80 } } }],
          },
        ]),
      ],
      ["route-host"],
    ],
    [
      "an HTTPRoute backendRef to a Service of another namespace",
      [
        ...twoVersions,
        ...versionServices,
        httpRoute([{ backendRefs: [{ name: "web-v1", namespace: "other", port: 80 }] }]),
      ],
      ["route-host"],
    ],
    [
      "an HTTPRoute backendRef that is no Service (not checked)",
      [
        ...twoVersions,
        ...versionServices,
        httpRoute([
          { backendRefs: [{ group: "networking.istio.io", kind: "Hostname", name: "httpbin.org", port: 80 }] },
        ]),
      ],
      [],
    ],
    [
      "an HTTPRoute on a Service that does not exist",
      [
        ...twoVersions,
        ...versionServices,
        httpRoute([{ backendRefs: [{ name: "web-v1", port: 80 }] }], [{ group: "", kind: "Service", name: "webb" }]),
      ],
      ["route-parent"],
    ],
    [
      "an HTTPRoute on a Gateway that does not exist",
      [
        ...twoVersions,
        ...versionServices,
        httpRoute([{ backendRefs: [{ name: "web-v1", port: 80 }] }], [{ name: "gw" }]),
      ],
      ["route-parent"],
    ],
    [
      "a version Service that selects no pods",
      [...twoVersions, versionServices[0]!, service("web-v3", { app: "web", version: "v3" })],
      ["service-selector"],
    ],
    [
      "a pod that can run as root",
      [service("r", { app: "r" }), deployment("r", { app: "r" }, { containers: [{ name: "app", image: "app:1" }] })],
      ["restricted"],
    ],
  ] as [string, K8sObject[], string[]][])("%s", (_name, objects, expected) => {
    expect(rulesOf(crossCheck(objects))).toEqual(expected);
  });

  it("names the labels the pods carry when a subset selects none", () => {
    const objects = [
      service("web", { app: "web" }),
      deployment("web-v1", { app: "web", version: "v1" }),
      deployment("web-v2", { app: "web", version: "v1" }),
      destinationRule("web", subsets),
    ];
    const messages = crossCheck(objects)
      .filter((f) => f.rule === "subset-pods")
      .map((f) => f.message);
    expect(messages).toContainEqual(
      expect.stringMatching(/subset v2 .*selects no pods.*Deployment\/web-v2 has \{version: v1\}/),
    );
    expect(messages).toContainEqual(expect.stringMatching(/subset v1 .*2 workloads/));
  });

  it.each([
    ["a grace period longer than delay + drain", "30", "5s", "10s", []],
    ["a grace period equal to delay + drain", "15", "5s", "10s", ["shutdown-budget"]],
    ["the default grace period (30s) too short", undefined, "20s", "10s", ["shutdown-budget"]],
    ["a delay that is not a duration", "30", "5 seconds", "10s", ["shutdown-budget"]],
  ] as [string, string | undefined, string, string, string[]][])(
    "shutdown budget: %s",
    (_name, grace, delay, drain, expected) => {
      const d = deployment(
        "web-v1",
        { app: "web" },
        grace === undefined ? {} : { terminationGracePeriodSeconds: Number(grace) },
      );
      d.spec.template.spec.containers[0].env = [
        { name: "SHUTDOWN_DELAY", value: delay },
        { name: "DRAIN_TIMEOUT", value: drain },
      ];
      expect(rulesOf(crossCheck([service("web", { app: "web" }), d]))).toEqual(expected);
    },
  );
});

describe("restrictedViolations", () => {
  it.each([
    ["the hardened container", {}, hardened, []],
    [
      "pod-level user and seccomp",
      { securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } } },
      { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
      [],
    ],
    ["uid 0", {}, { ...hardened, runAsUser: 0 }, ["runAsUser must be a numeric non-root uid"]],
    ["no runAsNonRoot", {}, { ...hardened, runAsNonRoot: undefined }, ["runAsNonRoot must be true"]],
    [
      "privilege escalation allowed",
      {},
      { ...hardened, allowPrivilegeEscalation: true },
      ["allowPrivilegeEscalation must be false"],
    ],
    ["a writable root", {}, { ...hardened, readOnlyRootFilesystem: false }, ["readOnlyRootFilesystem must be true"]],
    [
      "NET_ADMIN added",
      {},
      { ...hardened, capabilities: { drop: ["ALL"], add: ["NET_ADMIN"] } },
      ["capabilities.add may only hold NET_BIND_SERVICE"],
    ],
    ["NET_BIND_SERVICE added", {}, { ...hardened, capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] } }, []],
    ["nothing dropped", {}, { ...hardened, capabilities: {} }, ["capabilities.drop must include ALL"]],
    [
      "Unconfined seccomp",
      {},
      { ...hardened, seccompProfile: { type: "Unconfined" } },
      ["seccompProfile.type must be RuntimeDefault or Localhost"],
    ],
    ["privileged", {}, { ...hardened, privileged: true }, ["privileged must not be set"]],
    ["host network", { hostNetwork: true }, hardened, ["hostNetwork must not be set"]],
    [
      "a hostPath volume",
      { volumes: [{ name: "h", hostPath: { path: "/" } }] },
      hardened,
      ["hostPath volumes are not allowed"],
    ],
  ] as [string, Record<string, unknown>, Record<string, unknown>, string[]][])(
    "%s",
    (_name, podSpec, securityContext, expected) => {
      expect(restrictedViolations(podSpec, { name: "app", securityContext })).toEqual(expected);
    },
  );
});

describe("a rule's host, resolved as Istio does", () => {
  const inOther = { ...service("web", { app: "web" }), metadata: { name: "web", namespace: "other" } };
  const otherPods = { ...deployment("web-v1", { app: "web" }), metadata: { name: "web-v1", namespace: "other" } };
  it.each([
    ["web", ["route-host"]],
    ["web.other.svc.cluster.local", []],
    // A name with a dot is taken as written (Istio's ResolveShortnameToFQDN): these name no Service.
    ["web.other", ["route-host"]],
    ["web.other.svc", ["route-host"]],
    ["httpbin.org.example", ["route-host"]],
  ])("a route in namespace lessons to %s, with the Service web in namespace other", (host, expected) => {
    expect(rulesOf(crossCheck([inOther, otherPods, virtualService([{ route: [{ destination: { host } }] }])]))).toEqual(
      expected,
    );
  });

  it("says how to name a Service of another namespace", () => {
    const [finding] = crossCheck([
      inOther,
      otherPods,
      virtualService([{ route: [{ destination: { host: "web.other" } }] }]),
    ]);
    expect(finding?.message).toBe(
      "destination host web.other is not a Service in the render (Istio takes a name with a dot as written: a Service of another namespace is name.namespace.svc.cluster.local)",
    );
  });
});

describe("image names", () => {
  it.each([
    ["a built image", "istio-lessons/flaskapp:0.1.0", []],
    ["another tag", "istio-lessons/flaskapp:latest", ["image"]],
    ["the book's image", "dustise/flaskapp", ["image"]],
  ])("%s", (_name, image, expected) => {
    const d = deployment("web-v1", { app: "web" });
    d.spec.template.spec.containers[0].image = image;
    expect(rulesOf(checkImages([d]))).toEqual(expected);
  });
});

describe("crossCheck: ambient mode", () => {
  const namespace = (labels: Record<string, string>): K8sObject => ({
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: NS, labels },
  });
  const waypoint = (listeners: unknown[], labels: Record<string, string> = {}): K8sObject => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "wp", namespace: NS, labels },
    spec: { gatewayClassName: "istio-waypoint", listeners },
  });
  const hbone = [{ name: "mesh", port: 15008, protocol: "HBONE" }];
  const enrolled = (waypointName: string): K8sObject => ({
    ...service("app", { app: "app" }),
    metadata: { name: "app", namespace: NS, labels: { "istio.io/use-waypoint": waypointName } },
  });
  const rules = (objects: K8sObject[]) =>
    crossCheck(objects)
      .map((f) => `${f.rule} ${f.object}: ${f.message}`)
      .filter((f) => /^(ambient-namespace|waypoint|use-waypoint) /.test(f));

  it("accepts an ambient namespace, a waypoint with its HBONE listener, and a Service enrolled with it", () => {
    expect(
      rules([
        namespace({ "istio.io/dataplane-mode": "ambient" }),
        waypoint(hbone, { "istio.io/waypoint-for": "service" }),
        enrolled("wp"),
      ]),
    ).toEqual([]);
  });

  it("flags sidecar injection beside ambient, a waypoint without HBONE on 15008 or with an unknown waypoint-for, and a label naming no waypoint", () => {
    expect(
      rules([
        namespace({ "istio.io/dataplane-mode": "ambient", "istio-injection": "enabled" }),
        waypoint([{ name: "http", port: 80, protocol: "HTTP" }], { "istio.io/waypoint-for": "services" }),
        enrolled("other"),
      ]),
    ).toEqual([
      "ambient-namespace Namespace/lessons: has istio-injection beside istio.io/dataplane-mode: ambient; pods that get a sidecar are left out of ambient",
      "waypoint Gateway/wp: spec.listeners: a waypoint needs protocol HBONE on port 15008",
      "waypoint Gateway/wp: istio.io/waypoint-for services: expected service, workload, all or none",
      "use-waypoint Service/app: istio.io/use-waypoint names lessons/other, which is no waypoint (Gateway of class istio-waypoint) of the render",
    ]);
  });
});
