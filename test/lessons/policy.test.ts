// The per-request decisions of the preview's proxies, one table per decision.
import { describe, expect, it } from "vitest";
import type { RetryPolicy } from "#lessons/mesh/model.ts";
import {
  applies,
  healthyEndpoints,
  isRetriable,
  OutlierDetector,
  pickDestination,
  pickEndpoint,
  retryBackoffMs,
  ringHashPick,
  shadowHost,
  shouldRetry,
  untried,
  type AttemptOutcome,
} from "#lessons/mesh/policy.ts";
import { RELEASES } from "#lessons/mesh/releases.ts";

describe("[weights-relative] pickDestination", () => {
  const split = [
    { destination: { host: "flaskapp", subset: "v1" }, weight: 70 },
    { destination: { host: "flaskapp", subset: "v2" }, weight: 30 },
  ];
  const cases: Array<[number, string]> = [
    [0, "v1"],
    [0.6999, "v1"],
    [0.7, "v2"],
    [0.9999, "v2"],
  ];
  it.each(cases)("random %s picks %s", (random, subset) => {
    expect(pickDestination(split, random).destination.subset).toBe(subset);
  });
  it("never picks a destination of weight 0", () => {
    const zero = [
      { destination: { host: "a" }, weight: 0 },
      { destination: { host: "b" }, weight: 100 },
    ];
    expect([0, 0.5, 0.99].map((r) => pickDestination(zero, r).destination.host)).toEqual(["b", "b", "b"]);
  });
});

describe("[retry-hosts] [readiness] healthyEndpoints and untried", () => {
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
    expect(untried(healthyEndpoints(pods, selector, isEjected), new Set(tried)).map((p) => p.id)).toEqual(expected);
  });
});

