// A proxy of the preview (the sleep client's sidecar) against small real
// upstream servers on 127.0.0.1: each behaviour the lessons rely on, observed
// from both sides of the proxy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Agent, Pool, request } from "undici";
import { afterEach, describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { meshConfig } from "#lessons/mesh/config.ts";
import { Endpoints } from "#lessons/mesh/endpoints.ts";
import {
  explainDecisions,
  FAULT_ABORT_BODY,
  MeshProxy,
  NO_HEALTHY_UPSTREAM_BODY,
  OVERFLOW_BODY,
  TIMEOUT_BODY,
  type Decision,
} from "#lessons/mesh/proxy.ts";
import { NEWEST_RELEASE, OLDEST_RELEASE, type IstioRelease } from "#lessons/mesh/releases.ts";

interface Seen {
  path: string;
  host: string | undefined;
  headers: IncomingMessage["headers"];
  body: string;
}

interface Upstream {
  url: string;
  seen: Seen[];
  server: Server;
}

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

/** An upstream "pod": answers /readyz with `ready`, everything else with `handler` (default: its name). */
async function upstream(name: string, handler?: Handler, ready = 200): Promise<Upstream> {
  const seen: Seen[] = [];
  const server = createServer(async (req, res) => {
    if (req.url === "/readyz") return void res.writeHead(ready).end();
    let body = "";
    for await (const chunk of req) body += chunk;
    seen.push({ path: req.url ?? "", host: req.headers.host, headers: req.headers, body });
    if (handler) handler(req, res, seen.length);
    else res.end(name);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const NS = "istio-lessons";
const SERVICE: K8sObject = {
  apiVersion: "v1",
  kind: "Service",
  metadata: { name: "flaskapp", namespace: NS },
  spec: { selector: { app: "flaskapp" }, ports: [{ port: 80 }] },
};
const SUBSETS = [
  { name: "v1", labels: { version: "v1" } },
  { name: "v2", labels: { version: "v2" } },
];
const dr = (spec: Record<string, unknown> = {}): K8sObject => ({
  apiVersion: "networking.istio.io/v1",
  kind: "DestinationRule",
  metadata: { name: "flaskapp", namespace: NS },
  spec: { host: "flaskapp", subsets: SUBSETS, ...spec },
});
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

interface Proxy {
  url: string;
  endpoints: Endpoints;
  decisions: Decision[];
}

interface ProxyOptions {
  role?: ConstructorParameters<typeof MeshProxy>[0]["role"];
  /** The host the listener stands for (default: the Service flaskapp). */
  bound?: string;
  random?: () => number;
  readinessIntervalMs?: number;
  release?: IstioRelease;
  maxBodyBytes?: number;
  outsideUrl?: string;
}

/** Starts the sleep client's sidecar over `pods` (upstream + version label) with `rules`, listening for the Service flaskapp, and waits until every ready pod is. */
async function proxy(rules: K8sObject[], pods: Array<[Upstream, string]>, options: ProxyOptions = {}): Promise<Proxy> {
  const endpoints = new Endpoints(options.readinessIntervalMs ?? 20);
  const decisions: Decision[] = [];
  const p = new MeshProxy({
    name: "sleep",
    config: meshConfig([SERVICE, ...rules], options.release ?? NEWEST_RELEASE),
    role: options.role ?? { kind: "sidecar", namespace: NS, labels: { app: "sleep" } },
    serviceAccount: "sleep",
    endpoints,
    onDecision: (d) => decisions.push(d),
    ...(options.random ? { random: options.random } : {}),
    ...(options.maxBodyBytes ? { maxBodyBytes: options.maxBodyBytes } : {}),
    ...(options.outsideUrl ? { outsideUrl: options.outsideUrl } : {}),
  });
  const url = await p.listen(options.bound ?? "flaskapp");
  cleanups.push(async () => {
    endpoints.close();
    await p.close();
  });
  for (const [i, [u, version]] of pods.entries())
    endpoints.add(
      {
        id: `pod-${i}`,
        url: u.url,
        labels: { app: "flaskapp", version },
        namespace: NS,
        serviceAccount: "flaskapp",
        sidecar: true,
      },
      true,
    );
  await Promise.all(
    pods.map(async ([u], i) =>
      (await fetch(`${u.url}/readyz`)).status === 200 ? endpoints.waitReady(`pod-${i}`, 5000) : undefined,
    ),
  );
  return { url, endpoints, decisions };
}

async function get(p: Proxy, path: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  const res = await fetch(`${p.url}${path}`, { headers, ...init });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** A random source that returns these values in turn. */
const cycle = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length]!;
};

describe("routing", () => {
  it("[match] sends a header match to its subset and everything else to the catch-all", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const p = await proxy(
      [dr(), vs({ match: [{ headers: { lab: { exact: "canary" } } }], route: [to("v2")] }, { route: [to("v1")] })],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
    );
    expect((await get(p, "/env/version", { lab: "canary" })).body).toBe("v2");
    expect((await get(p, "/env/version", { lab: "phoenix" })).body).toBe("v1");
    expect((await get(p, "/env/version")).body).toBe("v1");
  });

  it("[weights-relative] splits by weight using its random source", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const p = await proxy(
      [dr(), vs({ route: [to("v1", 70), to("v2", 30)] })],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
      { random: cycle(0.1, 0, 0.69, 0, 0.7, 0, 0.95, 0) },
    );
    const bodies = [];
    for (let n = 0; n < 4; n++) bodies.push((await get(p, "/")).body);
    expect(bodies).toEqual(["v1", "v1", "v2", "v2"]);
  });

  it("[weights-relative] weights are relative: 1 and 3 send a quarter and three quarters", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const p = await proxy(
      [dr(), vs({ route: [to("v1", 1), to("v2", 3)] })],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
      { random: cycle(0.2, 0, 0.3, 0, 0.6, 0, 0.9, 0) },
    );
    const bodies = [];
    for (let n = 0; n < 4; n++) bodies.push((await get(p, "/")).body);
    expect(bodies).toEqual(["v1", "v2", "v2", "v2"]);
  });

  it("[default-lb] no rules: Istio's default LEAST_REQUEST, which with idle pods is a coin flip per request (two random picks)", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    // Per request: the route's one destination, then the two picks of least-request.
    const p = await proxy(
      [],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
      { random: cycle(0, 0.1, 0.1, 0, 0.9, 0.9, 0, 0.1, 0.9) },
    );
    const bodies = [];
    for (let n = 0; n < 3; n++) bodies.push((await get(p, "/")).body);
    expect(bodies).toEqual(["v1", "v2", "v1"]);
  });

  it("[match] answers 404 when no route matches", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([dr(), vs({ match: [{ uri: { exact: "/only" } }], route: [to("v1")] })], [[v1, "v1"]]);
    expect((await get(p, "/other")).status).toBe(404);
    expect(v1.seen).toHaveLength(0);
  });

  it("[app-request-headers] forwards method, body, path and the Service's Host, and adds x-request-id", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([], [[v1, "v1"]]);
    await get(p, "/post?q=1", {}, { method: "POST", body: "hello" });
    expect(v1.seen[0]).toMatchObject({ path: "/post?q=1", body: "hello", host: "flaskapp" });
    expect(v1.seen[0]!.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a Host header the client sets is kept", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([], [[v1, "v1"]]);
    const res = await request(`${p.url}/`, { headers: { host: "flaskapp" } });
    expect(res.statusCode).toBe(200);
    await res.body.dump();
    expect(v1.seen[0]!.host).toBe("flaskapp");
  });
});

