// decide(): what a proxy does with one request, without a socket. Each
// routing behaviour of docs/mesh-preview.md as a Call and the Plan it gets:
// the rule and destination the learner reads, the reply or the upstream
// request, and the draws it took.
import { describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import { decide, readTarget, type Call, type ForwardPlan, type Plan, type ReplyPlan } from "#lessons/mesh/decide.ts";
import { OLDEST_RELEASE, NEWEST_RELEASE } from "#lessons/mesh/releases.ts";
import type { ProxyRole } from "#lessons/mesh/routing.ts";

const NS = "istio-lessons";
const FQDN = `flaskapp.${NS}.svc.cluster.local`;
const svc = (name: string, selector: Record<string, string>): K8sObject => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: NS },
  spec: { selector, ports: [{ name: "http", port: 80 }] },
});
const SERVICE = svc("flaskapp", { app: "flaskapp" });
const SPLIT = [
  svc("flaskapp-v1", { app: "flaskapp", version: "v1" }),
  svc("flaskapp-v2", { app: "flaskapp", version: "v2" }),
];
const DR: K8sObject = {
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: "flaskapp", namespace: NS },
  spec: {
    host: "flaskapp",
    subsets: [
      { name: "v1", labels: { version: "v1" } },
      { name: "v2", labels: { version: "v2" } },
    ],
  },
};
const vs = (...http: unknown[]): K8sObject => ({
  apiVersion: "networking.istio.io/v1",
  kind: "VirtualService",
  metadata: { name: "flaskapp", namespace: NS },
  spec: { hosts: ["flaskapp"], http },
});
const to = (subset: string, weight?: number) => ({
  destination: { host: "flaskapp", subset },
  ...(weight === undefined ? {} : { weight }),
});
const SLEEP: ProxyRole = { kind: "sidecar", namespace: NS, labels: { app: "sleep" } };
const httpRoute = (rules: unknown[], spec: Record<string, unknown> = {}, name = "flaskapp"): K8sObject => ({
  apiVersion: "gateway.networking.k8s.io/v1",
  kind: "HTTPRoute",
  metadata: { name, namespace: NS },
  spec: { parentRefs: [{ group: "", kind: "Service", name: "flaskapp", port: 80 }], rules, ...spec },
});
const backend = (name: string, extra: Record<string, unknown> = {}) => ({ name, port: 80, ...extra });

/** A random source that hands out the given draws in order and fails when asked for one more. */
function draws(...values: number[]): () => number {
  return () => {
    if (values.length === 0) throw new Error("decide took more draws than the test gave");
    return values.shift()!;
  };
}

interface CallOptions {
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  authority?: string;
  role?: ProxyRole;
  random?: () => number;
  release?: typeof NEWEST_RELEASE;
  destination?: string;
}

function call(objects: K8sObject[], o: CallOptions = {}): Call {
  return {
    config: meshConfig(objects, o.release ?? NEWEST_RELEASE),
    role: o.role ?? SLEEP,
    request: {
      path: o.path ?? "/env/version",
      method: o.method ?? "GET",
      headers: { "x-request-id": "r1", "x-forwarded-proto": "http", ...o.headers },
    },
    authority: o.authority ?? "flaskapp",
    ...(o.destination === undefined ? {} : { destination: o.destination }),
    random: o.random ?? draws(),
  };
}

const forward = (plan: Plan): ForwardPlan => {
  expect(plan.kind).toBe("forward");
  return plan as ForwardPlan;
};
const replied = (plan: Plan): ReplyPlan => {
  expect(plan.kind).toBe("reply");
  return plan as ReplyPlan;
};
/** The line explainDecisions prints for a plan, without the status. */
const line = (plan: Plan) =>
  `${plan.rule}${plan.destination ? ` → ${plan.destination}` : ""}${plan.notes.length ? ` (${plan.notes.join("; ")})` : ""}`;

describe("[host-resolution] decide: the Host names a Service however it is written", () => {
  it.each(["flaskapp", "flaskapp:80", `flaskapp.${NS}`, `flaskapp.${NS}.svc`, FQDN])("%s", (authority) => {
    const plan = forward(decide(call([SERVICE, DR, vs({ route: [to("v2")] })], { authority, random: draws(0) })));
    expect(line(plan)).toBe("VirtualService flaskapp http[0] → flaskapp subset v2");
    expect(plan.target).toEqual({ host: FQDN, subset: "v2" });
    expect(plan.upstream.headers.host).toBe(authority);
  });
});