describe("[fault-abort] [fault-delay] [mirror] applies (percentage)", () => {
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

describe("[lb-simple] [default-lb] pickEndpoint", () => {
  const candidates = [
    { id: "a", active: 3 },
    { id: "b", active: 0 },
    { id: "c", active: 1 },
  ];
  const sequence =
    (...values: number[]) =>
    () =>
      values.shift()!;
  it("round robin follows the cursor", () => {
    expect(
      [0, 1, 2, 3, 4].map((cursor) => pickEndpoint({ simple: "ROUND_ROBIN" }, candidates, cursor, Math.random)),
    ).toEqual([0, 1, 2, 0, 1]);
  });
  it("random uses the random number", () => {
    expect(pickEndpoint({ simple: "RANDOM" }, candidates, 0, sequence(0.7))).toBe(2);
  });
  it("least request takes the less busy of two random choices", () => {
    expect(pickEndpoint({ simple: "LEAST_REQUEST" }, candidates, 0, sequence(0, 0.4))).toBe(1);
    expect(pickEndpoint({ simple: "LEAST_REQUEST" }, candidates, 0, sequence(0.4, 0))).toBe(1);
    expect(pickEndpoint({ simple: "LEAST_REQUEST" }, candidates, 0, sequence(0.7, 0))).toBe(2);
  });
});

describe("[retry-on] retry decision", () => {
  const policy = (retryOn: string[], codes: number[] = []): RetryPolicy => ({
    attempts: 3,
    retryOn,
    retriableStatusCodes: codes,
  });
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
    ["gateway-error retries a connect failure", policy(["gateway-error"]), { kind: "connect-failure" }, true],
    ["reset retries a reset", policy(["reset"]), { kind: "reset" }, true],
    [
      "an overflow is never retried",
      policy(["5xx", "gateway-error", "reset", "connect-failure"]),
      { kind: "overflow" },
      false,
    ],
  ];
  it.each(cases)("%s", (_name, p, outcome, expected) => {
    expect(isRetriable(p, outcome)).toBe(expected);
  });

  it("[retry-attempts] attempts counts retries after the first try: attempts 3 means 4 tries", () => {
    const p = policy(["5xx"]);
    expect([1, 2, 3, 4].map((tried) => shouldRetry(p, tried, status(503)))).toEqual([true, true, true, false]);
  });

  it("[retry-backoff] back-off grows and stays within Envoy's 250ms ceiling", () => {
    expect([1, 2, 3, 4, 5].map((retry) => retryBackoffMs(retry, 0.999))).toEqual([24, 74, 174, 249, 249]);
    expect(retryBackoffMs(3, 0)).toBe(0);
  });
});

describe("[outlier-detection] OutlierDetector", () => {
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

  it.each([
    ["the default 10% with 2 endpoints ejects none", 10, 2, [false, false]],
    ["50% with 2 endpoints ejects one", 50, 2, [true, false]],
    ["34% with 3 endpoints ejects one", 34, 3, [true, false]],
    ["33% with 3 endpoints ejects none", 33, 3, [false, false]],
    ["100% ejects all", 100, 2, [true, true]],
  ] as const)("maxEjectionPercent counts the ejection itself, none exempt: %s", (_name, max, size, expected) => {
    const d = new OutlierDetector({ ...config, consecutive5xxErrors: 1, maxEjectionPercent: max });
    expect([d.record("a", true, 0, size), d.record("b", true, 0, size)]).toEqual(expected);
  });

  it("consecutive5xxErrors 0 turns ejection off", () => {
    const d = new OutlierDetector({ ...config, consecutive5xxErrors: 0 });
    for (let i = 0; i < 5; i++) d.record("a", true, i, 1);
    expect(d.isEjected("a", 5)).toBe(false);
  });
});

describe("[mirror] shadow host", () => {
  const cases: Array<[string, string]> = [
    ["flaskapp", "flaskapp-shadow"],
    ["flaskapp:80", "flaskapp-shadow:80"],
    ["127.0.0.1:40000", "127.0.0.1-shadow:40000"],
  ];
  it.each(cases)("%s -> %s", (host, shadow) => {
    expect(shadowHost(host)).toBe(shadow);
  });
});

describe("[lb-consistent-hash] consistent hash (ring)", () => {
  const ids = ["pod-a", "pod-b", "pod-c", "pod-d"];
  it("the same key always reaches the same host", () => {
    const first = ringHashPick(ids, "alice");
    for (let i = 0; i < 20; i++) expect(ringHashPick(ids, "alice")).toBe(first);
  });
  it("different keys spread over the hosts", () => {
    const hit = new Set(Array.from({ length: 200 }, (_, i) => ringHashPick(ids, `user-${i}`)));
    expect(hit.size).toBe(4);
  });
  it("removing a host moves only the keys it owned", () => {
    const keys = Array.from({ length: 200 }, (_, i) => `user-${i}`);
    const before = keys.map((k) => ids[ringHashPick(ids, k)]);
    const without = ids.filter((id) => id !== "pod-b");
    const after = keys.map((k) => without[ringHashPick(without, k)]);
    keys.forEach((_, i) => {
      if (before[i] !== "pod-b") expect(after[i]).toBe(before[i]);
    });
  });
  it("pickEndpoint hashes the header value, and picks at random without one", () => {
    const candidates = ids.map((id) => ({ id, active: 0 }));
    const lb = { consistentHash: { httpHeaderName: "x-user" } };
    expect(pickEndpoint(lb, candidates, 0, () => 0.99, "alice")).toBe(ringHashPick(ids, "alice"));
    expect(pickEndpoint(lb, candidates, 0, () => 0.99, undefined)).toBe(3);
  });
});

describe("[default-retry] default retry policy per release", () => {
  it.each(RELEASES.map((r) => [r.version, r] as const))(
    "Istio %s: retries connect failures, not a 500",
    (_v, release) => {
      expect(isRetriable(release.defaultRetry, { kind: "connect-failure" })).toBe(true);
      expect(isRetriable(release.defaultRetry, { kind: "response", status: 500 })).toBe(false);
    },
  );
});