describe("request body limit", () => {
  it("buffers bodies up to maxBodyBytes (kept for retries and mirrors) and answers 413 above", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([], [[v1, "v1"]], { maxBodyBytes: 10 });
    expect((await get(p, "/", {}, { method: "POST", body: "0123456789" })).status).toBe(200);
    const over = await get(p, "/", {}, { method: "POST", body: "0123456789x" });
    expect(over.status).toBe(413);
    expect(over.body).toContain("request body over 10 bytes");
    expect(v1.seen.map((s) => s.body)).toEqual(["0123456789"]);
  });
});

describe("[readiness] [no-healthy-upstream] readiness", () => {
  it("routes only to ready endpoints, and answers 503 no healthy upstream when none is", async () => {
    const ready = await upstream("ready");
    const notReady = await upstream("not-ready", undefined, 503);
    const p = await proxy(
      [],
      [
        [ready, "v1"],
        [notReady, "v2"],
      ],
    );
    for (let n = 0; n < 4; n++) expect((await get(p, "/")).body).toBe("ready");
    expect(notReady.seen).toHaveLength(0);
    expect(p.endpoints.readyIds()).toEqual(["pod-0"]);

    const lonely = await proxy([], [[notReady, "v1"]]);
    expect(await get(lonely, "/")).toMatchObject({ status: 503, body: NO_HEALTHY_UPSTREAM_BODY });
  });
});

