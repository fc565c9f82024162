// Istio's own expectations, ported: the traffic cases of
// tests/integration/pilot/common/routing.go (virtualServiceCases,
// consistentHashCases), the mirror tests (tests/integration/pilot/mirror_test.go)
// and the retry unit tests (pilot/pkg/networking/core/route/retry/retry_test.go),
// each as our own overlay for the echo Service, checked through decide(). The
// titles carry the upstream case's name; ISTIO_AT is the commit they were read at.
import { describe, expect, it } from "vitest";
import { ringHashPick } from "#lessons/mesh/policy.ts";
import { CLIENT, configOf, ISTIO_AT, observe, send, service } from "./harness.ts";

const vs = (http: string) => `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: default }
spec:
  hosts: [echo]
  http:
${http}`;

describe(`virtualServiceCases (${ISTIO_AT} tests/integration/pilot/common/routing.go)`, () => {
  it("added header", () => {
    const config = configOf(
      vs(`  - route: [{ destination: { host: echo } }]
    headers: { request: { add: { istio-custom-header: user-defined-value } } }`),
    );
    expect(observe(send(config, {})).headers?.["istio-custom-header"]).toBe("user-defined-value");
  });

  it("set header", () => {
    const config = configOf(
      vs(`  - route: [{ destination: { host: echo } }]
    headers: { request: { set: { x-custom: some-value } } }`),
    );
    expect(observe(send(config, { headers: { "x-custom": "client" } })).headers?.["x-custom"]).toBe("some-value");
  });

  it.each([
    [
      "set authority header",
      `  - route: [{ destination: { host: echo } }]
    headers: { request: { set: { ":authority": my-custom-authority } } }`,
      "my-custom-authority",
    ],
    [
      "set host header in destination",
      `  - route: [{ destination: { host: echo }, headers: { request: { set: { Host: my-custom-authority } } } }]`,
      "my-custom-authority",
    ],
    [
      "set authority header in destination",
      `  - route: [{ destination: { host: echo }, headers: { request: { set: { ":authority": my-custom-authority } } } }]`,
      "my-custom-authority",
    ],
    [
      "set host header in route and destination",
      `  - route: [{ destination: { host: echo }, headers: { request: { set: { Host: dest-authority } } } }]
    headers: { request: { set: { ":authority": route-authority } } }`,
      "route-authority",
    ],
    [
      "set host header in route and multi destination",
      `  - route:
    - { destination: { host: echo }, weight: 50, headers: { request: { set: { Host: dest-authority } } } }
    - { destination: { host: echo }, weight: 50 }
    headers: { request: { set: { ":authority": route-authority } } }`,
      "route-authority",
    ],
    [
      "set host header multi destination",
      `  - route:
    - { destination: { host: echo }, weight: 50, headers: { request: { set: { Host: dest-authority } } } }
    - { destination: { host: echo }, weight: 50, headers: { request: { set: { Host: dest-authority } } } }`,
      "dest-authority",
    ],
  ])("%s", (_name, http, host) => {
    const config = configOf(vs(http));
    for (const draw of [0, 0.99]) {
      const seen = observe(send(config, {}, CLIENT, [draw]));
      expect(seen).toMatchObject({ backend: "echo", host });
      expect(seen.headers?.[":authority"]).toBeUndefined();
    }
  });

  it("redirect (followed: the query kept, then routed)", () => {
    const config = configOf(
      vs(`  - match: [{ uri: { exact: /foo } }]
    redirect: { uri: /new/path }
  - match: [{ uri: { exact: /new/path } }]
    route: [{ destination: { host: echo } }]`),
    );
    const first = observe(send(config, { path: "/foo?key=value" }));
    expect(first).toEqual({ status: 301, location: "http://echo/new/path?key=value" });
    expect(observe(send(config, { path: "/new/path?key=value" }))).toMatchObject({
      backend: "echo",
      path: "/new/path?key=value",
    });
  });

  it("redirect port and scheme", () => {
    const config = configOf(
      vs(`  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT, scheme: https }`),
    );
    expect(observe(send(config, { path: "/foo" }))).toEqual({ status: 301, location: "https://echo:80/foo" });
  });

  describe("redirect request port", () => {
    const config = configOf(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: default }
spec:
  hosts: [b]
  http:
  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT }`,
      [service("b", 80)],
    );
    const onPort85 = configOf(
      `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: default }
spec:
  hosts: [b]
  http:
  - match: [{ uri: { exact: /foo } }]
    redirect: { derivePort: FROM_REQUEST_PORT }`,
      [service("b", 85, "http2")],
    );
    it.each([
      ["to default", config, "b", "http://b/foo"],
      ["to default with host port", config, "b:80", "http://b:80/foo"],
      ["non-default", onPort85, "b", "http://b:85/foo"],
      ["non-default with host port", onPort85, "b:85", "http://b:85/foo"],
    ])("%s", (_name, c, host, location) => {
      expect(observe(send(c, { host, path: "/foo" }))).toEqual({ status: 301, location });
    });
  });

  it("redirect prefix_rewrite (followed)", () => {
    const config = configOf(
      vs(`  - match: [{ uri: { prefix: /foo/ } }]
    redirect: { prefixRewrite: /new/ }
  - match: [{ uri: { prefix: /new/ } }]
    route: [{ destination: { host: echo } }]`),
    );
    expect(observe(send(config, { path: "/foo/bar" }))).toEqual({ status: 301, location: "http://echo/new/bar" });
    expect(observe(send(config, { path: "/new/bar" }))).toMatchObject({ backend: "echo", path: "/new/bar" });
  });

  it("weird header matches", () => {
    const config = configOf(
      vs(`  - match: [{ headers: { "a!#$%&'*+-.^_\`|~z": { exact: why } } }]
    route: [{ destination: { host: echo } }]`),
    );
    expect(observe(send(config, {}))).toEqual({ status: 404 });
    expect(observe(send(config, { headers: { "a!#$%&'*+-.^_`|~z": "why" } })).backend).toBe("echo");
  });

  it("pseudo header matches", () => {
    const config = configOf(
      vs(`  - match: [{ headers: { ":method": { exact: GET } } }]
    route: [{ destination: { host: echo } }]`),
    );
    expect(observe(send(config, { method: "POST" }))).toEqual({ status: 404 });
    expect(observe(send(config, { method: "GET" })).backend).toBe("echo");
  });

  it("rewrite uri", () => {
    const config = configOf(
      vs(`  - match: [{ uri: { exact: /foo } }]
    rewrite: { uri: /new/path }
    route: [{ destination: { host: echo } }]`),
    );
    expect(observe(send(config, { path: "/foo?key=value" })).path).toBe("/new/path?key=value");
  });

  it("rewrite authority", () => {
    const config = configOf(
      vs(`  - match: [{ uri: { exact: /foo } }]
    rewrite: { authority: new-authority }
    route: [{ destination: { host: echo } }]`),
    );
    expect(observe(send(config, { path: "/foo" })).host).toBe("new-authority");
  });

  it("retry conditions (the config is accepted; retryRemoteLocalities has one locality to work with)", () => {
    const plan = send(
      configOf(
        vs(`  - route: [{ destination: { host: echo } }]
    retries:
      attempts: 3
      perTryTimeout: 2s
      retryOn: gateway-error,connect-failure,refused-stream,reset-before-request
      retryRemoteLocalities: true`),
      ),
      {},
    );
    expect(plan.kind === "forward" && plan.retries).toEqual({
      attempts: 3,
      perTryTimeoutMs: 2000,
      retryOn: ["gateway-error", "connect-failure", "refused-stream", "reset-before-request"],
      retriableStatusCodes: [],
    });
  });

  it("fault abort", () => {
    const config = configOf(
      vs(`  - route: [{ destination: { host: echo } }]
    fault: { abort: { percentage: { value: 100 }, httpStatus: 418 } }`),
    );
    expect(observe(send(config, {}))).toEqual({ status: 418 });
  });

  it("catch all route short circuit the other routes", () => {
    const config = configOf(
      vs(`  - match: [{ uri: { regex: ".*" } }]
    route: [{ destination: { host: echo } }]
    fault: { abort: { percentage: { value: 100 }, httpStatus: 418 } }
  - route: [{ destination: { host: echo } }]`),
    );
    expect(observe(send(config, { path: "/anything" }))).toEqual({ status: 418 });
  });

  it.each([
    ["shifting-50", [50, 25, 25]],
    ["shifting-80", [80, 10, 10]],
  ])("%s: each destination's share of the draws is its weight", (_name, split) => {
    const names = ["echo", "echo-v1", "echo-v2"];
    const config = configOf(
      vs(`  - route:
${names.map((n, i) => `    - { destination: { host: ${n} }, weight: ${split[i]} }`).join("\n")}`),
    );
    const counts = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const backend = observe(send(config, {}, CLIENT, [(i + 0.5) / 100])).backend!;
      counts.set(backend, (counts.get(backend) ?? 0) + 1);
    }
    expect(names.map((n) => counts.get(n) ?? 0)).toEqual(split);
  });

  const withoutHeaders = (match: string) =>
    configOf(
      vs(`  - match: [{ withoutHeaders: { end-user: ${match} } }]
    route: [{ destination: { host: echo } }]
    fault: { abort: { percentage: { value: 100 }, httpStatus: 403 } }
  - route: [{ destination: { host: echo } }]`),
    );
  const status = (plan: ReturnType<typeof send>) => observe(plan).status ?? 200;
  it.each([
    ["without headers: end-user is jason", "{ exact: jason }", { "end-user": "jason" }, 200],
    ["without headers: end-user is not jason", "{ exact: jason }", { "end-user": "not-jason" }, 403],
    ["without headers: do not have end-user header", "{ exact: jason }", {}, 403],
    [
      "without headers regex convert to present_match: have end-user header and value",
      '{ regex: "*" }',
      { "end-user": "jason" },
      200,
    ],
    [
      "without headers regex convert to present_match: have end-user header but value is empty",
      '{ regex: "*" }',
      { "end-user": "" },
      200,
    ],
    ["without headers regex convert to present_match: do not have end-user header", '{ regex: "*" }', {}, 403],
    [
      "without headers regex match any string: have end-user header and value",
      '{ regex: ".*" }',
      { "end-user": "jason" },
      200,
    ],
    [
      "without headers regex match any string: have end-user header but value is empty",
      '{ regex: ".*" }',
      { "end-user": "" },
      200,
    ],
    ["without headers regex match any string: do not have end-user header", '{ regex: ".*" }', {}, 200],
  ])("%s", (_name, match, headers, expected) => {
    expect(status(send(withoutHeaders(match), { path: "/foo", headers }))).toBe(expected);
  });
});

