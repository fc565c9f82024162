// The preview and npm run demo through the real pieces (flaskapp and tally
// bundles, kustomize): starting and failing to start, the command line, the
// playground. demo runs in this process (demoCommand); it is spawned where the
// process is the point: exit codes, signals. Every lesson under every release,
// and demo with no argument, run in test/e2e (npm run test:lessons).
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { renderKustomization } from "#lessons/core/kustomize.ts";
import { demoCommand, demoTargets, heading } from "#lessons/cli/demo.ts";
import { UsageError } from "#common/usage-error.ts";
import { CACHE_REFUSED } from "#flaskapp/code-cache.ts";
import { allLessons, overlayDir } from "#lessons/catalog/lessons.ts";
import { Mesh } from "#lessons/mesh/mesh.ts";
import { runningPodCount, workloads } from "#lessons/mesh/pods.ts";
import { RuleError } from "#lessons/mesh/model.ts";
import { runProgram, type ProgramRun } from "#lessons/core/run.ts";
import { alive, descendants } from "../processes.ts";
import { jsonPatch, overlayOver, removeOverlays } from "./overlay.ts";
import { captureIo } from "./stand-ins/fake-cluster.ts";
import { lessonRender } from "../renders.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const temps: string[] = [];

afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  removeOverlays();
});

describe("a rule the preview cannot run", () => {
  it("a rule field the model does not implement is an error naming it, before any pod starts", async () => {
    const dir = overlayOver(
      "v2-default",
      jsonPatch("VirtualService", "flaskapp-default-v2", [
        { op: "add", path: "/spec/http/0/corsPolicy", value: { allowOrigins: [{ exact: "https://example.com" }] } },
      ]),
    );
    const objects = await renderKustomization(dir);
    await expect(Mesh.start(objects)).rejects.toThrow(RuleError);
    await expect(Mesh.start(objects)).rejects.toThrow(
      "VirtualService flaskapp-default-v2: spec.http[0].corsPolicy: a real Istio field the mesh preview does not model",
    );
  }, 60_000);
});

describe("which Deployments the preview runs", () => {
  const withImages = async (image: (container: { image: string }) => string) => {
    const objects = lessonRender("v2-default");
    for (const d of objects.filter((o) => o.kind === "Deployment"))
      for (const c of d.spec.template.spec.containers) c.image = image(c);
    return objects;
  };

  it("ours by repository, whatever the registry (with a port), tag or digest", async () => {
    const objects = await withImages(
      (c) => `registry.example.com:5000/${c.image.replace(":0.1.0", ":dev@sha256:0123")}`,
    );
    expect(workloads(objects).map((w) => [w.deployment, w.role])).toEqual([
      ["flaskapp-v1", "flaskapp"],
      ["flaskapp-v2", "flaskapp"],
      ["sleep", "sleep"],
    ]);
  });

  it("another image is an error naming the two the preview runs", async () => {
    const objects = await withImages(() => "docker.io/library/busybox:1.37");
    expect(() => workloads(objects)).toThrow(
      new RuleError(
        "Deployment flaskapp-v1: runs docker.io/library/busybox:1.37; the mesh preview runs only istio-lessons/flaskapp and istio-lessons/sleep",
      ),
    );
  });
});

describe("the pods", () => {
  it("run dist/flaskapp.js with flaskapp's V8 flags, as the image does, so they start from the build's code cache", async () => {
    const mesh = await Mesh.start(lessonRender("v2-default"));
    try {
      expect(mesh.pods.length).toBeGreaterThan(0);
      for (const pod of mesh.pods) {
        expect(pod.output.some((line) => line.includes('"msg":"listening"'))).toBe(true);
        expect(pod.output.filter((line) => line.includes(CACHE_REFUSED))).toEqual([]);
      }
    } finally {
      await mesh.stop();
    }
  });
});