describe("[fault-abort] faults", () => {
  it("abort answers with the status and Envoy's body without reaching the upstream", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], fault: { abort: { httpStatus: 500, percentage: { value: 100 } } } })],
      [[v1, "v1"]],
    );
    expect(await get(p, "/")).toMatchObject({ status: 500, body: FAULT_ABORT_BODY });
    expect(v1.seen).toHaveLength(0);
  });

  it("abort applies to the given percentage only", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], fault: { abort: { httpStatus: 503, percentage: { value: 50 } } } })],
      [[v1, "v1"]],
      { random: cycle(0.2, 0.8) },
    );
    expect((await get(p, "/")).status).toBe(503);
    expect((await get(p, "/")).status).toBe(200);
  });
});

describe("timeouts and retries", () => {
  it("[route-timeout] route timeout: 504 upstream request timeout", async () => {
    const slow = await upstream("slow", (_req, res) => void setTimeout(() => res.end("late"), 2000));
    const p = await proxy([dr(), vs({ route: [to("v1")], timeout: "100ms" })], [[slow, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 504, body: TIMEOUT_BODY });
  });

  it("[route-timeout] the route timeout runs to the end of the response: a body still streaming when it fires is cut", async () => {
    const trickle = await upstream("trickle", (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first part ");
      setTimeout(() => res.end("too late"), 2000);
    });
    const p = await proxy([dr(), vs({ route: [to("v1")], timeout: "300ms" })], [[trickle, "v1"]]);
    const res = await fetch(`${p.url}/`);
    expect(res.status).toBe(200);
    await expect(res.text()).rejects.toThrow();
  });

  it("[retry-attempts] attempts 3 on 5xx: the upstream is tried 4 times, then its 503 reaches the client", async () => {
    const failing = await upstream("failing", (_req, res) => void res.writeHead(503).end("down"));
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "5xx" } })],
      [[failing, "v1"]],
    );
    expect(await get(p, "/")).toMatchObject({ status: 503, body: "down" });
    expect(failing.seen).toHaveLength(4);
  });

  it("retries stop at the first success", async () => {
    const flaky = await upstream("flaky", (_req, res, n) => void (n < 3 ? res.writeHead(500).end() : res.end("ok")));
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "5xx" } })], [[flaky, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 200, body: "ok" });
    expect(flaky.seen).toHaveLength(3);
  });

  it("[retry-on] retryOn connect-failure does not retry a 503 answer", async () => {
    const failing = await upstream("failing", (_req, res) => void res.writeHead(503).end());
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "connect-failure" } })],
      [[failing, "v1"]],
    );
    expect((await get(p, "/")).status).toBe(503);
    expect(failing.seen).toHaveLength(1);
  });

  it.each([OLDEST_RELEASE, NEWEST_RELEASE].map((r) => [r.version, r] as const))(
    "[default-retry] Istio %s's default policy (no retries field): a 503 or a 500 answer is not retried",
    async (_v, release) => {
      const unavailable = await upstream("unavailable", (_req, res) => void res.writeHead(503).end());
      const broken = await upstream("broken", (_req, res) => void res.writeHead(500).end());
      expect((await get(await proxy([], [[unavailable, "v1"]], { release }), "/")).status).toBe(503);
      expect((await get(await proxy([], [[broken, "v1"]], { release }), "/")).status).toBe(500);
      expect(unavailable.seen).toHaveLength(1);
      expect(broken.seen).toHaveLength(1);
    },
  );

  it("[default-retry] [retry-hosts] the default policy retries a refused connection twice, on another pod when there is one", async () => {
    const gone = await upstream("gone");
    const good = await upstream("good");
    const p = await proxy(
      [],
      [
        [gone, "v1"],
        [good, "v2"],
      ],
      { readinessIntervalMs: 60_000, random: cycle(0.1, 0.1) },
    );
    await new Promise((resolve) => gone.server.close(resolve));
    expect(await get(p, "/")).toMatchObject({ status: 200, body: "good" });
    expect(p.decisions.at(-1)!.notes).toContain("2 tries");
  });

  it("[per-try-timeout] perTryTimeout abandons a hung try and the retry succeeds; the body is sent again", async () => {
    const hangsOnce = await upstream("hangs", (_req, res, n) => void (n === 1 ? undefined : res.end(`ok ${n}`)));
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], retries: { attempts: 2, perTryTimeout: "500ms", retryOn: "gateway-error" } })],
      [[hangsOnce, "v1"]],
    );
    expect(await get(p, "/", {}, { method: "PUT", body: "payload" })).toMatchObject({ status: 200, body: "ok 2" });
    expect(hangsOnce.seen.map((s) => s.body)).toEqual(["payload", "payload"]);
  });

  it("[retry-hosts] a retry goes to another endpoint when there is one", async () => {
    const bad = await upstream("bad", (_req, res) => void res.writeHead(503).end());
    const good = await upstream("good");
    // Per request: the destination, least-request's two picks (both the bad pod), the back-off, the retry's pick.
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], retries: { attempts: 1, retryOn: "5xx" } })],
      [
        [bad, "v1"],
        [good, "v1"],
      ],
      { random: cycle(0, 0.1, 0.1, 0, 0) },
    );
    for (let n = 0; n < 4; n++) expect((await get(p, "/")).body).toBe("good");
    expect(good.seen).toHaveLength(4);
    expect(bad.seen).toHaveLength(4);
  });

  it("[retry-hosts] under consistent hashing, the default route (no VirtualService) still retries on another pod; a VirtualService's route may retry the same one", async () => {
    const hashed = dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } } });
    const users = Array.from({ length: 12 }, (_, i) => `user-${i}`);
    const statuses = async (objects: K8sObject[]) => {
      const gone = await upstream("gone");
      const good = await upstream("good");
      const p = await proxy(
        objects,
        [
          [gone, "v1"],
          [good, "v2"],
        ],
        { readinessIntervalMs: 60_000 },
      );
      await new Promise((resolve) => gone.server.close(resolve));
      const out: number[] = [];
      for (const user of users) out.push((await get(p, "/", { "x-user": user })).status);
      return out;
    };
    // The session-affinity lesson's shape: a DestinationRule, no VirtualService. The users whose hash
    // lands on the closed pod get their retry elsewhere (previous_hosts is kept).
    expect(await statuses([hashed])).toEqual(users.map(() => 200));
    // With a VirtualService (same default retry policy), the retries follow the hash back to the closed pod.
    const viaVs = await statuses([hashed, vs({ route: [{ destination: { host: "flaskapp" } }] })]);
    expect(viaVs).toContain(503);
    expect(viaVs).toContain(200);
  });

  it("a refused connection is a connect-failure: retried, then 503", async () => {
    const gone = await upstream("gone");
    // Readiness polled once a minute: the endpoint stays listed after its server closes, as between two kubelet probes.
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], retries: { attempts: 2, retryOn: "connect-failure" } })],
      [[gone, "v1"]],
      { readinessIntervalMs: 60_000 },
    );
    await new Promise((resolve) => gone.server.close(resolve));
    const res = await get(p, "/");
    expect(res.status).toBe(503);
    expect(res.body).toMatch(/reset reason: connection failure/);
  });
});

