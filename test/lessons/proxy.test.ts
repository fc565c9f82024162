// The routing proxy against small real upstream servers on 127.0.0.1: each
// behaviour the lessons rely on, observed from both sides of the proxy.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import type { K8sObject } from "../../lessons/src/kustomize.ts";
import { FAULT_ABORT_BODY, MeshProxy, NO_HEALTHY_UPSTREAM_BODY, OVERFLOW_BODY, TIMEOUT_BODY } from "../../lessons/src/mesh/proxy.ts";
import { serviceRules } from "../../lessons/src/mesh/rules.ts";

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
const SERVICE: K8sObject = { apiVersion: "v1", kind: "Service", metadata: { name: "flaskapp", namespace: NS }, spec: { selector: { app: "flaskapp" }, ports: [{ port: 80 }] } };
const SUBSETS = [{ name: "v1", labels: { version: "v1" } }, { name: "v2", labels: { version: "v2" } }];
const dr = (spec: Record<string, unknown> = {}): K8sObject => ({ apiVersion: "networking.istio.io/v1", kind: "DestinationRule", metadata: { name: "flaskapp", namespace: NS }, spec: { host: "flaskapp", subsets: SUBSETS, ...spec } });
const vs = (...http: unknown[]): K8sObject => ({ apiVersion: "networking.istio.io/v1", kind: "VirtualService", metadata: { name: "flaskapp", namespace: NS }, spec: { hosts: ["flaskapp"], http } });
const to = (subset: string, weight?: number) => ({ destination: { host: "flaskapp", subset }, ...(weight === undefined ? {} : { weight }) });

/** Starts a proxy over `pods` (upstream + version label) with `rules`, and waits until every pod is ready. */
async function proxy(rules: K8sObject[], pods: Array<[Upstream, string]>, random?: () => number, readinessIntervalMs = 20): Promise<MeshProxy> {
  const p = new MeshProxy({ selector: { app: "flaskapp" }, rules: serviceRules([SERVICE, ...rules], "flaskapp"), readinessIntervalMs, ...(random ? { random } : {}) });
  await p.listen();
  cleanups.push(() => p.close());
  pods.forEach(([u, version], i) => p.addEndpoint({ id: `pod-${i}`, url: u.url, labels: { app: "flaskapp", version } }));
  await Promise.all(pods.map(async ([u], i) => ((await fetch(`${u.url}/readyz`)).status === 200 ? p.waitReady(`pod-${i}`, 5000) : undefined)));
  return p;
}