describe("pods that do not start", () => {
  const program = (code: string) => {
    const dir = mkdtempSync(join(tmpdir(), "pod-"));
    temps.push(dir);
    writeFileSync(join(dir, "app.js"), code);
    return join(dir, "app.js");
  };

  it("a missing bundle: run npm run build", async () => {
    const objects = lessonRender("v2-default");
    await expect(Mesh.start(objects, { bundle: "/nonexistent/flaskapp.js" })).rejects.toThrow(
      "/nonexistent/flaskapp.js is missing: run `npm run build` first",
    );
  });

  it("a pod that exits at start: its exit code and output", async () => {
    const objects = lessonRender("v2-default");
    const bundle = program(`console.error("PORT is bad"); process.exit(1);`);
    await expect(Mesh.start(objects, { bundle })).rejects.toThrow(
      /exited with code 1 before it was ready:\nPORT is bad/,
    );
  });

  it("a pod that never logs the port it listens on within startTimeoutMs: an error, and no process is left", async () => {
    const objects = lessonRender("v2-default");
    const bundle = program("setTimeout(() => {}, 60_000);");
    expect(runningPodCount()).toBe(0);
    await expect(Mesh.start(objects, { bundle, startTimeoutMs: 500 })).rejects.toThrow(
      "did not start listening within 500 ms",
    );
    expect(runningPodCount()).toBe(0);
  });

  it("a pod listening but never ready within startTimeoutMs (3 s, room for a slow start on a loaded machine): an error, and no process is left", async () => {
    const objects = lessonRender("v2-default");
    const bundle = program(
      `const s = require("node:http").createServer((q, r) => r.writeHead(503).end()); s.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ msg: "listening", port: s.address().port })));`.replace(
        "require",
        "process.getBuiltinModule",
      ),
    );
    await expect(Mesh.start(objects, { bundle, startTimeoutMs: 3_000 })).rejects.toThrow(
      "did not become ready within 3000 ms",
    );
    expect(runningPodCount()).toBe(0);
  });
});