describe("[match] decide: the first route with a matching entry", () => {
  const objects = [
    SERVICE,
    DR,
    vs(
      { match: [{ headers: { lab: { exact: "canary" } } }, { uri: { prefix: "/canary" } }], route: [to("v2")] },
      { route: [to("v1")] },
    ),
  ];
  it.each([
    ["header", "/env/version", { lab: "canary" }, "VirtualService flaskapp http[0] → flaskapp subset v2"],
    ["second entry of the list", "/canary/x", {}, "VirtualService flaskapp http[0] → flaskapp subset v2"],
    [
      "other header value falls through",
      "/env/version",
      { lab: "phoenix" },
      "VirtualService flaskapp http[1] → flaskapp subset v1",
    ],
  ])("%s", (_name, path, headers, expected) => {
    expect(line(decide(call(objects, { path, headers, random: draws(0) })))).toBe(expected);
  });

  it("no route matches: a 404 from the proxy, no draw taken", () => {
    const plan = replied(decide(call([SERVICE, DR, vs({ match: [{ uri: { exact: "/x" } }], route: [to("v2")] })])));
    expect(plan.reply).toEqual({ status: 404, body: "", headers: {} });
    expect(plan.rule).toBe("VirtualService flaskapp: no route matched");
  });
});

describe("[source-labels] decide: the calling proxy's labels pick its routes", () => {
  const objects = [
    SERVICE,
    DR,
    vs({ match: [{ sourceLabels: { app: "sleep" } }], route: [to("v2")] }, { route: [to("v1")] }),
  ];
  it.each([
    ["sleep", { app: "sleep" }, "VirtualService flaskapp http[0] → flaskapp subset v2"],
    ["a flaskapp pod", { app: "flaskapp", version: "v1" }, "VirtualService flaskapp http[1] → flaskapp subset v1"],
  ])("%s", (_name, labels, expected) => {
    expect(line(decide(call(objects, { role: { kind: "sidecar", namespace: NS, labels }, random: draws(0) })))).toBe(
      expected,
    );
  });
});

describe("[weights-relative] decide: the destination draw and the decision line", () => {
  const objects = [SERVICE, DR, vs({ route: [to("v1", 70), to("v2", 30)] })];
  it.each([
    [0, "VirtualService flaskapp http[0] → flaskapp subset v1 (weight 70 of 100)"],
    [0.69, "VirtualService flaskapp http[0] → flaskapp subset v1 (weight 70 of 100)"],
    [0.7, "VirtualService flaskapp http[0] → flaskapp subset v2 (weight 30 of 100)"],
  ])("draw %s", (draw, expected) => {
    expect(line(decide(call(objects, { random: draws(draw) })))).toBe(expected);
  });

  it("relative weights: 1 and 3 are a quarter and three quarters", () => {
    const plan = decide(call([SERVICE, DR, vs({ route: [to("v1", 1), to("v2", 3)] })], { random: draws(0.3) }));
    expect(plan.destination).toBe("flaskapp subset v2 (weight 3 of 4)");
  });
});

describe("[default-retry] [default-lb] decide: a Service without a VirtualService takes the default route", () => {
  it("one route to the Service with the release's retry policy, no timeout", () => {
    const plan = forward(decide(call([SERVICE], { random: draws(0) })));
    expect(line(plan)).toBe("no VirtualService for flaskapp: default route → flaskapp");
    expect(plan.retries).toEqual(NEWEST_RELEASE.defaultRetry);
    expect(plan.timeoutMs).toBeUndefined();
    expect(plan.service?.host).toBe(FQDN);
  });
});

describe("[retry-attempts] [per-try-timeout] [route-timeout] decide: the route's retry policy and timeout go into the plan", () => {
  it("attempts, perTryTimeout, retryOn and timeout", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            DR,
            vs({ route: [to("v1")], timeout: "3s", retries: { attempts: 3, perTryTimeout: "1s", retryOn: "5xx" } }),
          ],
          { random: draws(0) },
        ),
      ),
    );
    expect(plan.timeoutMs).toBe(3000);
    expect(plan.retries).toMatchObject({ attempts: 3, perTryTimeoutMs: 1000, retryOn: ["5xx"] });
  });
});

describe("[fault-delay] [fault-abort] decide: faults drawn before the destination", () => {
  const faulty = (fault: unknown) => [SERVICE, DR, vs({ route: [to("v1")], fault })];
  it("a delay that applies: the wait, then the forward; draws: delay, destination", () => {
    const plan = forward(
      decide(call(faulty({ delay: { fixedDelay: "2s", percentage: { value: 50 } } }), { random: draws(0.49, 0) })),
    );
    expect(plan.delayMs).toBe(2000);
    expect(plan.notes).toEqual(["fault delay 2000ms"]);
  });
  it("a delay that does not apply", () => {
    const plan = forward(
      decide(call(faulty({ delay: { fixedDelay: "2s", percentage: { value: 50 } } }), { random: draws(0.5, 0) })),
    );
    expect(plan.delayMs).toBeUndefined();
    expect(plan.notes).toEqual([]);
  });
  it("an abort: the proxy's own reply with the route's response headers; no destination drawn", () => {
    const plan = replied(
      decide(
        call(
          [
            SERVICE,
            DR,
            vs({
              route: [to("v1")],
              fault: { abort: { httpStatus: 500, percentage: { value: 100 } } },
              headers: { response: { set: { "x-by": "route" } } },
            }),
          ],
          { random: draws(0) },
        ),
      ),
    );
    expect(plan.reply).toEqual({ status: 500, body: "fault filter abort", headers: { "x-by": "route" } });
    expect(line(plan)).toBe("VirtualService flaskapp http[0] (fault abort 500)");
  });
  it("delay and abort together: waits, then aborts", () => {
    const plan = replied(
      decide(
        call(
          faulty({
            delay: { fixedDelay: "1s", percentage: { value: 100 } },
            abort: { httpStatus: 503, percentage: { value: 100 } },
          }),
          { random: draws(0, 0) },
        ),
      ),
    );
    expect(plan.delayMs).toBe(1000);
    expect(plan.notes).toEqual(["fault delay 1000ms", "fault abort 503"]);
  });
});

