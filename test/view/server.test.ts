// The live view's server against a real mesh preview of the weighted lesson: loopback only,
// the DNS-rebinding guard, bounded input with clear 400s, server-sent snapshots as the
// proxies decide, "why" for an edge, traffic sent with tally.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIEW_ASSETS } from "#lessons/core/paths.ts";
import { Mesh } from "#lessons/mesh/mesh.ts";
import type { Snapshot } from "#lessons/view/graph.ts";
import { SEND_LIMITS } from "#lessons/view/input.ts";
import { MAX_SENDS, startView, type View } from "#lessons/view/server.ts";
import { lessonRender } from "../renders.ts";

const HOST = "flaskapp.istio-lessons.svc.cluster.local";
const CLIENT_EDGE = `w:sleep>s:${HOST}>route`;

let mesh: Mesh;
let view: View;
let origin: string;

beforeAll(async () => {
  const objects = lessonRender("weighted");
  mesh = await Mesh.start(objects);
  view = await startView({ mesh, objects, lesson: "weighted", summary: "70/30", checks: [], assets: VIEW_ASSETS });
  origin = view.url.replace(/\/$/, "");
});
afterAll(async () => {
  await view?.close();
  await mesh?.stop();
});

/** A raw request, so that the Host and Origin headers are what the test says. */
function raw(
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const url = new URL(path, origin);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: url.port,
        path: url.pathname + url.search,
        method: options.method ?? "GET",
        headers: options.headers ?? {},
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  raw(path, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("the view's server", () => {
  it("listens on 127.0.0.1 and serves the built page and its script, with a strict content security policy", async () => {
    expect(view.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await raw("/");
    expect(page.status).toBe(200);
    expect(page.body).toContain('<script src="/view.js"></script>');
    expect(page.headers["content-security-policy"]).toContain("default-src 'self'");
    expect((await raw("/view.js")).headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect((await raw("/nothing")).status).toBe(404);
  });

  it.each([
    ["another name (DNS rebinding)", "evil.example"],
    ["localhost instead of the printed address", "localhost"],
    ["the right address on another port", "127.0.0.1:1"],
  ])("refuses a Host that is %s: 403", async (_name, host) => {
    const port = new URL(origin).port;
    const res = await raw("/api/graph", { headers: { host: host.includes(":") ? host : `${host}:${port}` } });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error).toMatch(/^Host ".*" refused: use http:\/\/127\.0\.0\.1:\d+\/$/);
  });

  it("refuses a POST from another site's page (Origin) and a body that is not JSON", async () => {
    expect(
      (await post("/api/send", { service: "flaskapp", path: "/", count: 1 }, { origin: "http://evil.example" })).status,
    ).toBe(403);
    expect(
      (await raw("/api/send", { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" })).status,
    ).toBe(415);
    expect(await post("/api/send", "{not json")).toMatchObject({
      status: 400,
      body: JSON.stringify({ error: "the body is not JSON" }),
    });
    const big = await post("/api/send", { pad: "x".repeat(SEND_LIMITS.bodyBytes) });
    expect(big.status).toBe(413);
    expect((await raw("/api/graph", { method: "DELETE" })).status).toBe(405);
  });

  it("bounds the page's input with clear 400s", async () => {
    const send = (fields: Record<string, unknown>) =>
      post("/api/send", { service: "flaskapp", path: "/env/version", count: 1, ...fields });
    expect(await send({ count: SEND_LIMITS.count.max + 1 })).toMatchObject({
      status: 400,
      body: JSON.stringify({ error: "count: expected a whole number from 1 to 2000" }),
    });
    expect((await send({ path: "/x y" })).status).toBe(400);
    expect((await send({ service: "evil.example" })).status).toBe(400);
    expect((await send({ headers: [["x", "a\r\nb"]] })).status).toBe(400);
    expect((await raw(`/api/why?id=${"x".repeat(1025)}`)).status).toBe(400);
    expect((await raw("/api/why?id=nothing")).status).toBe(404);
  });

  it("streams a snapshot at once and another soon after a request, with the edge counted", async () => {
    const res = await fetch(`${origin}/api/events`);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    const nextSnapshot = async (): Promise<Snapshot> => {
      for (;;) {
        const end = buffer.indexOf("\n\n");
        if (end >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = /^data: (.*)$/m.exec(frame);
          if (data) return JSON.parse(data[1]!) as Snapshot;
          continue;
        }
        const { value, done } = await reader.read();
        if (done) throw new Error("the stream ended");
        buffer += value;
      }
    };
    const first = await nextSnapshot();
    const before = first.edges.find((e) => e.id === CLIENT_EDGE)?.requests ?? 0;
    expect(first.nodes.map((n) => n.id)).toContain(`ss:${HOST}|v2`);
    expect(await (await fetch(mesh.localUrl("http://flaskapp/env/version"))).text()).toMatch(/^v[12]$/);
    let next = await nextSnapshot();
    while ((next.edges.find((e) => e.id === CLIENT_EDGE)?.requests ?? 0) === before) next = await nextSnapshot();
    expect(next.edges.find((e) => e.id === CLIENT_EDGE)!.requests).toBe(before + 1);
    await reader.cancel();
  });

  it("sends traffic with tally (never a shell) and answers with tally's report; why names the rule and the decisions", async () => {
    // Were the value ever run by a shell, this file would exist.
    const marker = join(mkdtempSync(join(tmpdir(), "view-shell-")), "ran");
    const sent = await post("/api/send", {
      service: "flaskapp",
      path: "/env/version",
      headers: [["x-note", `$(touch ${marker})`]],
      count: 20,
      concurrency: 2,
    });
    expect(sent.status).toBe(200);
    const result = JSON.parse(sent.body) as { command: string; code: number; output: string };
    expect(result.command).toBe(`$ tally -n 20 -c 2 -H 'x-note: $(touch ${marker})' http://flaskapp/env/version`);
    expect(result.code).toBe(0);
    expect(existsSync(marker)).toBe(false);
    rmSync(dirname(marker), { recursive: true, force: true });
    expect(result.output).toMatch(/^20 requests to GET http:\/\/127\.0\.0\.1:\d+\/env\/version, concurrency 2/);
    const why = JSON.parse((await raw(`/api/why?id=${encodeURIComponent(`s:${HOST}>ss:${HOST}|v1>route`)}`)).body) as {
      title: string;
      rules: string;
      decisions: string[];
    };
    expect(why.title).toBe("flaskapp → flaskapp v1");
    expect(why.rules).toContain("kind: VirtualService");
    expect(why.decisions[0]).toMatch(
      /sleep: \/env\/version · VirtualService flaskapp http\[0\] → flaskapp subset v1 \(weight 70 of 100\) via flaskapp-v1-\S+ → 200$/,
    );
  });

  it(`runs at most ${MAX_SENDS} sends at once; one more gets 429 at once`, async () => {
    const slow = () => post("/api/send", { service: "flaskapp", path: "/delay/1", count: 2 });
    const running = Array.from({ length: MAX_SENDS }, slow);
    // The running sends are in when tally's first requests reach the pods.
    const before = mesh.requestLogs("flaskapp-v1").length + mesh.requestLogs("flaskapp-v2").length;
    await expect
      .poll(() => mesh.requestLogs("flaskapp-v1").length + mesh.requestLogs("flaskapp-v2").length - before, {
        timeout: 10_000,
      })
      .toBeGreaterThanOrEqual(MAX_SENDS);
    expect(await slow()).toMatchObject({
      status: 429,
      body: JSON.stringify({ error: `${MAX_SENDS} sends are already running; wait for one to finish` }),
    });
    expect((await Promise.all(running)).map((r) => r.status)).toEqual(Array(MAX_SENDS).fill(200));
  });

  it("meta: the Services the page may send to, with the client's URL for each", async () => {
    const meta = JSON.parse((await raw("/api/meta")).body);
    expect(meta).toMatchObject({
      lesson: "weighted",
      summary: "70/30",
      services: ["flaskapp", "sleep"],
      defaultService: "flaskapp",
      defaultPath: "/env/version",
      checks: [],
    });
    expect(meta.urls.flaskapp).toBe(mesh.localUrl("http://flaskapp/").replace(/\/$/, ""));
  });
});

describe("the view's pods", () => {
  it("a pod that stops is shown not ready (the last test here: it takes a pod of the shared mesh away)", async () => {
    const pod = mesh.pods.find((p) => p.deployment === "flaskapp-v2")!;
    const node = async () =>
      ((await (await fetch(`${origin}/api/graph`)).json()) as Snapshot).nodes.find((n) => n.id === `p:${pod.name}`);
    expect(await node()).toMatchObject({ ready: true });
    await pod.stop(0);
    await expect.poll(async () => (await node())?.ready, { timeout: 5_000 }).toBe(false);
  });
});