describe("[circuit-breaker] circuit breaking", () => {
  it("maxConnections 1, http1MaxPendingRequests 1: with two worker threads, two requests run, one waits, the fourth overflows", async () => {
    const held: ServerResponse[] = [];
    const holding = await upstream("held", (_req, res) => void held.push(res));
    const p = await proxy(
      [dr({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } } } })],
      [[holding, "v1"]],
    );
    // One client connection per request: the sidecar spreads them over its two workers.
    const agent = new Agent({ connections: 4 });
    cleanups.push(() => agent.close());
    const send = (path: string) =>
      request(`${p.url}${path}`, { dispatcher: agent }).then(async (r) => ({
        status: r.statusCode,
        body: await r.body.text(),
        overloaded: r.headers["x-envoy-overloaded"],
      }));
    const first = send("/1");
    const second = send("/2");
    await expect.poll(() => held.length).toBe(2);
    let settled = 0;
    const [third, fourth] = [send("/3"), send("/4")].map((r) => r.finally(() => settled++));
    // One of the two waits as the pending request, the other finds the queue full.
    await expect.poll(() => settled).toBe(1);
    expect(held).toHaveLength(2);
    // The waiting request gets a connection when one of its worker's frees up.
    for (const res of held.splice(0)) res.end("done");
    await expect.poll(() => held.length).toBe(1);
    held.shift()!.end("done");
    const results = await Promise.all([first, second, third!, fourth!]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 200, 200, 503]);
    expect(results.find((r) => r.status === 503)).toMatchObject({ body: OVERFLOW_BODY, overloaded: "true" });
    expect(holding.seen).toHaveLength(3);
  });

  it("[outlier-detection] outlier detection ejects an endpoint after consecutive 5xx and sends everything to the other", async () => {
    const broken = await upstream("broken", (_req, res) => void res.writeHead(500).end("broken"));
    const fine = await upstream("fine");
    const p = await proxy(
      [
        dr({
          trafficPolicy: {
            loadBalancer: { simple: "ROUND_ROBIN" },
            outlierDetection: {
              consecutive5xxErrors: 2,
              interval: "1s",
              baseEjectionTime: "3m",
              maxEjectionPercent: 100,
            },
          },
        }),
      ],
      [
        [broken, "v1"],
        [fine, "v2"],
      ],
    );
    const bodies = [];
    for (let n = 0; n < 10; n++) bodies.push((await get(p, "/")).body);
    expect(broken.seen).toHaveLength(2);
    expect(bodies.slice(4)).toEqual(Array(6).fill("fine"));
  });
});