function runNode(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<ProgramRun> {
  return runProgram(process.execPath, args, 60_000, { cwd: ROOT, env });
}

/** npm run demo in this process: what it writes, and its exit code. `stop` ends --serve. */
async function demo(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
  stop: Promise<unknown> = new Promise(() => {}),
) {
  const run = captureIo(env);
  const code = await demoCommand(args, run.io, () => stop);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describe("npm run demo", () => {
  it("with no argument takes the seed's steps 5 and 6, round-robin then v2-default (each run whole in test/e2e)", async () => {
    const targets = await demoTargets([], ROOT);
    expect(targets.map(heading)).toEqual(["round-robin (seed step 5)", "v2-default (seed step 6)"]);
    expect(targets.map((t) => t.display)).toEqual(["k8s/overlays/round-robin", "k8s/overlays/v2-default"]);
    expect(targets.every((t) => t.checks !== undefined)).toBe(true);
  });

  it("an unknown lesson is a usage error listing the lessons", async () => {
    await expect(demo(["round-robin", "canary"])).rejects.toThrow(
      new UsageError(
        `"canary" is neither a lesson nor a directory with a kustomization.yaml; lessons: ${allLessons().join(", ")}`,
      ),
    );
  });

  it("as a process: a usage error is exit 2, the message and the usage on stderr, nothing on stdout", async () => {
    const { code, stdout, stderr } = await runNode(["lessons/src/cli/demo.ts", "round-robin", "canary"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(
      /^demo: "canary" is neither a lesson nor a directory with a kustomization\.yaml; lessons: .*\nusage: npm run demo /,
    );
  });

  it("gateway-api/ingress-gateway: the Gateway's own gateway, checked through its Service with a Host header, passes", async () => {
    const { code, stdout } = await demo(["gateway-api/ingress-gateway"]);
    expect(stdout).toMatch(/== gateway-api\/ingress-gateway: [\s\S]*npm run lesson -- gateway-api\/ingress-gateway /);
    expect(stdout).toContain("flaskapp-gateway-istio: HTTPRoute flaskapp-ingress rules[0] → flaskapp-v2");
    expect(stdout).toContain("flaskapp-gateway-istio: no Gateway route for Host unknown.example.com");
    expect(stdout).toContain("all checks passed");
    expect(code).toBe(0);
  }, 60_000);

  it("a lesson the Gateway API cannot express is a usage error saying why and which lesson to run", async () => {
    await expect(demo(["gateway-api/circuit-breaker"])).rejects.toThrow(
      new UsageError(
        "gateway-api/circuit-breaker is no lesson: connection-pool limits are no Gateway API field: only a DestinationRule sets them; run circuit-breaker (Istio's API)",
      ),
    );
  });

  it("--serve keeps the mesh up until SIGINT and prints how to reach it", async () => {
    const child = spawn(process.execPath, ["lessons/src/cli/demo.ts", "--serve", "v2-default"], { cwd: ROOT });
    let stdout = "";
    child.stdout.on("data", (c) => (stdout += c));
    const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
    await expect.poll(() => stdout, { timeout: 20_000 }).toContain("Ctrl-C stops the mesh");
    const url = /is served at (http:\/\/127\.0\.0\.1:\d+)/.exec(stdout)![1]!;
    expect(stdout).toContain(`npx tally -n 100 ${url}/env/version`);
    expect(await (await fetch(`${url}/env/version`)).text()).toBe("v2");
    // The live view, on a loopback address of its own.
    const view = /^the live view \(graph, why, traffic, checks\): (http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(stdout)![1]!;
    expect((await fetch(`${view}api/meta`).then((r) => r.json())).lesson).toBe("v2-default");
    child.kill("SIGINT");
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/env/version`)).rejects.toThrow();
    await expect(fetch(view)).rejects.toThrow();
  }, 60_000);
});

describe("npm run demo: the playground", () => {
  /** A copy of a lesson in a directory of its own: two levels below k8s/, as its relative paths need. */
  function playground(
    lesson: string,
    edit: (text: string) => string = (t) => t,
    checks = true,
  ): { base: string; dir: string } {
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
    const { dir } = playground("weighted", (t) =>
      t.replace("weight: 70", "weight: 1").replace("weight: 30", "weight: 3"),
    );
    const { code, stdout } = await demo([dir]);
    expect(code).toBe(1);
    expect(stdout).toContain(`kubectl apply -k ${dir}`);
    expect(stdout).toMatch(/→ flaskapp subset v2 \(weight 3 of 4\) → 200/);
    expect(stdout).toMatch(/^FAIL {2}about 70% v1 and 30% v2/m);
  }, 60_000);

  it("a directory relative to where npm was started (INIT_CWD), without checks.yaml: starts, sends a sample, checks nothing", async () => {
    const { base } = playground("v2-default", undefined, false);
    const { code, stdout } = await demo(["./v2-default"], { ...process.env, INIT_CWD: base });
    expect(code).toBe(0);
    expect(stdout).toContain("no checks.yaml beside the kustomization");
    expect(stdout).toContain("nothing was checked");
  }, 60_000);

  it("a lesson name wins over a directory of the same name", async () => {
    const { base } = playground("v2-default", (t) => t.replace("subset: v2", "subset: v1"));
    const [target] = await demoTargets(["v2-default"], base);
    expect(target).toMatchObject({
      name: "v2-default",
      dir: overlayDir("v2-default"),
      display: "k8s/overlays/v2-default",
    });
  });

  it("--serve takes a directory too, and stops its mesh when told", async () => {
    const { dir } = playground("v2-default", undefined, false);
    let stop!: () => void;
    const run = captureIo(process.env);
    const served = demoCommand(["--serve", dir], run.io, () => new Promise<void>((resolve) => (stop = resolve)));
    await expect.poll(() => run.stdout(), { timeout: 20_000 }).toContain("Ctrl-C stops the mesh");
    const url = /http:\/\/flaskapp \(as the sleep pod calls it\) is served at (http:\/\/127\.0\.0\.1:\d+)/.exec(
      run.stdout(),
    )![1]!;
    expect(await (await fetch(`${url}/env/version`)).text()).toBe("v2");
    stop();
    expect(await served).toBe(0);
    expect(run.stdout()).toContain("stopping the mesh preview");
    expect(runningPodCount()).toBe(0);
    await expect(fetch(`${url}/env/version`)).rejects.toThrow();
  }, 60_000);

  it.each([
    [
      "an Istio release the preview does not model",
      ["--istio", "1.26", "weighted"],
      /--istio 1\.26: the preview models Istio 1\.27, 1\.28, 1\.29, 1\.30, 1\.31/,
    ],
    [
      "a directory without a kustomization",
      ["test"],
      /"test" is neither a lesson nor a directory with a kustomization\.yaml/,
    ],
    ["--serve with two targets", ["--serve", "weighted", "mirror"], /--serve takes one lesson or directory/],
    ["an unknown option", ["--fast", "weighted"], /^unknown option --fast$/],
  ])("usage error: %s", async (_name, args, message) => {
    const run = demo(args, { ...process.env, INIT_CWD: ROOT });
    await expect(run).rejects.toThrow(UsageError);
    await expect(run).rejects.toThrow(message);
  });
});

describe("npm run demo: process hygiene", () => {
  it.each(["SIGTERM", "SIGINT"] as const)(
    "%s to npm's pid stops the demo and every pod it started",
    async (signal) => {
      const npm = spawn("npm", ["run", "demo", "--silent", "--", "timeout"], {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      });
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
    },
    60_000,
  );
});
