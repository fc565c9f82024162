// The live view in a real browser (headless chromium): `npm run demo -- --serve <lesson>`
// as a learner starts it, tally from a terminal, the page's own traffic and checks.
// Timings are measured and printed, never asserted (the machine is shared).
// With SCREENSHOTS=<dir> (npm run screenshots) the tests also save the pictures the README shows.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, TALLY_BUNDLE } from "#lessons/core/paths.ts";
import { runProgram } from "#lessons/core/run.ts";
import { launchBrowser, serveLesson, type Browser, type Served } from "./browser.ts";

const SCREENSHOTS = process.env.SCREENSHOTS;
const timings: Record<string, number> = {};

async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  const dir = join(ROOT, SCREENSHOTS);
  mkdirSync(dir, { recursive: true });
  await page.evaluate(() => window.scrollTo(0, 0));
  await page.screenshot({ path: join(dir, `view-${name}.png`), clip: { x: 0, y: 0, width: 1280, height: 660 } });
}

/** The edges table as the page shows it: requests per edge id. */
function tableCounts(page: Page): Promise<Record<string, number>> {
  return page.$$eval("#edges tbody tr", (rows) =>
    Object.fromEntries(rows.map((r) => [(r as HTMLElement).dataset.edge!, Number(r.children[3]!.textContent)])),
  );
}

async function waitForCounts(page: Page, expected: Record<string, number>): Promise<void> {
  await page.waitForFunction(
    (want) => {
      const rows = [...document.querySelectorAll<HTMLElement>("#edges tbody tr")];
      const have = Object.fromEntries(rows.map((r) => [r.dataset.edge!, Number(r.children[3]!.textContent)]));
      return Object.entries(want).every(([id, n]) => have[id] === n);
    },
    expected,
    { timeout: 10_000 },
  );
}

async function openView(browser: Browser, served: Served): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(served.view);
  await page.waitForFunction(() => window.meshView?.firstRenderAt !== undefined && window.meshView.meta !== undefined);
  return page;
}

const HOST = "flaskapp.istio-lessons.svc.cluster.local";
const EDGE = {
  client: `w:sleep>s:${HOST}>route`,
  v1: `s:${HOST}>ss:${HOST}|v1>route`,
  v2: `s:${HOST}>ss:${HOST}|v2>route`,
};

let browser: Browser;
beforeAll(async () => {
  browser = await launchBrowser();
});
afterAll(async () => {
  await browser?.close();
  if (Object.keys(timings).length > 0) {
    console.log(`view timings (ms): ${JSON.stringify(timings)}`);
    writeFileSync(join(ROOT, "dist/view-timings.json"), `${JSON.stringify(timings, null, 2)}\n`);
  }
});