describe("[mirror] decide: the mirror copy is planned after the upstream request is built", () => {
  const mirrored = [
    SERVICE,
    DR,
    vs({ route: [to("v1")], mirror: { host: "flaskapp", subset: "v2" }, mirrorPercentage: { value: 50 } }),
  ];
  it("mirrored: same path and request id, the Host kept (1.28+)", () => {
    const plan = forward(decide(call(mirrored, { random: draws(0, 0.4) })));
    expect(plan.mirrors).toHaveLength(1);
    expect(plan.mirrors[0]!.destination).toEqual({ host: FQDN, subset: "v2" });
    expect(plan.mirrors[0]!.request.headers).toMatchObject({ host: "flaskapp", "x-request-id": "r1" });
    expect(line(plan)).toBe(
      "VirtualService flaskapp http[0] → flaskapp subset v1 (mirrored to flaskapp subset v2 (Host flaskapp))",
    );
  });
  it("1.27 appends -shadow to the mirror's Host", () => {
    const plan = forward(decide(call(mirrored, { random: draws(0, 0), release: OLDEST_RELEASE })));
    expect(plan.mirrors[0]!.request.headers.host).toBe("flaskapp-shadow");
  });
  it("not mirrored when the draw is above the percentage", () => {
    expect(forward(decide(call(mirrored, { random: draws(0, 0.5) }))).mirrors).toEqual([]);
  });
});

describe("[missing-subset] decide: a subset no DestinationRule defines", () => {
  it("is a 503 the proxy answers itself, with the destination named", () => {
    const plan = replied(decide(call([SERVICE, vs({ route: [to("v3")] })], { random: draws(0) })));
    expect(plan.reply).toEqual({ status: 503, body: "", headers: {} });
    expect(line(plan)).toBe(
      `VirtualService flaskapp http[0] → flaskapp subset v3 (no cluster for subset v3 of ${FQDN} (no DestinationRule defines it))`,
    );
  });
});

describe("[missing-service] decide: a host no Service names", () => {
  it("is a 503 the proxy answers itself, naming the missing Service rather than a DestinationRule", () => {
    const plan = replied(
      decide(
        call([SERVICE, vs({ route: [{ destination: { host: "flaskap", subset: "v1" } }] })], { random: draws(0) }),
      ),
    );
    expect(plan.reply).toEqual({ status: 503, body: "", headers: {} });
    expect(line(plan)).toBe(
      "VirtualService flaskapp http[0] → flaskap subset v1 (no Service flaskap.istio-lessons: the destination host names no Service of the mesh)",
    );
  });
});

describe("[headers] decide: header operations of the route and the destination", () => {
  const ops = (name: string) => ({
    request: { set: { "x-level": name }, add: { "x-trail": name } },
    response: { set: { "x-level": name } },
  });
  it("one destination: the destination's run last and win", () => {
    const plan = forward(
      decide(
        call([SERVICE, DR, vs({ headers: ops("route"), route: [{ ...to("v1"), headers: ops("dest") }] })], {
          random: draws(0),
        }),
      ),
    );
    expect(plan.upstream.headers).toMatchObject({ "x-level": "dest", "x-trail": "route, dest" });
    expect(plan.responseRules.map((r) => r?.set["x-level"])).toEqual(["route", "dest"]);
  });
  it("weighted destinations: the route's run last and win", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            DR,
            vs({ headers: ops("route"), route: [{ ...to("v1", 50), headers: ops("dest") }, to("v2", 50)] }),
          ],
          { random: draws(0) },
        ),
      ),
    );
    expect(plan.upstream.headers).toMatchObject({ "x-level": "route", "x-trail": "dest, route" });
    expect(plan.localReplyHeaders).toEqual({ "x-level": "route" });
  });
  it("the client's request is not changed", () => {
    const c = call([SERVICE, DR, vs({ headers: ops("route"), route: [to("v1")] })], { random: draws(0) });
    decide(c);
    expect(c.request.headers["x-level"]).toBeUndefined();
  });
});