describe(`consistentHashCases (${ISTIO_AT} tests/integration/pilot/common/routing.go)`, () => {
  it("http header: the same header value reaches the same pod", () => {
    const config = configOf(`apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: echo }
spec:
  host: echo
  trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: x-some-header } } }`);
    expect(config.destinations.get(`echo.istio-lessons.svc.cluster.local`)?.trafficPolicy.loadBalancer).toEqual({
      consistentHash: { httpHeaderName: "x-some-header" },
    });
    const pods = ["echo-a", "echo-b", "echo-c"];
    const first = ringHashPick(pods, "some-value");
    for (let i = 0; i < 10; i++) expect(ringHashPick(pods, "some-value")).toBe(first);
  });
});

describe(`TestMirroring (${ISTIO_AT} tests/integration/pilot/mirror_test.go)`, () => {
  const mirrored = (percentage: string) =>
    configOf(
      vs(`  - route: [{ destination: { host: echo-v1 } }]
    mirror: { host: echo-v2 }
${percentage}`),
    );
  const share = (config: ReturnType<typeof configOf>) => {
    let copies = 0;
    for (let i = 0; i < 100; i++) {
      const plan = send(config, {}, CLIENT, [0, (i + 0.5) / 100]);
      if (plan.kind === "forward" && plan.mirrors.length > 0) copies++;
    }
    return copies;
  };
  it.each([
    ["mirror-percent-absent", "", 100],
    ["mirror-50", "    mirrorPercentage: { value: 50 }", 50],
    ["mirror-10", "    mirrorPercentage: { value: 10 }", 10],
    ["mirror-0", "    mirrorPercentage: { value: 0 }", 0],
  ])("%s", (_name, percentage, expected) => {
    expect(share(mirrored(percentage))).toBe(expected);
  });

  it("mirror-external: a copy to a ServiceEntry host keeps the Host", () => {
    const config = configOf(`apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: external }
spec:
  hosts: [external.example.com]
  ports: [{ number: 80, name: http, protocol: HTTP }]
  resolution: DNS
---
${vs(`  - route: [{ destination: { host: echo-v1 } }]
    mirror: { host: external.example.com }`)}`);
    const plan = send(config, {});
    expect(plan.kind === "forward" && plan.mirrors.map((m) => [m.destination.host, m.request.headers.host])).toEqual([
      ["external.example.com", "echo"],
    ]);
  });
});