describe("[mirror] mirroring", () => {
  it.each(
    [
      [OLDEST_RELEASE, `flaskapp-shadow`],
      [NEWEST_RELEASE, `flaskapp`],
    ].map(([r, host]) => [(r as IstioRelease).version, r as IstioRelease, host as string] as const),
  )(
    "Istio %s: each request is copied to the mirror subset (Host %s); the client sees only the route's answer",
    async (_v, release, host) => {
      const v1 = await upstream("v1");
      const v2 = await upstream("v2");
      const p = await proxy(
        [dr(), vs({ route: [to("v1")], mirror: { host: "flaskapp", subset: "v2" }, mirrorPercentage: { value: 100 } })],
        [
          [v1, "v1"],
          [v2, "v2"],
        ],
        { release },
      );
      for (let n = 0; n < 5; n++)
        expect(
          await (
            await request(`${p.url}/env/version`, { headers: { host: "flaskapp", "x-request-id": `run-${n}` } })
          ).body.text(),
        ).toBe("v1");
      await expect.poll(() => v2.seen.length).toBe(5);
      expect(new Set(v2.seen.map((s) => s.host))).toEqual(new Set([host]));
      expect(v2.seen.map((s) => s.headers["x-request-id"]).sort()).toEqual([
        "run-0",
        "run-1",
        "run-2",
        "run-3",
        "run-4",
      ]);
    },
  );

  it("a failing mirror never affects the client", async () => {
    const v1 = await upstream("v1");
    const v2 = await upstream("v2", (req) => req.socket.destroy());
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], mirror: { host: "flaskapp", subset: "v2" } })],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
    );
    for (let n = 0; n < 3; n++) expect(await get(p, "/")).toMatchObject({ status: 200, body: "v1" });
  });
});

describe("[fault-delay] fault delay", () => {
  it("holds the share of requests given before routing; the wait does not count in the route timeout", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [
        dr(),
        vs({
          route: [to("v1")],
          timeout: "200ms",
          fault: { delay: { fixedDelay: "400ms", percentage: { value: 100 } } },
        }),
      ],
      [[v1, "v1"]],
    );
    const started = performance.now();
    expect(await get(p, "/")).toMatchObject({ status: 200, body: "v1" });
    expect(performance.now() - started).toBeGreaterThanOrEqual(390);
  });

  it("without a percentage nothing is delayed", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], timeout: "300ms", fault: { delay: { fixedDelay: "5s" } } })],
      [[v1, "v1"]],
    );
    expect(await get(p, "/")).toMatchObject({ status: 200, body: "v1" });
  });
});

describe("[missing-subset] a route to a subset no DestinationRule defines", () => {
  it("answers 503 with an empty body, and the other routes still work", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [dr(), vs({ match: [{ uri: { prefix: "/v3" } }], route: [to("v3")] }, { route: [to("v1")] })],
      [[v1, "v1"]],
    );
    expect(await get(p, "/v3")).toMatchObject({ status: 503, body: "" });
    expect(await get(p, "/")).toMatchObject({ status: 200, body: "v1" });
  });
});

describe("[missing-service] a route to a host no Service names", () => {
  it("answers 503 with an empty body, and the decision names the missing Service, not a DestinationRule", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([dr(), vs({ route: [{ destination: { host: "flaskap", subset: "v1" } }] })], [[v1, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 503, body: "" });
    expect(p.decisions.at(-1)!.notes).toEqual([
      "no Service flaskap.istio-lessons: the destination host names no Service of the mesh",
    ]);
    expect(v1.seen).toEqual([]);
  });
});

describe("[app-request-headers] what the app receives", () => {
  it("x-request-id, x-forwarded-proto, x-envoy-attempt-count per try, x-forwarded-client-cert; no tracing headers", async () => {
    const flaky = await upstream("flaky", (_req, res, n) => void (n === 1 ? res.writeHead(503).end() : res.end("ok")));
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 1, retryOn: "5xx" } })], [[flaky, "v1"]]);
    await get(p, "/");
    const [first, second] = flaky.seen.map((s) => s.headers);
    expect([first!["x-envoy-attempt-count"], second!["x-envoy-attempt-count"]]).toEqual(["1", "2"]);
    expect(second!["x-forwarded-proto"]).toBe("http");
    expect(second!["x-request-id"]).toBe(first!["x-request-id"]);
    expect(second!["x-forwarded-client-cert"]).toMatch(
      /^By=spiffe:\/\/cluster\.local\/ns\/istio-lessons\/sa\/flaskapp;Hash=[0-9a-f]{64};Subject="";URI=spiffe:\/\/cluster\.local\/ns\/istio-lessons\/sa\/sleep$/,
    );
    expect(Object.keys(second!).filter((h) => h.startsWith("x-b3-") || h === "traceparent")).toEqual([]);
  });
});