describe("[rewrite] decide: the upstream path and Host", () => {
  it("a prefix rewrite and an authority rewrite", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            DR,
            vs({
              match: [{ uri: { prefix: "/legacy/" } }],
              rewrite: { uri: "/env/", authority: "flaskapp.example.com" },
              route: [to("v1")],
            }),
          ],
          { path: "/legacy/version?a=1", random: draws(0) },
        ),
      ),
    );
    expect(plan.upstream.path).toBe("/env/version?a=1");
    expect(plan.upstream.headers.host).toBe("flaskapp.example.com");
    expect(plan.notes).toEqual(["rewrite /legacy/version?a=1 to /env/version?a=1"]);
  });
});

describe("[redirect] decide: a redirect is the proxy's own reply", () => {
  it("with Location and the route's response headers, no draw taken", () => {
    const plan = replied(
      decide(
        call(
          [
            SERVICE,
            vs({
              redirect: { uri: "/env/version", redirectCode: 302 },
              headers: { response: { add: { "x-r": "1" } } },
            }),
          ],
          { path: "/old?a=1" },
        ),
      ),
    );
    expect(plan.reply).toEqual({
      status: 302,
      body: "",
      headers: { location: "http://flaskapp/env/version?a=1", "x-r": "1" },
    });
    expect(line(plan)).toBe("VirtualService flaskapp http[0] (redirect to http://flaskapp/env/version?a=1)");
  });
});

describe("[outbound-policy] [service-entry] decide: hosts outside the mesh's rules", () => {
  const sidecar: K8sObject = {
    apiVersion: "networking.istio.io/v1",
    kind: "Sidecar",
    metadata: { name: "default", namespace: NS },
    spec: { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } },
  };
  const entry: K8sObject = {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name: "httpbin", namespace: NS },
    spec: { hosts: ["httpbin.org"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "DNS" },
  };
  it("ALLOW_ANY: an unknown host passes through unchanged, no retries", () => {
    const plan = forward(decide(call([SERVICE], { authority: "example.com:80" })));
    expect(line(plan)).toBe("passthrough (no rule for Host example.com) → example.com");
    expect(plan.upstream.headers.host).toBe("example.com:80");
    expect(plan.retries.attempts).toBe(0);
    expect(plan.service).toBeUndefined();
  });
  it("a Service reached under a Host it does not answer to: sent to where the client aimed", () => {
    const plan = forward(decide(call([SERVICE], { authority: "flaskapp.example.com", destination: "flaskapp" })));
    expect(line(plan)).toBe(`passthrough (no rule for Host flaskapp.example.com) → ${FQDN}`);
    expect(plan.service?.host).toBe(FQDN);
  });
  it("REGISTRY_ONLY: a 502 from the sidecar", () => {
    const plan = replied(decide(call([SERVICE, sidecar], { authority: "example.com" })));
    expect(plan.reply.status).toBe(502);
    expect(plan.rule).toBe("outbound REGISTRY_ONLY: example.com is not in the registry");
  });
  it("a ServiceEntry host is in the registry: its default route", () => {
    const plan = forward(decide(call([SERVICE, sidecar, entry], { authority: "httpbin.org", random: draws(0) })));
    expect(line(plan)).toBe("no VirtualService for httpbin.org: default route → httpbin.org");
  });
});

describe("[gateway] decide: a gateway routes by Host", () => {
  const gw: K8sObject = {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: NS },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["flaskapp.example.com"] }],
    },
  };
  const ingress: K8sObject = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "ingress", namespace: NS },
    spec: {
      hosts: ["flaskapp.example.com"],
      gateways: ["gw"],
      http: [{ route: [{ destination: { host: "flaskapp" } }] }],
    },
  };
  const role: ProxyRole = { kind: "gateway", namespace: "istio-system", labels: { istio: "ingressgateway" }, port: 80 };
  it("a bound host", () => {
    expect(
      line(decide(call([SERVICE, gw, ingress], { role, authority: "flaskapp.example.com", random: draws(0) }))),
    ).toBe("VirtualService ingress http[0] → flaskapp");
  });
  it("another host: 404", () => {
    const plan = replied(decide(call([SERVICE, gw, ingress], { role, authority: "other.example.com" })));
    expect(plan.reply.status).toBe(404);
    expect(plan.rule).toBe("no Gateway route for Host other.example.com");
  });
});

describe("[app-request-headers] readTarget: where a request is aimed", () => {
  it.each([
    [
      "absolute form wins over the Host header",
      "http://httpbin.org/get?a=1",
      "flaskapp",
      undefined,
      { path: "/get?a=1", authority: "httpbin.org", destination: "httpbin.org" },
    ],
    [
      "a bound listener reached by its address stands for its Service",
      "/env/version",
      "127.0.0.1:4000",
      "flaskapp",
      { path: "/env/version", authority: "flaskapp", destination: "flaskapp" },
    ],
    [
      "a bound listener keeps a Host the client set",
      "/",
      "flaskapp.example.com",
      "flaskapp",
      { path: "/", authority: "flaskapp.example.com", destination: "flaskapp" },
    ],
    [
      "an unbound listener takes the Host header",
      "/",
      "example.com",
      undefined,
      { path: "/", authority: "example.com" },
    ],
  ])("%s", (_name, target, host, bound, expected) => {
    expect(readTarget(target, host, bound, "127.0.0.1:4000")).toEqual(expected);
  });
});