describe("the live view of weighted", () => {
  let served: Served;
  let page: Page;
  beforeAll(async () => {
    served = await serveLesson("weighted");
    page = await openView(browser, served);
  });
  afterAll(async () => {
    await page?.close();
    expect(await served?.stop()).toBe(0);
  });

  it("loads with the lesson's graph: sleep, the Service, its two subsets, a pod in each", async () => {
    const { nodes, firstRender } = await page.evaluate(() => ({
      nodes: window.meshView.cy.nodes().map((n) => `${n.id()} ${n.classes().join(" ")}`),
      firstRender: performance.timeOrigin + window.meshView.firstRenderAt!,
    }));
    timings.firstRenderAfterServerUp = Math.round(firstRender - served.upAt);
    timings.firstRenderAfterNavigation = Math.round(await page.evaluate(() => window.meshView.firstRenderAt!));
    expect(nodes).toEqual(
      expect.arrayContaining([
        "w:sleep client",
        `s:${HOST} service`,
        `ss:${HOST}|v1 subset`,
        `ss:${HOST}|v2 subset`,
        expect.stringMatching(/^p:flaskapp-v1-\S+ pod$/),
        expect.stringMatching(/^p:flaskapp-v2-\S+ pod$/),
      ]),
    );
    expect(await page.textContent("#lesson")).toBe("mesh preview: weighted");
  });

  it("100 requests sent with tally from a terminal show on the edges with the counts tally reports", async () => {
    const before = await tableCounts(page);
    const run = await runProgram(
      process.execPath,
      [TALLY_BUNDLE, "-n", "100", "-c", "4", "--json", `${served.service.flaskapp}/env/version`],
      60_000,
    );
    expect(run.code).toBe(0);
    const rows = Object.fromEntries(
      (JSON.parse(run.stdout) as { rows: Array<{ key: string; count: number }> }).rows.map((r) => [r.key, r.count]),
    );
    expect((rows.v1 ?? 0) + (rows.v2 ?? 0)).toBe(100);
    await waitForCounts(page, {
      [EDGE.client]: (before[EDGE.client] ?? 0) + 100,
      [EDGE.v1]: (before[EDGE.v1] ?? 0) + (rows.v1 ?? 0),
      [EDGE.v2]: (before[EDGE.v2] ?? 0) + (rows.v2 ?? 0),
    });
  });

  it("an edge's count updates soon after a request (measured)", async () => {
    const before = (await tableCounts(page))[EDGE.client] ?? 0;
    const sentAt = Date.now();
    expect(await (await fetch(`${served.service.flaskapp}/env/version`)).text()).toMatch(/^v[12]$/);
    const answeredAt = Date.now();
    await waitForCounts(page, { [EDGE.client]: before + 1 });
    const appliedAt = await page.evaluate(() => window.meshView.appliedAt);
    timings.edgeUpdateAfterRequestSent = appliedAt - sentAt;
    timings.edgeUpdateAfterAnswer = appliedAt - answeredAt;
  });

  it("traffic sent from the page is drawn as tally draws it and splits about 70/30 on the edges", async () => {
    const before = await tableCounts(page);
    await page.fill("#send-count", "400");
    await page.fill("#send-concurrency", "4");
    await page.click("#send-button");
    await page.waitForFunction(
      () => document.querySelector("#send-output")?.textContent?.includes("latency"),
      undefined,
      { timeout: 60_000 },
    );
    const output = (await page.textContent("#send-output"))!;
    expect(output).toMatch(
      /^\$ tally -n 400 -c 4 http:\/\/flaskapp\/env\/version\n400 requests to GET http:\/\/127\.0\.0\.1:\d+\/env\/version, concurrency 4/,
    );
    expect(output).toMatch(/^ {2}v1 +\d+ +\d+\.\d% {2}█/m);
    await waitForCounts(page, { [EDGE.client]: (before[EDGE.client] ?? 0) + 400 });
    const after = await tableCounts(page);
    const v1 = after[EDGE.v1]! - (before[EDGE.v1] ?? 0);
    const v2 = after[EDGE.v2]! - (before[EDGE.v2] ?? 0);
    expect(v1 + v2).toBe(400);
    expect(Math.abs((v1 * 100) / 400 - 70)).toBeLessThanOrEqual(10);
    // The graph's labels carry the running shares: about 70% and 30% of the Service's requests.
    const labels = await page.evaluate(
      (ids) => ids.map((id) => window.meshView.cy.getElementById(id).data("label") as string),
      [EDGE.v1, EDGE.v2],
    );
    const shares = labels.map((l) => Number(/ · ([\d.]+)% · /.exec(l)![1]));
    expect(Math.abs(shares[0]! - 70)).toBeLessThanOrEqual(10);
    expect(Math.abs(shares[1]! - 30)).toBeLessThanOrEqual(10);
  });

  it("why: an edge explains itself with the rules as applied and the last decisions' rule path", async () => {
    await page.click(`#edges tbody tr[data-edge="${EDGE.v2}"] button`);
    await page.waitForFunction(() =>
      document.querySelector("#why-rules")?.textContent?.includes("kind: VirtualService"),
    );
    const rules = (await page.textContent("#why-rules"))!;
    expect(rules).toContain("kind: DestinationRule");
    expect(rules).toMatch(/subset: v2\n\s+weight: 30/);
    expect(await page.textContent("#why-title")).toBe("Why: flaskapp → flaskapp v2");
    const decisions = await page.$$eval("#why-decisions li", (items) => items.map((i) => i.textContent));
    expect(decisions[0]).toMatch(
      /sleep: \/env\/version · VirtualService flaskapp http\[0\] → flaskapp subset v2 \(weight 30 of 100\) via flaskapp-v2-\S+ → 200$/,
    );
    await screenshot(page, "weighted");
  });

  it("why: clicking a node in the graph shows the rules that apply there", async () => {
    const id = `ss:${HOST}|v1`;
    const at = await page.evaluate((node) => window.meshView.cy.getElementById(node).renderedPosition(), id);
    // A real click on the canvas, where the node is drawn (scrolled into view first).
    await page.locator("#graph").click({ position: at });
    await page.waitForFunction(() => document.querySelector("#why-title")?.textContent === "Why: flaskapp v1 (subset)");
    const rules = (await page.textContent("#why-rules"))!;
    expect(rules).toMatch(/^apiVersion: networking\.istio\.io\/v1\nkind: VirtualService\n/);
    expect(rules).toContain("kind: DestinationRule");
    expect(await page.$$eval("#why-decisions li", (items) => items.length)).toBeGreaterThan(0);
  });

  it("the lesson's checks run from the page, PASS each", async () => {
    await page.click("#checks-button");
    await page.waitForSelector("#checks li[data-passed]", { timeout: 90_000 });
    const results = await page.$$eval("#checks li", (items) =>
      items.map((i) => ({ passed: (i as HTMLElement).dataset.passed, text: i.querySelector("summary")?.textContent })),
    );
    expect(results).toEqual([{ passed: "true", text: "PASS about 70% v1 and 30% v2" }]);
  });

  it("the page made no request off the machine", () => {
    expect(browser.requests.length).toBeGreaterThan(0);
    const off = browser.requests.filter((url) => !url.startsWith("data:") && new URL(url).hostname !== "127.0.0.1");
    expect(off).toEqual([]);
  });
});