async function get(p: MeshProxy, path: string, headers: Record<string, string> = {}, init: RequestInit = {}) {
  const res = await fetch(`${p.url}${path}`, { headers, ...init });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe("routing", () => {
  it("sends a header match to its subset and everything else to the catch-all", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const p = await proxy([dr(), vs({ match: [{ headers: { lab: { exact: "canary" } } }], route: [to("v2")] }, { route: [to("v1")] })], [[v1, "v1"], [v2, "v2"]]);
    expect((await get(p, "/env/version", { lab: "canary" })).body).toBe("v2");
    expect((await get(p, "/env/version", { lab: "phoenix" })).body).toBe("v1");
    expect((await get(p, "/env/version")).body).toBe("v1");
  });

  it("splits by weight using its random source", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const randoms = [0.1, 0.69, 0.7, 0.95];
    let i = 0;
    const p = await proxy([dr(), vs({ route: [to("v1", 70), to("v2", 30)] })], [[v1, "v1"], [v2, "v2"]], () => randoms[i++ % randoms.length]!);
    const bodies = [];
    for (let n = 0; n < 4; n++) bodies.push((await get(p, "/")).body);
    expect(bodies).toEqual(["v1", "v1", "v2", "v2"]);
  });

  it("balances round robin over the Service's pods when there are no rules", async () => {
    const [v1, v2] = [await upstream("v1"), await upstream("v2")];
    const p = await proxy([], [[v1, "v1"], [v2, "v2"]]);
    const bodies = [];
    for (let n = 0; n < 6; n++) bodies.push((await get(p, "/")).body);
    expect(bodies.filter((b) => b === "v1")).toHaveLength(3);
    expect(bodies.filter((b) => b === "v2")).toHaveLength(3);
  });

  it("answers 404 when no route matches", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([dr(), vs({ match: [{ uri: { exact: "/only" } }], route: [to("v1")] })], [[v1, "v1"]]);
    expect((await get(p, "/other")).status).toBe(404);
    expect(v1.seen).toHaveLength(0);
  });

  it("forwards method, body, path and Host, and adds x-request-id", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([], [[v1, "v1"]]);
    await get(p, "/post?q=1", {}, { method: "POST", body: "hello" });
    expect(v1.seen[0]).toMatchObject({ path: "/post?q=1", body: "hello", host: new URL(p.url).host });
    expect(v1.seen[0]!.headers["x-request-id"]).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe("request body limit", () => {
  it("buffers bodies up to maxBodyBytes (kept for retries and mirrors) and answers 413 above", async () => {
    const v1 = await upstream("v1");
    const p = new MeshProxy({ selector: { app: "flaskapp" }, rules: serviceRules([SERVICE], "flaskapp"), readinessIntervalMs: 20, maxBodyBytes: 10 });
    await p.listen();
    cleanups.push(() => p.close());
    p.addEndpoint({ id: "pod", url: v1.url, labels: { app: "flaskapp" } });
    await p.waitReady("pod", 5000);
    expect((await get(p, "/", {}, { method: "POST", body: "0123456789" })).status).toBe(200);
    const over = await get(p, "/", {}, { method: "POST", body: "0123456789x" });
    expect(over.status).toBe(413);
    expect(over.body).toContain("request body over 10 bytes");
    expect(v1.seen.map((s) => s.body)).toEqual(["0123456789"]);
  });
});

describe("readiness", () => {
  it("routes only to ready endpoints, and answers 503 no healthy upstream when none is", async () => {
    const ready = await upstream("ready");
    const notReady = await upstream("not-ready", undefined, 503);
    const p = await proxy([], [[ready, "v1"], [notReady, "v2"]]);
    for (let n = 0; n < 4; n++) expect((await get(p, "/")).body).toBe("ready");
    expect(notReady.seen).toHaveLength(0);
    expect(p.readyEndpoints()).toEqual(["pod-0"]);

    const lonely = await proxy([], [[notReady, "v1"]]);
    expect(await get(lonely, "/")).toMatchObject({ status: 503, body: NO_HEALTHY_UPSTREAM_BODY });
  });
});

describe("faults", () => {
  it("abort answers with the status and Envoy's body without reaching the upstream", async () => {
    const v1 = await upstream("v1");
    const p = await proxy([dr(), vs({ route: [to("v1")], fault: { abort: { httpStatus: 500, percentage: { value: 100 } } } })], [[v1, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 500, body: FAULT_ABORT_BODY });
    expect(v1.seen).toHaveLength(0);
  });

  it("abort applies to the given percentage only", async () => {
    const v1 = await upstream("v1");
    const randoms = [0.2, 0.8];
    let i = 0;
    const p = await proxy([dr(), vs({ route: [to("v1")], fault: { abort: { httpStatus: 503, percentage: { value: 50 } } } })], [[v1, "v1"]], () => randoms[i++ % 2]!);
    expect((await get(p, "/")).status).toBe(503);
    expect((await get(p, "/")).status).toBe(200);
  });
});

describe("timeouts and retries", () => {
  it("route timeout: 504 upstream request timeout", async () => {
    const slow = await upstream("slow", (_req, res) => void setTimeout(() => res.end("late"), 2000));
    const p = await proxy([dr(), vs({ route: [to("v1")], timeout: "100ms" })], [[slow, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 504, body: TIMEOUT_BODY });
  });

  it("attempts 3 on 5xx: the upstream is tried 4 times, then its 503 reaches the client", async () => {
    const failing = await upstream("failing", (_req, res) => void res.writeHead(503).end("down"));
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "5xx" } })], [[failing, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 503, body: "down" });
    expect(failing.seen).toHaveLength(4);
  });

  it("retries stop at the first success", async () => {
    const flaky = await upstream("flaky", (_req, res, n) => void (n < 3 ? res.writeHead(500).end() : res.end("ok")));
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "5xx" } })], [[flaky, "v1"]]);
    expect(await get(p, "/")).toMatchObject({ status: 200, body: "ok" });
    expect(flaky.seen).toHaveLength(3);
  });

  it("retryOn connect-failure does not retry a 503 answer", async () => {
    const failing = await upstream("failing", (_req, res) => void res.writeHead(503).end());
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 3, retryOn: "connect-failure" } })], [[failing, "v1"]]);
    expect((await get(p, "/")).status).toBe(503);
    expect(failing.seen).toHaveLength(1);
  });

  it("Istio's default policy (no retries field) retries a 503 twice but not a 500", async () => {
    const unavailable = await upstream("unavailable", (_req, res) => void res.writeHead(503).end());
    const broken = await upstream("broken", (_req, res) => void res.writeHead(500).end());
    await get(await proxy([], [[unavailable, "v1"]]), "/");
    await get(await proxy([], [[broken, "v1"]]), "/");
    expect(unavailable.seen).toHaveLength(3);
    expect(broken.seen).toHaveLength(1);
  });

  it("perTryTimeout abandons a hung try and the retry succeeds; the body is sent again", async () => {
    const hangsOnce = await upstream("hangs", (req, res, n) => void (n === 1 ? undefined : res.end(`ok ${n}`)));
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 2, perTryTimeout: "500ms", retryOn: "gateway-error" } })], [[hangsOnce, "v1"]]);
    expect(await get(p, "/", {}, { method: "PUT", body: "payload" })).toMatchObject({ status: 200, body: "ok 2" });
    expect(hangsOnce.seen.map((s) => s.body)).toEqual(["payload", "payload"]);
  });

  it("a retry goes to another endpoint when there is one", async () => {
    const bad = await upstream("bad", (_req, res) => void res.writeHead(503).end());
    const good = await upstream("good");
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 1, retryOn: "5xx" } })], [[bad, "v1"], [good, "v1"]]);
    for (let n = 0; n < 4; n++) expect((await get(p, "/")).body).toBe("good");
    expect(good.seen).toHaveLength(4);
    expect(bad.seen.length).toBeGreaterThan(0);
  });

  it("a refused connection is a connect-failure: retried, then 503", async () => {
    const gone = await upstream("gone");
    // Readiness polled once a minute: the endpoint stays listed after its server closes, as between two kubelet probes.
    const p = await proxy([dr(), vs({ route: [to("v1")], retries: { attempts: 2, retryOn: "connect-failure" } })], [[gone, "v1"]], undefined, 60_000);
    await new Promise((resolve) => gone.server.close(resolve));
    const res = await get(p, "/");
    expect(res.status).toBe(503);
    expect(res.body).toMatch(/reset reason: connection failure/);
  });
});