describe("[client-response-headers] what the client receives", () => {
  it("the app's answer with server: envoy and x-envoy-upstream-service-time", async () => {
    const app = await upstream("app", (_req, res) => void res.writeHead(200, { server: "flaskapp" }).end("hi"));
    const p = await proxy([], [[app, "v1"]]);
    const res = await get(p, "/");
    expect(res.headers.get("server")).toBe("envoy");
    expect(res.headers.get("x-envoy-upstream-service-time")).toMatch(/^\d+$/);
  });
});

describe("[headers] header rules on the way in and out", () => {
  it("route response headers are also on the replies the sidecar makes itself (a fault abort)", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [
        dr(),
        vs({
          route: [to("v1")],
          headers: { response: { set: { "x-lesson": "headers" } } },
          fault: { abort: { httpStatus: 500, percentage: { value: 100 } } },
        }),
      ],
      [[v1, "v1"]],
    );
    const res = await get(p, "/");
    expect(res.status).toBe(500);
    expect(res.headers.get("x-lesson")).toBe("headers");
  });

  it("one destination: its set follows the route's and wins; several: the route's set comes last and wins", async () => {
    const v1 = await upstream("v1");
    const v2 = await upstream("v2");
    const level = (weights: number[]) => ({
      headers: { request: { set: { "x-level": "route" } } },
      route: weights.map((w, i) => ({
        ...to(i === 0 ? "v1" : "v2", w),
        headers: { request: { set: { "x-level": "destination" } } },
      })),
    });
    const one = await proxy([dr(), vs(level([100]))], [[v1, "v1"]]);
    await get(one, "/");
    expect(v1.seen.at(-1)!.headers["x-level"]).toBe("destination");
    const two = await proxy(
      [dr(), vs(level([50, 50]))],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
      { random: cycle(0.1, 0) },
    );
    await get(two, "/");
    expect(v1.seen.at(-1)!.headers["x-level"]).toBe("route");
  });
});

describe("[server-side-pool] the server-side sidecar's connection pool", () => {
  it("three clients, each within its own limits: the pod's one connection is busy, one request waits there, the next overflows as a 503 answer", async () => {
    const held: ServerResponse[] = [];
    const holding = await upstream("held", (_req, res) => void held.push(res));
    const policy = {
      trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } } },
    };
    const first = await proxy([dr(policy)], [[holding, "v1"]]);
    // Two more client sidecars (one worker each) share the first one's endpoints: the same pod.
    const client = async (name: string) => {
      const other = new MeshProxy({
        name,
        config: meshConfig([SERVICE, dr(policy)]),
        role: { kind: "sidecar", namespace: NS, labels: { app: name } },
        serviceAccount: name,
        endpoints: first.endpoints,
        workers: 1,
      });
      cleanups.push(() => other.close());
      return other.listen("flaskapp");
    };
    const [second, third] = [await client("second"), await client("third")];
    const send = (url: string) =>
      request(url).then(async (r) => ({
        status: r.statusCode,
        body: await r.body.text(),
        overloaded: r.headers["x-envoy-overloaded"],
      }));
    const a = send(`${first.url}/a`);
    await expect.poll(() => held.length).toBe(1);
    let settled = false;
    const b = send(`${second}/b`).finally(() => (settled = true));
    const c = await send(`${third}/c`);
    expect(c).toMatchObject({ status: 503, body: OVERFLOW_BODY, overloaded: "true" });
    expect(settled).toBe(false);
    held.shift()!.end("a");
    await expect.poll(() => held.length).toBe(1);
    held.shift()!.end("b");
    expect([(await a).body, (await b).body]).toEqual(["a", "b"]);
  });
});

describe("[lb-consistent-hash] consistent hash on a header", () => {
  it("the same x-user always reaches the same pod", async () => {
    const pods = await Promise.all(["a", "b", "c"].map((n) => upstream(n)));
    const p = await proxy(
      [dr({ trafficPolicy: { loadBalancer: { consistentHash: { httpHeaderName: "x-user" } } } })],
      pods.map((u) => [u, "v1"] as [Upstream, string]),
    );
    const answers = new Set<string>();
    for (let n = 0; n < 10; n++) answers.add((await get(p, "/", { "x-user": "alice" })).body);
    expect(answers.size).toBe(1);
  });
});