describe("decide: Gateway API routes become the same plans", () => {
  it("[gw-parent-service] [gw-backends] a Service parent's rules are the Service's routes; weights relative", () => {
    const plan = decide(
      call(
        [
          SERVICE,
          ...SPLIT,
          httpRoute([
            { backendRefs: [backend("flaskapp-v1", { weight: 90 }), backend("flaskapp-v2", { weight: 10 })] },
          ]),
        ],
        { random: draws(0.95) },
      ),
    );
    expect(line(plan)).toBe("HTTPRoute flaskapp rules[0] → flaskapp-v2 (weight 10 of 100)");
  });
  it("[gw-match] [gw-precedence] an Exact match is tried before a longer PathPrefix", () => {
    const objects = [
      SERVICE,
      ...SPLIT,
      httpRoute([
        { matches: [{ path: { type: "PathPrefix", value: "/env/version" } }], backendRefs: [backend("flaskapp-v1")] },
        { matches: [{ path: { type: "Exact", value: "/env/version" } }], backendRefs: [backend("flaskapp-v2")] },
      ]),
    ];
    expect(decide(call(objects, { random: draws(0) })).destination).toBe("flaskapp-v2");
    expect(decide(call(objects, { path: "/env/version/x", random: draws(0) })).destination).toBe("flaskapp-v1");
  });
  it("[gw-merge] two HTTPRoutes for one Service are one set of routes", () => {
    const objects = [
      SERVICE,
      ...SPLIT,
      httpRoute(
        [{ matches: [{ headers: [{ name: "lab", value: "canary" }] }], backendRefs: [backend("flaskapp-v2")] }],
        {},
        "a",
      ),
      httpRoute([{ backendRefs: [backend("flaskapp-v1")] }], {}, "b"),
    ];
    expect(decide(call(objects, { headers: { lab: "canary" }, random: draws(0) })).destination).toBe("flaskapp-v2");
    expect(decide(call(objects, { random: draws(0) })).destination).toBe("flaskapp-v1");
  });
  it("[gw-headers] a RequestHeaderModifier reaches the upstream request", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            ...SPLIT,
            httpRoute([
              {
                filters: [
                  { type: "RequestHeaderModifier", requestHeaderModifier: { set: [{ name: "X-Lab", value: "gw" }] } },
                ],
                backendRefs: [backend("flaskapp-v1")],
              },
            ]),
          ],
          { random: draws(0) },
        ),
      ),
    );
    expect(plan.upstream.headers["x-lab"]).toBe("gw");
  });
  it("[gw-rewrite] ReplacePrefixMatch", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            ...SPLIT,
            httpRoute([
              {
                matches: [{ path: { type: "PathPrefix", value: "/legacy" } }],
                filters: [
                  {
                    type: "URLRewrite",
                    urlRewrite: { path: { type: "ReplacePrefixMatch", replacePrefixMatch: "/env" } },
                  },
                ],
                backendRefs: [backend("flaskapp-v1")],
              },
            ]),
          ],
          { path: "/legacy/version", random: draws(0) },
        ),
      ),
    );
    expect(plan.upstream.path).toBe("/env/version");
  });
  it("[gw-redirect] a RequestRedirect is a 302 the proxy answers", () => {
    const plan = replied(
      decide(
        call(
          [
            SERVICE,
            ...SPLIT,
            httpRoute([{ filters: [{ type: "RequestRedirect", requestRedirect: { hostname: "example.com" } }] }]),
          ],
          { path: "/x" },
        ),
      ),
    );
    expect(plan.reply.status).toBe(302);
    expect(plan.reply.headers.location).toBe("http://example.com/x");
  });
  it("[gw-mirror] a RequestMirror copies to the Service", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            ...SPLIT,
            httpRoute([
              {
                filters: [{ type: "RequestMirror", requestMirror: { backendRef: backend("flaskapp-v2") } }],
                backendRefs: [backend("flaskapp-v1")],
              },
            ]),
          ],
          { random: draws(0, 0) },
        ),
      ),
    );
    expect(plan.mirrors.map((m) => m.destination.host)).toEqual([`flaskapp-v2.${NS}.svc.cluster.local`]);
  });
  it("[gw-timeouts] [gw-retry] timeouts.request and retry", () => {
    const plan = forward(
      decide(
        call(
          [
            SERVICE,
            ...SPLIT,
            httpRoute([
              {
                timeouts: { request: "2s" },
                retry: { attempts: 1, codes: [503] },
                backendRefs: [backend("flaskapp-v1")],
              },
            ]),
          ],
          { random: draws(0) },
        ),
      ),
    );
    expect(plan.timeoutMs).toBe(2000);
    expect(plan.retries).toMatchObject({ attempts: 1, retriableStatusCodes: [503] });
  });
  it("[gw-gateway] a Gateway of class istio routes its listener's host", () => {
    const gateway: K8sObject = {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: NS },
      spec: {
        gatewayClassName: "istio",
        listeners: [{ name: "http", port: 80, protocol: "HTTP", hostname: "flaskapp.example.com" }],
      },
    };
    const route = httpRoute(
      [{ backendRefs: [backend("flaskapp-v1")] }],
      { parentRefs: [{ name: "gw" }], hostnames: ["flaskapp.example.com"] },
      "ingress",
    );
    const config = meshConfig([SERVICE, ...SPLIT, gateway, route]);
    const deployment = config.gatewayDeployments[0]!;
    const role: ProxyRole = {
      kind: "gateway",
      namespace: deployment.namespace,
      labels: deployment.labels,
      port: deployment.port,
    };
    const plan = decide({ ...call([SERVICE]), config, role, authority: "flaskapp.example.com", random: draws(0) });
    expect(line(plan)).toBe("HTTPRoute ingress rules[0] → flaskapp-v1");
  });
});

