// The mesh preview's routing decisions, one table per decision.
import { describe, expect, it } from "vitest";
import {
  applies,
  isRetriable,
  isShadowHost,
  labelsMatch,
  matchRequest,
  matchString,
  OutlierDetector,
  pickEndpoint,
  pickWeighted,
  retryBackoffMs,
  selectCandidates,
  selectRoute,
  shadowHost,
  shouldRetry,
  type AttemptOutcome,
  type RequestInfo,
} from "../../lessons/src/mesh/policy.ts";
import { DEFAULT_RETRIES, type HttpRoute, type RequestMatch, type RetryPolicy, type StringMatch } from "../../lessons/src/mesh/rules.ts";

const request = (path: string, headers: Record<string, string> = {}, method = "GET"): RequestInfo => ({ path, method, headers });

describe("matchString", () => {
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

describe("matchRequest", () => {
  const cases: Array<[string, RequestMatch, RequestInfo, boolean]> = [
    ["empty match applies to everything", { headers: {} }, request("/x"), true],
    ["exact uri ignores the query", { uri: { exact: "/env/version" }, headers: {} }, request("/env/version?a=1"), true],
    ["exact uri differs", { uri: { exact: "/env/version" }, headers: {} }, request("/env/versions"), false],
    ["prefix uri sees the query", { uri: { prefix: "/env/version?a" }, headers: {} }, request("/env/version?a=1"), true],
    ["regex uri ignores the query", { uri: { regex: /^(?:\/delay\/\d+)$/ }, headers: {} }, request("/delay/2?x"), true],
    ["method", { method: { exact: "POST" }, headers: {} }, request("/", {}, "GET"), false],
    ["header and uri both needed", { uri: { prefix: "/env" }, headers: { lab: { exact: "canary" } } }, request("/env/version", { lab: "canary" }), true],
    ["header and uri: header missing", { uri: { prefix: "/env" }, headers: { lab: { exact: "canary" } } }, request("/env/version"), false],
    ["header with another value", { headers: { lab: { exact: "canary" } } }, request("/", { lab: "phoenix" }), false],
  ];
  it.each(cases)("%s", (_name, match, req, expected) => {
    expect(matchRequest(match, req)).toBe(expected);
  });
});

describe("selectRoute", () => {
  const route = (name: string, match: RequestMatch[]): HttpRoute => ({ name, match, route: [], retries: DEFAULT_RETRIES });
  const canary = route("canary", [{ headers: { lab: { exact: "canary" } } }, { uri: { prefix: "/canary" }, headers: {} }]);
  const rest = route("rest", []);
  const cases: Array<[string, HttpRoute[], RequestInfo, string | undefined]> = [
    ["first matching route wins", [canary, rest], request("/", { lab: "canary" }), "canary"],
    ["match list is OR: second condition", [canary, rest], request("/canary/x"), "canary"],
    ["falls through to the catch-all", [canary, rest], request("/", { lab: "phoenix" }), "rest"],
    ["no route matches", [canary], request("/"), undefined],
    ["catch-all first shadows the rest", [rest, canary], request("/", { lab: "canary" }), "rest"],
  ];
  it.each(cases)("%s", (_name, routes, req, expected) => {
    expect(selectRoute(routes, req)?.name).toBe(expected);
  });
});

describe("pickWeighted", () => {
  const split = [
    { destination: { service: "flaskapp", subset: "v1" }, weight: 70 },
    { destination: { service: "flaskapp", subset: "v2" }, weight: 30 },
  ];
  const cases: Array<[number, string]> = [
    [0, "v1"],
    [0.6999, "v1"],
    [0.7, "v2"],
    [0.9999, "v2"],
  ];
  it.each(cases)("random %s picks %s", (random, subset) => {
    expect(pickWeighted(split, random).destination.subset).toBe(subset);
  });
  it("never picks a destination of weight 0", () => {
    const zero = [{ destination: { service: "a" }, weight: 0 }, { destination: { service: "b" }, weight: 100 }];
    expect([0, 0.5, 0.99].map((r) => pickWeighted(zero, r).destination.service)).toEqual(["b", "b", "b"]);
  });
});

describe("labelsMatch", () => {
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

describe("selectCandidates", () => {
  const pods = [
    { id: "v1-a", labels: { app: "flaskapp", version: "v1" }, ready: true },
    { id: "v1-b", labels: { app: "flaskapp", version: "v1" }, ready: false },
    { id: "v2-a", labels: { app: "flaskapp", version: "v2" }, ready: true },
    { id: "v2-b", labels: { app: "flaskapp", version: "v2" }, ready: true },
    { id: "sleep", labels: { app: "sleep", version: "v1" }, ready: true },
  ];
  const none = () => false;
  const cases: Array<[string, Record<string, string>, (id: string) => boolean, string[], string[]]> = [
    ["the Service: ready pods it selects", { app: "flaskapp" }, none, [], ["v1-a", "v2-a", "v2-b"]],
    ["subset v1: an unready pod is left out", { app: "flaskapp", version: "v1" }, none, [], ["v1-a"]],
    ["a subset that selects nothing", { app: "flaskapp", version: "v3" }, none, [], []],
    ["ejected pods are left out", { app: "flaskapp", version: "v2" }, (id) => id === "v2-a", [], ["v2-b"]],
    ["a retry prefers pods not tried yet", { app: "flaskapp", version: "v2" }, none, ["v2-a"], ["v2-b"]],
    ["all tried: any healthy pod", { app: "flaskapp", version: "v1" }, none, ["v1-a"], ["v1-a"]],
  ];
  it.each(cases)("%s", (_name, selector, isEjected, tried, expected) => {
    expect(selectCandidates(pods, selector, isEjected, new Set(tried)).map((p) => p.id)).toEqual(expected);
  });
});

describe("applies (percentage)", () => {
  const cases: Array<[number, number, boolean]> = [
    [50, 0.49, true],
    [50, 0.5, false],
    [100, 0.9999, true],
    [0, 0, false],
    [0.1, 0.0009, true],
  ];
  it.each(cases)("%s%% with random %s: %s", (percent, random, expected) => {
    expect(applies(percent, random)).toBe(expected);
  });
});

describe("pickEndpoint", () => {
  const candidates = [
    { id: "a", active: 3 },
    { id: "b", active: 0 },
    { id: "c", active: 1 },
  ];
  const sequence = (...values: number[]) => () => values.shift()!;
  it("round robin follows the cursor", () => {
    expect([0, 1, 2, 3, 4].map((cursor) => pickEndpoint("ROUND_ROBIN", candidates, cursor, Math.random))).toEqual([0, 1, 2, 0, 1]);
  });
  it("random uses the random number", () => {
    expect(pickEndpoint("RANDOM", candidates, 0, sequence(0.7))).toBe(2);
  });
  it("least request takes the less busy of two random choices", () => {
    expect(pickEndpoint("LEAST_REQUEST", candidates, 0, sequence(0, 0.4))).toBe(1);
    expect(pickEndpoint("LEAST_REQUEST", candidates, 0, sequence(0.4, 0))).toBe(1);
    expect(pickEndpoint("LEAST_REQUEST", candidates, 0, sequence(0.7, 0))).toBe(2);
  });
});

describe("retry decision", () => {
  const policy = (retryOn: string[], codes: number[] = []): RetryPolicy => ({ attempts: 3, retryOn, retriableStatusCodes: codes });
  const status = (s: number): AttemptOutcome => ({ kind: "response", status: s });
  const cases: Array<[string, RetryPolicy, AttemptOutcome, boolean]> = [
    ["5xx retries 503", policy(["5xx"]), status(503), true],
    ["5xx retries 500", policy(["5xx"]), status(500), true],
    ["5xx does not retry 404", policy(["5xx"]), status(404), false],
    ["5xx retries a reset", policy(["5xx"]), { kind: "reset" }, true],
    ["5xx retries a per-try timeout", policy(["5xx"]), { kind: "per-try-timeout" }, true],
    ["gateway-error retries 502", policy(["gateway-error"]), status(502), true],
    ["gateway-error does not retry 500", policy(["gateway-error"]), status(500), false],
    ["gateway-error retries a per-try timeout", policy(["gateway-error"]), { kind: "per-try-timeout" }, true],
    ["connect-failure retries a refused connection", policy(["connect-failure"]), { kind: "connect-failure" }, true],
    ["connect-failure does not retry 503", policy(["connect-failure"]), status(503), false],
    ["connect-failure does not retry a reset", policy(["connect-failure"]), { kind: "reset" }, false],
    ["retriable-status-codes retries a listed code", policy(["retriable-status-codes"], [503]), status(503), true],
    ["retriable-status-codes skips other codes", policy(["retriable-status-codes"], [503]), status(502), false],
    ["Istio's default retries 503", DEFAULT_RETRIES, status(503), true],
    ["Istio's default does not retry 500", DEFAULT_RETRIES, status(500), false],
  ];
  it.each(cases)("%s", (_name, p, outcome, expected) => {
    expect(isRetriable(p, outcome)).toBe(expected);
  });

  it("attempts counts retries after the first try: attempts 3 means 4 tries", () => {
    const p = policy(["5xx"]);
    expect([1, 2, 3, 4].map((tried) => shouldRetry(p, tried, status(503)))).toEqual([true, true, true, false]);
  });

  it("back-off grows and stays within Envoy's 250ms ceiling", () => {
    expect([1, 2, 3, 4, 5].map((retry) => retryBackoffMs(retry, 0.999))).toEqual([24, 74, 174, 249, 249]);
    expect(retryBackoffMs(3, 0)).toBe(0);
  });
});

describe("OutlierDetector", () => {
  const config = { consecutive5xxErrors: 2, intervalMs: 1000, baseEjectionTimeMs: 3000, maxEjectionPercent: 100 };

  it("ejects after consecutive errors, not after interleaved ones", () => {
    const d = new OutlierDetector(config);
    expect(d.record("a", true, 0, 2)).toBe(false);
    expect(d.record("a", false, 10, 2)).toBe(false);
    expect(d.record("a", true, 20, 2)).toBe(false);
    expect(d.record("a", true, 30, 2)).toBe(true);
    expect(d.isEjected("a", 31)).toBe(true);
  });

  it("returns the endpoint at the first interval after the ejection time, longer each time", () => {
    const d = new OutlierDetector({ ...config, intervalMs: 2000 });
    d.record("a", true, 0, 2);
    d.record("a", true, 0, 2);
    expect(d.isEjected("a", 3999)).toBe(true);
    expect(d.isEjected("a", 4000)).toBe(false);
    d.record("a", true, 5000, 2);
    d.record("a", true, 5000, 2);
    expect(d.isEjected("a", 5000 + 5999)).toBe(true);
    expect(d.isEjected("a", 5000 + 6000)).toBe(false);
  });

  it("maxEjectionPercent caps how many endpoints are out, but one may always go", () => {
    const d = new OutlierDetector({ ...config, consecutive5xxErrors: 1, maxEjectionPercent: 10 });
    expect(d.record("a", true, 0, 2)).toBe(true);
    expect(d.record("b", true, 0, 2)).toBe(false);
    expect(d.isEjected("b", 1)).toBe(false);
  });

  it("consecutive5xxErrors 0 turns ejection off", () => {
    const d = new OutlierDetector({ ...config, consecutive5xxErrors: 0 });
    for (let i = 0; i < 5; i++) d.record("a", true, i, 1);
    expect(d.isEjected("a", 5)).toBe(false);
  });
});

describe("shadow host", () => {
  const cases: Array<[string, string]> = [
    ["flaskapp", "flaskapp-shadow"],
    ["flaskapp:80", "flaskapp-shadow:80"],
    ["127.0.0.1:40000", "127.0.0.1-shadow:40000"],
  ];
  it.each(cases)("%s -> %s", (host, shadow) => {
    expect(shadowHost(host)).toBe(shadow);
    expect(isShadowHost(shadow)).toBe(true);
    expect(isShadowHost(host)).toBe(false);
  });
});