describe("[outbound-policy] [service-entry] hosts outside the registry", () => {
  const sidecar = {
    apiVersion: "networking.istio.io/v1",
    kind: "Sidecar",
    metadata: { name: "default", namespace: NS },
    spec: { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } },
  };
  const entry = {
    apiVersion: "networking.istio.io/v1",
    kind: "ServiceEntry",
    metadata: { name: "httpbin", namespace: NS },
    spec: { hosts: ["httpbin.org"], ports: [{ number: 80, name: "http", protocol: "HTTP" }], resolution: "DNS" },
  };
  // As a pod's FETCH_PROXY sends it: the request target in absolute form.
  const absolute = (url: string, target: string) => new Pool(url).request({ method: "GET", path: target });

  it("ALLOW_ANY: an unknown host goes on unchanged (to the outside world's stand-in)", async () => {
    const outside = await upstream("outside");
    const p = await proxy([], [], { outsideUrl: outside.url });
    const res = await absolute(p.url, "http://example.com/get");
    expect(await res.body.text()).toBe("outside");
    expect(outside.seen[0]).toMatchObject({ host: "example.com", path: "/get" });
  });

  it("REGISTRY_ONLY: an unknown host gets 502 with an empty body, a ServiceEntry's host goes through", async () => {
    const outside = await upstream("outside");
    const p = await proxy([sidecar as K8sObject, entry as K8sObject], [], { outsideUrl: outside.url });
    const blocked = await absolute(p.url, "http://example.com/");
    expect([blocked.statusCode, await blocked.body.text()]).toEqual([502, ""]);
    const allowed = await absolute(p.url, "http://httpbin.org/get");
    expect([allowed.statusCode, await allowed.body.text()]).toEqual([200, "outside"]);
    expect(outside.seen.map((s) => s.host)).toEqual(["httpbin.org"]);
  });
});

describe("[gateway] the ingress gateway", () => {
  const gw = {
    apiVersion: "networking.istio.io/v1",
    kind: "Gateway",
    metadata: { name: "gw", namespace: NS },
    spec: {
      selector: { istio: "ingressgateway" },
      servers: [{ port: { number: 80, name: "http", protocol: "HTTP" }, hosts: ["flaskapp.example.com"] }],
    },
  };
  const bound = {
    apiVersion: "networking.istio.io/v1",
    kind: "VirtualService",
    metadata: { name: "ingress", namespace: NS },
    spec: {
      hosts: ["flaskapp.example.com"],
      gateways: ["gw"],
      http: [{ route: [{ destination: { host: "flaskapp", subset: "v2" } }] }],
    },
  };
  const role = {
    kind: "gateway" as const,
    namespace: "istio-system",
    labels: { istio: "ingressgateway", app: "istio-ingressgateway" },
    port: 80,
  };

  it("routes a Host a server and a bound VirtualService accept, 404 with an empty body for another", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const p = await proxy(
      [dr(), gw as K8sObject, bound as K8sObject],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
      { role },
    );
    const routed = await request(`${p.url}/env/version`, { headers: { host: "flaskapp.example.com:80" } });
    expect([routed.statusCode, await routed.body.text()]).toEqual([200, "v2"]);
    const unknown = await request(`${p.url}/env/version`, { headers: { host: "other.example.com" } });
    expect([unknown.statusCode, await unknown.body.text()]).toEqual([404, ""]);
  });
});

describe("[redirect] [rewrite] the sidecar's redirect and rewrite", () => {
  it("a redirect is answered by the sidecar; a rewrite reaches the app with the new path", async () => {
    const v1 = await upstream("v1");
    const p = await proxy(
      [
        dr(),
        vs(
          { match: [{ uri: { exact: "/old" } }], redirect: { uri: "/new", redirectCode: 302 } },
          { match: [{ uri: { prefix: "/legacy/" } }], rewrite: { uri: "/env/" }, route: [to("v1")] },
        ),
      ],
      [[v1, "v1"]],
    );
    const moved = await request(`${p.url}/old?x=1`, { headers: { host: "flaskapp" } });
    expect([moved.statusCode, moved.headers.location]).toEqual([302, "http://flaskapp/new?x=1"]);
    await moved.body.dump();
    await get(p, "/legacy/version");
    expect(v1.seen.map((s) => s.path)).toEqual(["/env/version"]);
  });
});