describe("decide: what Istio does where the preview once answered wrong or refused", () => {
  const one = (http: unknown) => [SERVICE, DR, vs(http)];
  it.each([
    [
      "a route's :authority set",
      { route: [to("v1")], headers: { request: { set: { ":authority": "route-authority" } } } },
      [0],
      "route-authority",
    ],
    [
      "a destination's Host set",
      { route: [{ ...to("v1"), headers: { request: { set: { Host: "dest-authority" } } } }] },
      [0],
      "dest-authority",
    ],
    [
      "route and destination: the route's wins",
      {
        route: [{ ...to("v1"), headers: { request: { set: { Host: "dest" } } } }],
        headers: { request: { set: { ":authority": "route" } } },
      },
      [0],
      "route",
    ],
    [
      "weighted destinations: the route's still wins",
      {
        route: [{ ...to("v1", 50), headers: { request: { set: { Host: "dest" } } } }, to("v2", 50)],
        headers: { request: { add: { host: "route" } } },
      },
      [0],
      "route",
    ],
    [
      "rewrite.authority wins over a header operation",
      {
        route: [to("v1")],
        rewrite: { authority: "rewritten" },
        headers: { request: { set: { ":authority": "set" } } },
      },
      [0],
      "rewritten",
    ],
  ])("[authority-header] %s", (_name, http, random, host) => {
    const plan = forward(decide(call(one(http), { random: draws(...random) })));
    expect(plan.upstream.headers.host).toBe(host);
    expect(Object.keys(plan.upstream.headers).filter((h) => h.startsWith(":"))).toEqual([]);
  });

  it.each([
    [":method", { ":method": { exact: "GET" } }, { method: "POST" }, { method: "GET" }],
    [":authority", { ":authority": { exact: "flaskapp" } }, { authority: "flaskapp:80" }, { authority: "flaskapp" }],
    [":path", { ":path": { prefix: "/env" } }, { path: "/x" }, { path: "/env/version" }],
    ["a presence match (regex *)", { "x-any": { regex: "*" } }, { headers: {} }, { headers: { "x-any": "" } }],
  ])("[pseudo-header-match] a header match on %s", (_name, headers, miss, hit) => {
    const objects = one({ match: [{ headers }], route: [to("v1")] });
    expect(decide(call(objects, { ...miss, random: draws(0) })).rule).toBe("VirtualService flaskapp: no route matched");
    expect(decide(call(objects, { ...hit, random: draws(0) })).rule).toBe("VirtualService flaskapp http[0]");
  });

  it("[pseudo-header-match] match.authority and match.scheme are matches on the pseudo-headers", () => {
    const objects = one({
      match: [{ authority: { prefix: "flaskapp" }, scheme: { exact: "http" } }],
      route: [to("v1")],
    });
    expect(decide(call(objects, { random: draws(0) })).kind).toBe("forward");
  });

  it.each([
    ["exact: a request without the header matches (missing is empty)", { exact: "jason" }, {}, true],
    ["exact: the listed value does not", { exact: "jason" }, { "end-user": "jason" }, false],
    ["regex .*: nothing matches, not even a missing header", { regex: ".*" }, {}, false],
    ["regex * (presence): a missing header matches", { regex: "*" }, {}, true],
    ["regex * (presence): an empty value does not", { regex: "*" }, { "end-user": "" }, false],
  ])("[without-headers] %s", (_name, m, headers, matches) => {
    const plan = decide(
      call(one({ match: [{ withoutHeaders: { "end-user": m } }], route: [to("v1")] }), { headers, random: draws(0) }),
    );
    expect(plan.kind === "forward").toBe(matches);
  });

  it.each([
    ["/env/version?a=b", true],
    ["/env/version?x=1&a=b", true],
    ["/env/version?a=bc", false],
    ["/env/version?A=b", false],
    ["/env/version", false],
  ])("[query-params] queryParams a: exact b, %s", (path, matches) => {
    const plan = decide(
      call(one({ match: [{ queryParams: { a: { exact: "b" } } }], route: [to("v1")] }), { path, random: draws(0) }),
    );
    expect(plan.kind === "forward").toBe(matches);
  });

  it("[route-timeout] timeout 0s is no timeout, as Istio's setTimeout and Envoy read it", () => {
    expect(
      forward(decide(call(one({ route: [to("v1")], timeout: "0s" }), { random: draws(0) }))).timeoutMs,
    ).toBeUndefined();
  });

  it("[redirect] derivePort FROM_REQUEST_PORT with scheme https keeps :80; the request's own port is kept when the derived one is the default", () => {
    expect(
      replied(decide(call(one({ redirect: { derivePort: "FROM_REQUEST_PORT", scheme: "https" } })))).reply.headers
        .location,
    ).toBe("https://flaskapp:80/env/version");
    expect(
      replied(decide(call(one({ redirect: { derivePort: "FROM_REQUEST_PORT" } }), { authority: "flaskapp:80" }))).reply
        .headers.location,
    ).toBe("http://flaskapp:80/env/version");
    expect(
      replied(decide(call(one({ redirect: { prefixRewrite: "/v2/" }, match: [{ uri: { prefix: "/env/" } }] })))).reply
        .headers.location,
    ).toBe("http://flaskapp/v2/version");
  });

  it("[mirror] mirrors: each entry drawn on its own, after mirror", () => {
    const http = {
      route: [to("v1")],
      mirror: { host: "flaskapp", subset: "v2" },
      mirrors: [{ destination: { host: "flaskapp", subset: "v1" }, percentage: { value: 50 } }],
    };
    expect(
      forward(decide(call(one(http), { random: draws(0, 0, 0.4) }))).mirrors.map((m) => m.destination.subset),
    ).toEqual(["v2", "v1"]);
    expect(
      forward(decide(call(one(http), { random: draws(0, 0, 0.6) }))).mirrors.map((m) => m.destination.subset),
    ).toEqual(["v2"]);
  });

  it("[deprecated-fields] fault.delay.percent and mirrorPercent are honoured, each with a warning naming the replacement", () => {
    const c = call(
      one({
        route: [to("v1")],
        fault: { delay: { fixedDelay: "1s", percent: 50 } },
        mirror: { host: "flaskapp", subset: "v2" },
        mirrorPercent: 10,
      }),
      { random: draws(0.49, 0, 0.09) },
    );
    const plan = forward(decide(c));
    expect([plan.delayMs, plan.mirrors.length]).toEqual([1000, 1]);
    expect(c.config.warnings).toEqual([
      "VirtualService flaskapp: spec.http[0].fault.delay.percent: deprecated, use percentage (honoured as Istio does)",
      "VirtualService flaskapp: spec.http[0].mirrorPercent: deprecated, use mirrorPercentage (honoured as Istio does)",
    ]);
  });

  it("[deprecated-fields] [lb-simple] LEAST_CONN is read as LEAST_REQUEST, with a warning naming it", () => {
    const config = meshConfig([
      SERVICE,
      { ...DR, spec: { ...DR.spec, trafficPolicy: { loadBalancer: { simple: "LEAST_CONN" } } } },
    ]);
    expect(config.destinations.get(FQDN)?.trafficPolicy.loadBalancer).toEqual({ simple: "LEAST_REQUEST" });
    expect(config.warnings).toEqual([
      "DestinationRule flaskapp: spec.trafficPolicy.loadBalancer.simple: LEAST_CONN is deprecated, use LEAST_REQUEST (honoured as Istio does: it is LEAST_REQUEST)",
    ]);
  });

  it("[retry-remote-localities] retryRemoteLocalities is accepted and changes nothing (one locality)", () => {
    const retries = { attempts: 2, retryOn: "5xx" };
    const plain = forward(decide(call(one({ route: [to("v1")], retries }), { random: draws(0) }))).retries;
    expect(
      forward(
        decide(
          call(one({ route: [to("v1")], retries: { ...retries, retryRemoteLocalities: true } }), { random: draws(0) }),
        ),
      ).retries,
    ).toEqual(plain);
  });
});

