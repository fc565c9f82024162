// The preview and npm run demo through the real pieces (flaskapp and tally
// bundles, kustomize): starting and failing to start, the command line, the
// playground. Every lesson under every release runs in test/e2e (npm run test:lessons).
import { execFile, spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { renderKustomization } from "../../lessons/src/kustomize.ts";
import { allLessons, overlayDir } from "../../lessons/src/lessons.ts";
import { Mesh } from "../../lessons/src/mesh/mesh.ts";
import { runningPodCount } from "../../lessons/src/mesh/pods.ts";
import { RuleError } from "../../lessons/src/mesh/config.ts";
import { alive, descendants } from "../processes.ts";
import { jsonPatch, overlayOver, removeOverlays } from "./overlay.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const temps: string[] = [];

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  removeOverlays();
});

describe("a rule the preview cannot run", () => {
  it("a rule field the model does not implement is an error naming it, before any pod starts", async () => {
    const dir = overlayOver("v2-default", jsonPatch("VirtualService", "flaskapp-default-v2", [{ op: "add", path: "/spec/http/0/corsPolicy", value: { allowOrigins: [{ exact: "https://example.com" }] } }]));
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

function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, args, { cwd: ROOT, timeout: 60_000, env }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

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
    expect(stderr).toContain(`demo: "canary" is neither a lesson nor a directory with a kustomization.yaml; lessons: ${allLessons().join(", ")}`);
  });

  it("gateway-api/ingress-gateway: the Gateway's own gateway, checked through its Service with a Host header, passes", async () => {
    const { code, stdout } = await runNode(["lessons/src/demo.ts", "gateway-api/ingress-gateway"]);
    expect(stdout).toMatch(/== gateway-api\/ingress-gateway: [\s\S]*npm run lesson -- gateway-api\/ingress-gateway /);
    expect(stdout).toContain("flaskapp-gateway-istio: HTTPRoute flaskapp-ingress rules[0] → flaskapp-v2");
    expect(stdout).toContain("flaskapp-gateway-istio: no Gateway route for Host unknown.example.com");
    expect(stdout).toContain("all checks passed");
    expect(code).toBe(0);
  }, 60_000);

  it("a lesson the Gateway API cannot express is a usage error saying why and which lesson to run, exit 2", async () => {
    const { code, stdout, stderr } = await runNode(["lessons/src/demo.ts", "gateway-api/circuit-breaker"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("demo: gateway-api/circuit-breaker is no lesson: connection-pool limits are no Gateway API field: only a DestinationRule sets them; run circuit-breaker (Istio's API)");
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
    await expect(fetch(`${url}/env/version`)).rejects.toThrow();
  }, 60_000);
});

describe("npm run demo: the playground", () => {
  /** A copy of a lesson in a directory of its own: two levels below k8s/, as its relative paths need. */
  function playground(lesson: string, edit: (text: string) => string = (t) => t, checks = true): { base: string; dir: string } {
    const base = mkdtempSync(join(ROOT, "k8s/.playground-"));
    temps.push(base);
    const dir = join(base, lesson);
    cpSync(overlayDir(lesson), dir, { recursive: true });
    for (const file of ["virtual-service.yaml"]) {
      const path = join(dir, file);
      if (existsSync(path)) writeFileSync(path, edit(readFileSync(path, "utf8")));
    }
    if (!checks) rmSync(join(dir, "checks.yaml"));
    return { base, dir };
  }

  it("[weights-relative] an edited copy of a lesson, by absolute path: the new rule decides, the explanation says so", async () => {
    const { dir } = playground("weighted", (t) => t.replace("weight: 70", "weight: 1").replace("weight: 30", "weight: 3"));
    const { code, stdout } = await runNode(["lessons/src/demo.ts", dir]);
    expect(code).toBe(1);
    expect(stdout).toContain(`kubectl apply -k ${dir}`);
    expect(stdout).toMatch(/→ flaskapp subset v2 \(weight 3 of 4\) → 200/);
    expect(stdout).toMatch(/^FAIL {2}about 70% v1 and 30% v2/m);
  }, 60_000);

  it("a directory relative to where npm was started (INIT_CWD), without checks.yaml: starts, checks nothing, passes", async () => {
    const { base } = playground("v2-default", undefined, false);
    const { code, stdout } = await runNode(["lessons/src/demo.ts", "./v2-default"], { ...process.env, INIT_CWD: base });
    expect(code).toBe(0);
    expect(stdout).toContain("no checks.yaml beside the kustomization");
    expect(stdout).toContain("all checks passed");
  }, 60_000);

  it("a lesson name wins over a directory of the same name", async () => {
    const { base } = playground("v2-default", (t) => t.replace("subset: v2", "subset: v1"));
    const { code, stdout } = await runNode(["lessons/src/demo.ts", "v2-default"], { ...process.env, INIT_CWD: base });
    expect(code).toBe(0);
    expect(stdout).toContain("npm run lesson -- v2-default   # on a cluster");
  }, 60_000);

  it("--serve takes a directory too", async () => {
    const { dir } = playground("v2-default", undefined, false);
    const child = spawn(process.execPath, ["lessons/src/demo.ts", "--serve", dir], { cwd: ROOT });
    let stdout = "";
    child.stdout.on("data", (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await expect.poll(() => stdout, { timeout: 20_000 }).toContain("Ctrl-C stops the mesh");
    const url = /http:\/\/flaskapp \(as the sleep pod calls it\) is served at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!;
    expect(await (await fetch(`${url}/env/version`)).text()).toBe("v2");
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 60_000);

  it.each([
    ["an Istio release the preview does not model", ["--istio", "1.26", "weighted"], /--istio 1\.26: the preview models Istio 1\.27, 1\.28, 1\.29, 1\.30, 1\.31/],
    ["a directory without a kustomization", ["test"], /"test" is neither a lesson nor a directory with a kustomization\.yaml/],
    ["--serve with two targets", ["--serve", "weighted", "mirror"], /--serve takes one lesson or directory/],
  ])("usage error, exit 2: %s", async (_name, args, message) => {
    const { code, stderr } = await runNode(["lessons/src/demo.ts", ...args]);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
  });

  it("--istio 1.27 models 1.27: mirrored copies get Host flaskapp-shadow", async () => {
    const { code, stdout } = await runNode(["lessons/src/demo.ts", "--istio", "1.27", "mirror"]);
    expect(code).toBe(0);
    expect(stdout).toContain("Istio 1.27 defaults");
    expect(stdout).toContain("all with Host *-shadow");
  }, 60_000);
});

describe("npm run demo: process hygiene", () => {
  it.each(["SIGTERM", "SIGINT"] as const)("%s to npm's pid stops the demo and every pod it started", async (signal) => {
    const npm = spawn("npm", ["run", "demo", "--silent", "--", "timeout"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    npm.stdout.on("data", (data: Buffer) => (out += data.toString()));
    const exited = new Promise<void>((resolve) => npm.on("exit", () => resolve()));
    await expect.poll(() => out, { timeout: 30_000 }).toContain("preview: pods");
    const below = descendants(npm.pid!);
    try {
      expect(below.length).toBeGreaterThanOrEqual(3);
      process.kill(npm.pid!, signal);
      await exited;
      await expect.poll(() => below.filter(alive), { timeout: 5000 }).toEqual([]);
    } finally {
      for (const pid of below.filter(alive)) process.kill(pid, "SIGKILL");
    }
  }, 60_000);
});
