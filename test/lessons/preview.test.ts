// End to end through the real pieces: the flaskapp and tally bundles, the
// overlays rendered by kustomize, the rules applied by the mesh preview.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { renderKustomization } from "../../lessons/src/kustomize.ts";
import { allLessons, LESSONS, overlayDir } from "../../lessons/src/lessons.ts";
import { Mesh } from "../../lessons/src/mesh/mesh.ts";
import { runningPodCount } from "../../lessons/src/mesh/pods.ts";
import { RuleError } from "../../lessons/src/mesh/config.ts";
import { previewOverlay, runTally } from "../../lessons/src/preview.ts";
import { overlayOver, PREVIEW_RELEASES, removeOverlays, runNode } from "./preview-helpers.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const temps: string[] = [];

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  removeOverlays();
});

describe("every lesson's checks pass in the mesh preview, under the oldest and the newest supported Istio", () => {
  const cases = PREVIEW_RELEASES.flatMap((release) => allLessons().map((lesson) => [lesson, release.version, release] as const));
  it.each(cases)("%s (Istio %s)", async (lesson, _version, release) => {
    let report = "";
    const results = await previewOverlay(overlayDir(lesson), { write: (t) => (report += t), release });
    expect(results.length).toBeGreaterThan(0);
    expect(results.filter((r) => !r.passed), report).toEqual([]);
    expect(report).toMatch(/requests to GET http:\/\/127\.0\.0\.1:\d+\//);
    expect(report).toMatch(/^PASS {2}/m);
  }, 60_000);
});

describe("a broken overlay fails its check", () => {
  it("v2-default with the v2 pods labelled version: v1 (the seed's bug) fails: subset v2 selects nothing", async () => {
    const dir = overlayOver(
      "v2-default",
      `  - target: { kind: Deployment, name: flaskapp-v2 }
    patch: |-
      - op: replace
        path: /spec/template/metadata/labels/version
        value: v1
`,
    );
    let report = "";
    const results = await previewOverlay(dir, { write: (t) => (report += t) });
    expect(results.map((r) => r.passed)).toEqual([false]);
    expect(report).toContain("no healthy upstream");
    expect(report).toMatch(/^FAIL {2}only v2 answers/m);
  }, 60_000);

  it("a rule field the model does not implement is an error naming it, before any pod starts", async () => {
    const dir = overlayOver(
      "v2-default",
      `  - target: { kind: VirtualService, name: flaskapp-default-v2 }
    patch: |-
      - op: add
        path: /spec/http/0/corsPolicy
        value: { allowOrigins: [{ exact: "https://example.com" }] }
`,
    );
    const objects = await renderKustomization(dir);
    await expect(Mesh.start(objects)).rejects.toThrow(RuleError);
    await expect(Mesh.start(objects)).rejects.toThrow("VirtualService flaskapp-default-v2: spec.http[0].corsPolicy: a real Istio field the mesh preview does not model");
  }, 60_000);
});

describe("pods that do not start", () => {
  const program = (code: string) => {
    const dir = mkdtempSync(join(tmpdir(), "pod-"));
    temps.push(dir);
    writeFileSync(join(dir, "app.js"), code);
    return join(dir, "app.js");
  };

  it("a missing bundle: run npm run build", async () => {
    const objects = await renderKustomization(overlayDir("v2-default"));
    await expect(Mesh.start(objects, { bundle: "/nonexistent/flaskapp.js" })).rejects.toThrow("/nonexistent/flaskapp.js is missing: run `npm run build` first");
  });

  it("a pod that exits at start: its exit code and output", async () => {
    const objects = await renderKustomization(overlayDir("v2-default"));
    const bundle = program(`console.error("PORT is bad"); process.exit(1);`);
    await expect(Mesh.start(objects, { bundle })).rejects.toThrow(/exited with code 1 before it was ready:\nPORT is bad/);
  });

  it("a pod that never logs the port it listens on within startTimeoutMs: an error, and no process is left", async () => {
    const objects = await renderKustomization(overlayDir("v2-default"));
    const bundle = program("setTimeout(() => {}, 60_000);");
    expect(runningPodCount()).toBe(0);
    await expect(Mesh.start(objects, { bundle, startTimeoutMs: 500 })).rejects.toThrow("did not start listening within 500 ms");
    expect(runningPodCount()).toBe(0);
  });

  it("a pod listening but never ready within startTimeoutMs: an error, and no process is left", async () => {
    const objects = await renderKustomization(overlayDir("v2-default"));
    const bundle = program(`const s = require("node:http").createServer((q, r) => r.writeHead(503).end()); s.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ msg: "listening", port: s.address().port })));`.replace("require", "process.getBuiltinModule"));
    await expect(Mesh.start(objects, { bundle, startTimeoutMs: 500 })).rejects.toThrow("did not become ready within 500 ms");
    expect(runningPodCount()).toBe(0);
  });
});

describe("zero downtime", () => {
  it("a pod gets SIGTERM while tally runs at concurrency 8 and a replacement starts: no request fails", async () => {
    // A SHUTDOWN_DELAY well above the readiness poll, so a loaded machine still sees readiness act first.
    const mesh = await Mesh.start(await renderKustomization(overlayDir("round-robin")), { shutdownDelay: "2s" });
    try {
      const old = mesh.pods.find((p) => p.deployment === "flaskapp-v1")!;
      const tally = runTally(["-d", "6s", "-c", "8", "--by", "status", "--json", `${mesh.url}/env/version`]);
      await expect.poll(() => old.requests.length, { timeout: 5000 }).toBeGreaterThan(20);
      old.process.kill("SIGTERM");
      // Readiness, not the exit, takes it out of the endpoints: it is still serving its SHUTDOWN_DELAY.
      await expect.poll(() => mesh.endpoints.readyIds(), { timeout: 1500, interval: 20 }).not.toContain(old.name);
      expect(old.process.exitCode).toBeNull();
      const replacement = await mesh.startReplacement("flaskapp-v1");
      expect(await old.exited).toBe(0);
      await expect.poll(() => replacement.requests.length, { timeout: 5000 }).toBeGreaterThan(0);

      const run = await tally;
      const result = JSON.parse(run.stdout) as { requests: number; errors: number; rows: Array<{ key: string; count: number }> };
      expect(run.code).toBe(0);
      expect(result.rows.map((r) => r.key)).toEqual(["200"]);
      expect(result.errors).toBe(0);
      expect(result.requests).toBeGreaterThan(100);
      // The old pod answered until the proxy saw its readiness turn 503, then only the others did.
      const served = mesh.pods.map((p) => p.requests.length);
      expect(served.every((n) => n > 0)).toBe(true);
    } finally {
      await mesh.stop();
    }
  }, 60_000);
});

describe("npm run demo", () => {
  it("with no argument runs the seed's steps 5 and 6 and passes both", async () => {
    const { code, stdout } = await runNode(["lessons/src/demo.ts"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/== round-robin \(seed step 5\)[\s\S]*PASS {2}v1 and v2[\s\S]*== v2-default \(seed step 6\)[\s\S]*PASS {2}only v2[\s\S]*all checks passed/);
  }, 60_000);

  it("an unknown lesson is a usage error listing the lessons, exit 2", async () => {
    const { code, stdout, stderr } = await runNode(["lessons/src/demo.ts", "round-robin", "canary"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain(`demo: "canary" is neither a lesson nor a directory with a kustomization.yaml; lessons: ${LESSONS.join(", ")}`);
  });

  it("--serve keeps the mesh up until SIGINT and prints how to reach it", async () => {
    const child = spawn(process.execPath, ["lessons/src/demo.ts", "--serve", "v2-default"], { cwd: ROOT });
    let stdout = "";
    child.stdout.on("data", (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await expect.poll(() => stdout, { timeout: 20_000 }).toContain("Ctrl-C stops the mesh");
    const url = /is served at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!;
    expect(stdout).toContain(`npx tally -n 100 ${url}/env/version`);
    expect(await (await fetch(`${url}/env/version`)).text()).toBe("v2");
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    await sleep(50);
    await expect(fetch(`${url}/env/version`)).rejects.toThrow();
  }, 60_000);
});