describe("[live-view] what each Decision tells the live view", () => {
  const HOST = `flaskapp.${NS}.svc.cluster.local`;

  it("a routed request: kind route, its host, subset and the endpoint chosen, when, for which path", async () => {
    const v2 = await upstream("v2");
    const p = await proxy([dr(), vs({ route: [to("v2")] })], [[v2, "v2"]]);
    const before = Date.now();
    await get(p, "/env/version");
    expect(p.decisions).toEqual([
      expect.objectContaining({
        proxy: "sleep",
        kind: "route",
        host: HOST,
        subset: "v2",
        path: "/env/version",
        status: 200,
        attempts: [{ endpoint: "pod-0", status: 200 }],
        ejected: [],
      }),
    ]);
    expect(p.decisions[0]!.at).toBeGreaterThanOrEqual(before);
  });

  it("retries: every try, in order, with its status", async () => {
    const failing = await upstream("failing", (_req, res) => void res.writeHead(503).end("down"));
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "5xx" } })],
      [[failing, "v1"]],
    );
    await get(p, "/");
    expect(p.decisions[0]!.attempts).toEqual(Array(4).fill({ endpoint: "pod-0", status: 503 }));
  });

  it("an ejection: the endpoint and when its ejection ends", async () => {
    const broken = await upstream("broken", (_req, res) => void res.writeHead(500).end("broken"));
    const p = await proxy(
      [
        dr({
          trafficPolicy: {
            outlierDetection: {
              consecutive5xxErrors: 2,
              interval: "1s",
              baseEjectionTime: "30s",
              maxEjectionPercent: 100,
            },
          },
        }),
      ],
      [[broken, "v1"]],
    );
    await get(p, "/");
    const before = Date.now();
    await get(p, "/");
    expect(p.decisions.map((d) => d.ejected.length)).toEqual([0, 1]);
    expect(p.decisions[1]!.ejected[0]!.endpoint).toBe("pod-0");
    expect(p.decisions[1]!.ejected[0]!.until).toBeGreaterThanOrEqual(before + 30_000);
  });

  it("a mirrored copy is a decision of its own, kind mirror, with the mirror's endpoint and answer", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2", (_req, res) => void res.writeHead(201).end())];
    const p = await proxy(
      [dr(), vs({ route: [to("v1")], mirror: { host: "flaskapp", subset: "v2" } })],
      [
        [v1, "v1"],
        [v2, "v2"],
      ],
    );
    await get(p, "/");
    await expect.poll(() => p.decisions.length).toBe(2);
    expect(p.decisions.find((d) => d.kind === "mirror")).toMatchObject({
      subset: "v2",
      status: 201,
      attempts: [{ endpoint: "pod-1", status: 201 }],
    });
    expect(p.decisions.find((d) => d.kind === "route")).toMatchObject({
      subset: "v1",
      attempts: [{ endpoint: "pod-0", status: 200 }],
    });
    // The explanation beside a check counts requests: the copy is a note of its route's decision, not a line of its own.
    expect(explainDecisions(p.decisions)).toBe(
      "what the mesh preview's proxies decided:\n  1  sleep: VirtualService flaskapp http[0] → flaskapp subset v1 (mirrored to flaskapp subset v2 (Host flaskapp)) → 200\n",
    );
  });

  it("the proxy's own replies: a fault abort is kind fault, no healthy upstream and REGISTRY_ONLY's 502 are kind local", async () => {
    const v1 = await upstream("v1");
    const faulty = await proxy(
      [dr(), vs({ route: [to("v1")], fault: { abort: { httpStatus: 500, percentage: { value: 100 } } } })],
      [[v1, "v1"]],
    );
    await get(faulty, "/");
    expect(faulty.decisions[0]).toMatchObject({ kind: "fault", status: 500, host: HOST, attempts: [] });
    const unready = await upstream("unready", undefined, 503);
    const empty = await proxy([], [[unready, "v1"]]);
    await get(empty, "/");
    expect(empty.decisions[0]).toMatchObject({ kind: "local", status: 503, host: HOST });
    const sidecar = {
      apiVersion: "networking.istio.io/v1",
      kind: "Sidecar",
      metadata: { name: "default", namespace: NS },
      spec: { outboundTrafficPolicy: { mode: "REGISTRY_ONLY" } },
    };
    const closed = await proxy([sidecar as K8sObject], []);
    await new Pool(closed.url).request({ method: "GET", path: "http://example.com/" }).then((r) => r.body.dump());
    expect(closed.decisions[0]).toMatchObject({ kind: "local", status: 502, host: "example.com" });
  });
});
