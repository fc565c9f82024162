// npm run demo on the learner's path: a mistake on the command line is one clean line,
// --all ends with one summary table, --serve prints only commands that work (each is run
// here), a playground without checks.yaml still shows what its rules do, and without
// kubectl both npm run demo and npm test say so in one line.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { overlayDir } from "#lessons/catalog/lessons.ts";
import { demoCommand, parseDemoArgs, summaryTable } from "#lessons/cli/demo.ts";
import { ROOT, TALLY_BUNDLE } from "#lessons/core/paths.ts";
import { runProgram } from "#lessons/core/run.ts";
import { captureIo } from "./stand-ins/fake-cluster.ts";

const temps: string[] = [];
afterAll(() => {
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** httpie is not always installed: its line is run where it is, and checked for --ignore-stdin everywhere. */
const httpieInstalled = (process.env.PATH ?? "").split(":").some((dir) => dir !== "" && existsSync(join(dir, "http")));

const demoProcess = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  runProgram(process.execPath, ["lessons/src/cli/demo.ts", ...args], 60_000, { cwd: ROOT, env });

/** A copy of a lesson two levels below k8s/ (its ../../ paths hold), optionally edited, optionally without checks.yaml. */
function playground(lesson: string, edit: (text: string) => string = (t) => t, checks = true): string {
  const base = mkdtempSync(join(ROOT, "k8s/.playground-"));
  temps.push(base);
  const dir = join(base, lesson);
  cpSync(overlayDir(lesson), dir, { recursive: true });
  const rules = join(dir, "virtual-service.yaml");
  writeFileSync(rules, edit(readFileSync(rules, "utf8")));
  if (!checks) rmSync(join(dir, "checks.yaml"));
  return dir;
}

/** A PATH with node on it and no kubectl. */
function pathWithoutKubectl(): string {
  const bin = mkdtempSync(join(tmpdir(), "no-kubectl-"));
  temps.push(bin);
  symlinkSync(process.execPath, join(bin, "node"));
  return bin;
}

describe("npm run demo: the command line", () => {
  it.each([
    [["--nope"], "unknown option --nope"],
    [["--all", "weighted"], "--all runs every lesson: name no lesson beside it (got weighted)"],
    [["--all", "--serve"], "--all runs every lesson and stops; --serve keeps one up: choose one"],
    [["--istio"], "option --istio <value> needs a value"],
    [["--serve=yes", "weighted"], "option --serve takes no value"],
  ])("%j: one clean line", (args, message) => {
    expect(() => parseDemoArgs(args)).toThrow(message);
  });

  it("as a process: the line and the usage on stderr, exit 2, and no quote left open", async () => {
    const run = await demoProcess(["--all", "--fast"]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe("");
    const [first, second] = run.stderr.split("\n");
    expect(first).toBe("demo: unknown option --fast");
    expect(second).toMatch(/^usage: npm run demo /);
    expect(run.stderr).toContain("npm run demo -- --all");
  });

  it("the summary table: lesson, track, result, checks, time, in columns", () => {
    const table = summaryTable([
      { lesson: "weighted", track: "Istio's API", passed: true, checksPassed: 1, checks: 1, ms: 812 },
      {
        lesson: "gateway-api/header-canary",
        track: "Gateway API",
        passed: false,
        checksPassed: 2,
        checks: 3,
        ms: 12_345,
      },
    ]);
    expect(table).toBe(
      [
        "lesson                     track        result  checks  time",
        "weighted                   Istio's API  PASS    1/1     0.8s",
        "gateway-api/header-canary  Gateway API  FAIL    2/3     12.3s",
        "",
      ].join("\n"),
    );
  });
});

describe("npm run demo -- --serve: every command it prints works", () => {
  it("header-canary: the URLs answer, and each curl, http and tally line runs as printed", async () => {
    let stop!: () => void;
    const run = captureIo(process.env);
    const served = demoCommand(
      ["--serve", "header-canary"],
      run.io,
      () => new Promise<void>((resolve) => (stop = resolve)),
    );
    try {
      await expect.poll(() => run.stdout(), { timeout: 20_000 }).toContain("Ctrl-C stops the mesh");
      const out = run.stdout();
      expect(out).not.toMatch(/http:\/\/sleep\b/);
      const urls = [...out.matchAll(/is served at (http:\/\/127\.0\.0\.1:\d+)/g)].map((m) => m[1]!);
      expect(urls.length).toBeGreaterThan(0);
      for (const url of urls) {
        const res = await fetch(`${url}/`);
        expect([res.status, await res.text()]).not.toEqual([503, "no healthy upstream"]);
      }
      const lines = out.split("\n").map((l) => l.trim());
      const http = lines.filter((l) => l.startsWith("http "));
      expect(http.length).toBeGreaterThan(0);
      for (const line of http) expect(line).toMatch(/^http --ignore-stdin --body /);
      const commands = lines.filter(
        (l) => l.startsWith("curl ") || l.startsWith("npx tally ") || (l.startsWith("http ") && httpieInstalled),
      );
      expect(commands.filter((c) => c.startsWith("npx tally ")).length).toBeGreaterThan(1);
      for (const command of commands) {
        const shell = command.replace(/^npx tally /, `${process.execPath} ${TALLY_BUNDLE} `);
        const ran = await runProgram("bash", ["-c", shell], 30_000, { cwd: ROOT });
        expect(ran.code, `${command}\n${ran.stdout}${ran.stderr}`).toBe(0);
        expect(ran.stdout).not.toContain("no healthy upstream");
      }
    } finally {
      stop();
      await served;
    }
  }, 60_000);
});

describe("npm run demo: a playground that teaches", () => {
  it("without checks.yaml: a sample of 100 requests shows the split and the decisions, and says nothing was checked", async () => {
    const dir = playground("weighted", undefined, false);
    const run = captureIo(process.env);
    const code = await demoCommand([dir], run.io, () => new Promise(() => {}));
    expect(code).toBe(0);
    const out = run.stdout();
    expect(out).toContain("no checks.yaml beside the kustomization: a sample instead, 100 requests to /env/version");
    expect(out).toMatch(/^\$ tally -n 100 -c 1 http:\/\/flaskapp\/env\/version$/m);
    expect(out).toMatch(/^ {2}v1 +\d+ /m);
    expect(out).toMatch(/sleep: VirtualService flaskapp http\[0\] → flaskapp subset v2 \(weight 30 of 100\) → 200/);
    expect(out).toMatch(/nothing was checked: no checks\.yaml/);
    expect(out).not.toContain("all checks passed");
  }, 60_000);

  it("with the lesson's checks.yaml, an edit that fails says the expectations are to be edited alongside the rules", async () => {
    const dir = playground("v2-default", (t) => t.replace("subset: v2", "subset: v1"));
    const run = captureIo(process.env);
    const code = await demoCommand([dir], run.io, () => new Promise(() => {}));
    expect(code).toBe(1);
    expect(run.stdout()).toMatch(/sleep: VirtualService flaskapp-default-v2 http\[0\] → flaskapp subset v1 → 200/);
    expect(run.stdout()).toContain(
      "why v2=100 failed (observed 0% (0 of 100)): no rule produced v2; the answers came from 100 × VirtualService flaskapp-default-v2 http[0] → flaskapp subset v1 → 200\n",
    );
    expect(run.stdout()).toContain("/checks.yaml: the expectations are the ones the rules had when you copied them");
    expect(run.stdout()).toContain("edit the expectations alongside them");
  }, 60_000);

  it("a route to a host no Service names: the sidecar's empty 503s are counted by status, and the decision names the missing Service", async () => {
    const dir = playground("v2-default", (t) => t.replace(/host: flaskapp$/m, "host: flaskap"));
    const run = captureIo(process.env);
    expect(await demoCommand([dir], run.io, () => new Promise(() => {}))).toBe(1);
    expect(run.stdout()).toMatch(/^ {2}503 \(empty\) +100 +100\.0%/m);
    expect(run.stdout()).toContain(
      "→ flaskap subset v2 (no Service flaskap.istio-lessons: the destination host names no Service of the mesh) → 503",
    );
  }, 60_000);

  it("kind: VirtualSevice is an unknown kind with the nearest real one, and Flask_App a name the API server refuses", async () => {
    const typo = playground("v2-default", (t) => t.replace("kind: VirtualService", "kind: VirtualSevice"));
    const named = playground("v2-default", (t) => t.replace("name: flaskapp-default-v2", "name: Flask_App"));
    const exit = async (dir: string) => {
      const run = await demoProcess([dir]);
      return [run.code, run.stderr.trim()];
    };
    expect(await exit(typo)).toEqual([
      1,
      expect.stringMatching(
        /^demo: VirtualSevice flaskapp-default-v2: VirtualSevice is no kind of networking\.istio\.io: did you mean VirtualService\? \(its kinds: /,
      ),
    ]);
    expect(await exit(named)).toEqual([
      1,
      expect.stringMatching(
        /^demo: VirtualService Flask_App: metadata\.name "Flask_App": the API server takes only an RFC 1123 subdomain here/,
      ),
    ]);
  }, 60_000);
});

describe("without kubectl", () => {
  it("npm run demo says so in one line, with where to get it, and exits 5", async () => {
    const run = await demoProcess(["weighted"], { ...process.env, PATH: pathWithoutKubectl() });
    expect(run.code).toBe(5);
    expect(run.stdout).toBe("");
    expect(run.stderr).toBe(
      "demo: kubectl is not installed or not on PATH: install it from https://kubernetes.io/docs/tasks/tools/ (it renders the overlays too)\n",
    );
  });

  it("npm test says so in one line before any test runs (not vitest's 'No test files found')", async () => {
    const bin = pathWithoutKubectl();
    mkdirSync(join(bin, "cache"));
    const run = await runProgram(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", "--project", "unit", "test/common/bounded.test.ts"],
      60_000,
      { cwd: ROOT, env: { PATH: bin, HOME: bin, CI: "1" } },
    );
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([
      "npm test: kubectl is not installed or not on PATH: install it from https://kubernetes.io/docs/tasks/tools/ (it renders the overlays too); the tests render every lesson with `kubectl kustomize`",
    ]);
  }, 60_000);
});