describe("the live view of outlier-ejection", () => {
  let served: Served;
  let page: Page;
  beforeAll(async () => {
    served = await serveLesson("outlier-ejection");
    page = await openView(browser, served);
  });
  afterAll(async () => {
    await page?.close();
    expect(await served?.stop()).toBe(0);
  });

  it("marks the faulty pod ejected while the outlier detector has it out, and its 503s red", async () => {
    const run = await runProgram(
      process.execPath,
      [TALLY_BUNDLE, "-n", "100", "--by", "status", `${served.service.flaskapp}/env/version`],
      60_000,
    );
    expect(run.code).toBe(0);
    await page.waitForSelector("#pods tbody tr td:text-matches('^until ')", { timeout: 10_000 });
    const ejected = await page.evaluate(() => window.meshView.cy.nodes(".ejected").map((n) => n.id()));
    expect(ejected).toHaveLength(1);
    expect(ejected[0]).toMatch(/^p:flaskapp-v1-faulty-/);
    const edge = await page.evaluate(
      (id) => window.meshView.cy.edges(`[target = "${id}"]`).map((e) => e.classes().join(" ")),
      ejected[0]!,
    );
    expect(edge.join(" ")).toMatch(/\b(bad|warn)\b/);
    await screenshot(page, "outlier-ejection");
  });
});

describe("the live view of mirror", () => {
  let served: Served;
  let page: Page;
  beforeAll(async () => {
    served = await serveLesson("mirror");
    page = await openView(browser, served);
  });
  afterAll(async () => {
    await page?.close();
    expect(await served?.stop()).toBe(0);
  });

  it("draws the mirrored copies apart from the traffic the client sees", async () => {
    await page.fill("#send-count", "50");
    await page.click("#send-button");
    await page.waitForFunction(
      () => document.querySelector("#send-output")?.textContent?.includes("latency"),
      undefined,
      { timeout: 60_000 },
    );
    await page.waitForFunction(
      () =>
        window.meshView.cy.edges(".mirror").length >= 2 &&
        window.meshView.snapshot!.edges.filter((e) => e.kind === "mirror").every((e) => e.requests === 50),
      undefined,
      { timeout: 10_000 },
    );
    const styles = await page.evaluate(() =>
      window.meshView.cy.edges(".mirror").map((e) => e.style("line-style") as string),
    );
    expect(new Set(styles)).toEqual(new Set(["dashed"]));
    await screenshot(page, "mirror");
  });
});

describe("the live view of circuit-breaker", () => {
  let served: Served;
  let page: Page;
  beforeAll(async () => {
    served = await serveLesson("circuit-breaker");
    page = await openView(browser, served);
  });
  afterAll(async () => {
    await page?.close();
    expect(await served?.stop()).toBe(0);
  });

  it("draws the sidecar's overflow replies apart, red and dotted, on the edge the breaker guards", async () => {
    const run = await runProgram(
      process.execPath,
      [TALLY_BUNDLE, "-n", "40", "-c", "8", "--by", "status", "--json", `${served.service.flaskapp}/delay/0.2`],
      60_000,
    );
    const rows = Object.fromEntries(
      (JSON.parse(run.stdout) as { rows: Array<{ key: string; count: number }> }).rows.map((r) => [r.key, r.count]),
    );
    expect(rows["503"]).toBeGreaterThan(0);
    const local = `w:sleep>s:${HOST}>local`;
    await waitForCounts(page, { [local]: rows["503"]! });
    const edge = await page.evaluate((id) => {
      const e = window.meshView.cy.getElementById(id);
      return { classes: e.classes(), style: e.style("line-style") as string, label: e.data("label") as string };
    }, local);
    expect(edge.classes).toEqual(expect.arrayContaining(["local", "bad"]));
    expect(edge.style).toBe("dotted");
    expect(edge.label).toContain("overflow");
    expect(await page.textContent(`#edges tbody tr[data-edge="${local}"] td:nth-of-type(2)`)).toBe("local: overflow");
  });
});