describe("decide: Gateway API status and merging", () => {
  const GW: K8sObject = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: NS },
    spec: {
      gatewayClassName: "istio",
      listeners: [{ name: "http", port: 80, protocol: "HTTP", hostname: "very.specific.com" }],
    },
  };
  const gwRoute = (
    name: string,
    hostnames: string[],
    prefix: string,
    to: string,
    parent: Record<string, unknown> = { name: "gw" },
  ) =>
    httpRoute(
      [{ matches: [{ path: { type: "PathPrefix", value: prefix } }], backendRefs: [backend(to)] }],
      { parentRefs: [parent], hostnames },
      name,
    );
  const roleOf = (config: ReturnType<typeof meshConfig>): ProxyRole => ({
    kind: "gateway",
    namespace: NS,
    labels: config.gatewayDeployments[0]!.labels,
    port: 80,
  });

  it("[gw-no-backends] a rule without backends: a 500 the proxy answers", () => {
    const plan = replied(decide(call([SERVICE, ...SPLIT, httpRoute([{ backendRefs: [] }])])));
    expect(plan.reply.status).toBe(500);
  });

  it("[gw-virtual-hosts] very.specific.com/s3 reaches the *.specific.com route attached to a very.specific.com listener", () => {
    const config = meshConfig([
      SERVICE,
      ...SPLIT,
      GW,
      gwRoute("s1", ["very.specific.com"], "/s1", "flaskapp-v1"),
      gwRoute("s3", ["*.specific.com"], "/s3", "flaskapp-v2"),
    ]);
    const at = (path: string) =>
      decide({
        ...call([SERVICE]),
        config,
        role: roleOf(config),
        authority: "very.specific.com",
        request: { path, method: "GET", headers: {} },
        random: draws(0),
      });
    expect([at("/s1").destination, at("/s3").destination]).toEqual(["flaskapp-v1", "flaskapp-v2"]);
  });

  it("[gw-merge] two HTTPRoutes whose hostnames overlap but differ are merged per host, not refused", () => {
    const config = meshConfig([
      SERVICE,
      ...SPLIT,
      { ...GW, spec: { ...GW.spec, listeners: [{ name: "http", port: 80, protocol: "HTTP" }] } },
      gwRoute("a", ["a.com", "b.com"], "/a", "flaskapp-v1"),
      gwRoute("b", ["a.com"], "/b", "flaskapp-v2"),
    ]);
    expect(config.virtualHosts.map((v) => [v.hosts[0], v.routes.map((r) => r.source)])).toEqual([
      ["a.com", ["HTTPRoute a rules[0]", "HTTPRoute b rules[0]"]],
      ["b.com", ["HTTPRoute a rules[0]"]],
    ]);
  });

  it("[gw-section-name] [gw-status] a sectionName no listener has: the route is left unattached, the rest served, the status a warning", () => {
    const config = meshConfig([
      SERVICE,
      ...SPLIT,
      GW,
      gwRoute("good", ["very.specific.com"], "/", "flaskapp-v1"),
      gwRoute("bad", ["very.specific.com"], "/bad", "flaskapp-v2", { name: "gw", sectionName: "https" }),
    ]);
    expect(config.virtualHosts.map((v) => v.source)).toEqual(["HTTPRoute good"]);
    expect(config.warnings).toEqual([
      "HTTPRoute bad: spec.parentRefs[0]: not Accepted (NoMatchingParent): Gateway istio-lessons/gw has no listener named https; istiod leaves the route unattached to this parent",
    ]);
  });

  it("[gw-section-name] on a Service, sectionName names its port", () => {
    const route = (sectionName: string) =>
      httpRoute([{ backendRefs: [backend("flaskapp-v1")] }], {
        parentRefs: [{ group: "", kind: "Service", name: "flaskapp", port: 80, sectionName }],
      });
    expect(meshConfig([SERVICE, ...SPLIT, route("http")]).virtualHosts).toHaveLength(1);
    expect(meshConfig([SERVICE, ...SPLIT, route("grpc")]).warnings).toEqual([
      expect.stringContaining("not Accepted (NoMatchingParent): Service istio-lessons/flaskapp has no port named grpc"),
    ]);
  });
});