describe("circuit breaking", () => {
  it("tcp.maxConnections 1 and http1MaxPendingRequests 1: the third concurrent request overflows with 503", async () => {
    const held: ServerResponse[] = [];
    const holding = await upstream("held", (_req, res) => void held.push(res));
    const p = await proxy([dr({ trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1, maxRequestsPerConnection: 1 } } } })], [[holding, "v1"]]);
    const first = get(p, "/1");
    const second = get(p, "/2");
    await expect.poll(() => held.length).toBe(1);
    const third = await get(p, "/3");
    expect(third).toMatchObject({ status: 503, body: OVERFLOW_BODY });
    expect(third.headers.get("x-envoy-overflow")).toBe("true");
    held.shift()!.end("one");
    await expect.poll(() => held.length).toBe(1);
    held.shift()!.end("two");
    expect([(await first).body, (await second).body]).toEqual(["one", "two"]);
    expect(holding.seen.map((s) => s.path)).toEqual(["/1", "/2"]);
  });

  it("outlier detection ejects an endpoint after consecutive 5xx and sends everything to the other", async () => {
    const broken = await upstream("broken", (_req, res) => void res.writeHead(500).end("broken"));
    const fine = await upstream("fine");
    const p = await proxy(
      [dr({ trafficPolicy: { outlierDetection: { consecutive5xxErrors: 2, interval: "1s", baseEjectionTime: "3m", maxEjectionPercent: 100 } } })],
      [[broken, "v1"], [fine, "v2"]],
    );
    const bodies = [];
    for (let n = 0; n < 10; n++) bodies.push((await get(p, "/")).body);
    expect(broken.seen).toHaveLength(2);
    expect(bodies.slice(4)).toEqual(Array(6).fill("fine"));
  });
});

describe("mirroring", () => {
  it("copies each request to the mirror subset with a -shadow Host; the client sees only the route's answer", async () => {
    const v1 = await upstream("v1");
    const v2 = await upstream("v2");
    const p = await proxy([dr(), vs({ route: [to("v1")], mirror: { host: "flaskapp", subset: "v2" }, mirrorPercentage: { value: 100 } })], [[v1, "v1"], [v2, "v2"]]);
    for (let n = 0; n < 5; n++) expect((await get(p, "/env/version", { "x-request-id": `run-${n}` })).body).toBe("v1");
    await expect.poll(() => v2.seen.length).toBe(5);
    const { hostname, port } = new URL(p.url);
    expect(new Set(v2.seen.map((s) => s.host))).toEqual(new Set([`${hostname}-shadow:${port}`]));
    expect(v2.seen.map((s) => s.headers["x-request-id"]).sort()).toEqual(["run-0", "run-1", "run-2", "run-3", "run-4"]);
    expect(p.mirrored).toBe(5);
  });

  it("a failing mirror never affects the client", async () => {
    const v1 = await upstream("v1");
    const v2 = await upstream("v2", (req) => req.socket.destroy());
    const p = await proxy([dr(), vs({ route: [to("v1")], mirror: { host: "flaskapp", subset: "v2" } })], [[v1, "v1"], [v2, "v2"]]);
    for (let n = 0; n < 3; n++) expect(await get(p, "/")).toMatchObject({ status: 200, body: "v1" });
  });
});