describe(`TestRetry (${ISTIO_AT} pilot/pkg/networking/core/route/retry/retry_test.go)`, () => {
  const retries = (block: string) => {
    const plan = send(
      configOf(
        vs(`  - route: [{ destination: { host: echo } }]
${block}`),
      ),
      {},
    );
    return plan.kind === "forward" ? plan.retries : undefined;
  };
  const defaults = configOf("").release.defaultRetry;
  it("TestNilRetryShouldReturnDefault", () => {
    expect(retries("")).toEqual(defaults);
  });
  it("TestZeroAttemptsShouldReturnNilPolicy", () => {
    expect(retries("    retries: { attempts: 0 }")?.attempts).toBe(0);
  });
  it("TestRetryWithAllFieldsSet (with real conditions: Istio's validation refuses made-up ones)", () => {
    expect(retries("    retries: { attempts: 2, retryOn: 5xx, perTryTimeout: 3s }")).toEqual({
      attempts: 2,
      retryOn: ["5xx"],
      retriableStatusCodes: [],
      perTryTimeoutMs: 3000,
    });
  });
  it("TestRetryOnWithEmptyParts", () => {
    expect(retries('    retries: { attempts: 2, retryOn: "5xx,reset,,," }')?.retryOn).toEqual(["5xx", "reset"]);
  });
  it("TestRetryOnWithRetriableStatusCodes", () => {
    expect(retries('    retries: { attempts: 2, retryOn: "gateway-error,retriable-status-codes,503" }')).toMatchObject({
      retryOn: ["gateway-error", "retriable-status-codes"],
      retriableStatusCodes: [503],
    });
  });
  it("TestRetryOnWithResetBeforeRequest", () => {
    expect(retries("    retries: { attempts: 2, retryOn: reset-before-request }")?.retryOn).toEqual([
      "reset-before-request",
    ]);
  });
  it("TestRetryOnWithWhitespace", () => {
    expect(retries('    retries: { attempts: 2, retryOn: " 5xx,\t,reset ,\tconnect-failure, ," }')?.retryOn).toEqual([
      "5xx",
      "reset",
      "connect-failure",
    ]);
  });
  it("TestRetryOnContainingStatusCodes", () => {
    expect(retries('    retries: { attempts: 2, retryOn: "reset,5xx,404,connect-failure,503" }')).toMatchObject({
      retryOn: ["reset", "5xx", "connect-failure", "retriable-status-codes"],
      retriableStatusCodes: [404, 503],
    });
  });
  it("TestMissingRetryOnShouldReturnDefaults", () => {
    expect(retries("    retries: { attempts: 2 }")).toEqual({ ...defaults, attempts: 2 });
  });
});