describe("[retry-hosts] which endpoints a retry may go to, as planned", () => {
  const hashing = (subsetPolicy: boolean): K8sObject => ({
    ...DR,
    spec: {
      host: "flaskapp",
      ...(subsetPolicy ? {} : { trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } } }),
      subsets: [
        {
          name: "v1",
          labels: { version: "v1" },
          ...(subsetPolicy
            ? { trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } } }
            : {}),
        },
        { name: "v2", labels: { version: "v2" } },
      ],
    },
  });
  it.each([
    ["no DestinationRule, no VirtualService: other hosts", [SERVICE], true],
    [
      "consistent hashing, the Service's default route: other hosts still (BuildDefaultHTTPOutboundRoute)",
      [SERVICE, hashing(false)],
      true,
    ],
    [
      "consistent hashing, a VirtualService's route: the same host allowed",
      [SERVICE, hashing(false), vs({ route: [to("v1")] })],
      false,
    ],
    [
      "consistent hashing on the subset routed to: the same host allowed",
      [SERVICE, hashing(true), vs({ route: [to("v1")] })],
      false,
    ],
    [
      "consistent hashing on another subset only: other hosts",
      [SERVICE, hashing(true), vs({ route: [to("v2")] })],
      true,
    ],
  ] as const)("%s", (_, objects, otherHosts) => {
    expect(forward(decide(call([...objects], { random: () => 0.5 }))).retryOtherHosts).toBe(otherHosts);
  });
});
