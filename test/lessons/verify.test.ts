// `npm run verify`: the exact kubectl commands it runs on a cluster, checked
// through --dry-run (there is no cluster here), and its usage errors.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { LESSONS } from "../../lessons/src/lessons.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

function verify(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["lessons/src/verify.ts", ...args], { cwd: ROOT, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const commands = (stdout: string) => stdout.split("\n").filter((l) => l.startsWith("$ "));

describe("verify --dry-run prints the exact commands", () => {
  it("header-canary: one tally per check, in the sleep pod, against http://flaskapp", async () => {
    const { code, stdout } = await verify("header-canary", "--dry-run");
    expect(code).toBe(0);
    expect(commands(stdout)).toEqual([
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 -H 'lab: canary' --expect v2=100 http://flaskapp/env/version",
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 -H 'lab: phoenix' --expect v1=100 http://flaskapp/env/version",
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 --expect v1=100 http://flaskapp/env/version",
    ]);
  });

  it("round-robin with --namespace", async () => {
    const { stdout } = await verify("round-robin", "--dry-run", "--namespace", "lab-7");
    expect(commands(stdout)).toEqual([
      "$ kubectl exec -n lab-7 deploy/sleep -c sleep -- tally -n 200 -c 1 --expect 'v1=50±15' --expect 'v2=50±15' http://flaskapp/env/version",
    ]);
  });

  it("mirror: tally tagged with a run id, then the logs of every flaskapp-v2 pod", async () => {
    const { code, stdout } = await verify("mirror", "--dry-run");
    expect(code).toBe(0);
    const [tally, logs] = commands(stdout);
    const runId = /x-request-id: (lesson-check-[0-9a-f-]{36})/.exec(tally!)?.[1];
    expect(runId).toBeDefined();
    expect(tally).toBe(`$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 2 -H 'x-request-id: ${runId}' --expect v1=100 http://flaskapp/env/version`);
    expect(logs).toBe("$ kubectl logs -n istio-lessons -l app=flaskapp,version=v2 -c flaskapp --tail=-1 --since=5m");
    expect(stdout).toContain(`count the lines with "requestId":"${runId}" and a host ending in -shadow: at least 50`);
  });

  it.each(LESSONS)("%s prints one kubectl exec per check", async (lesson) => {
    const { code, stdout } = await verify(lesson, "--dry-run");
    expect(code).toBe(0);
    expect(commands(stdout).filter((c) => c.startsWith("$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally ")).length).toBeGreaterThan(0);
  });
});

describe("verify usage errors exit 2", () => {
  const cases: Array<[string, string[], string]> = [
    ["no lesson", [], "verify: name a lesson"],
    ["two lessons", ["round-robin", "mirror"], "verify: one lesson at a time"],
    ["unknown lesson", ["canary"], `verify: unknown lesson "canary"; lessons: ${LESSONS.join(", ")}`],
    ["bad namespace", ["round-robin", "--namespace", "Not_A_Name"], `verify: --namespace "Not_A_Name" is not a Kubernetes namespace name`],
    ["unknown option", ["round-robin", "--force"], "verify: Unknown option '--force'"],
  ];
  it.each(cases)("%s", async (_name, args, message) => {
    const { code, stderr } = await verify(...args);
    expect(code).toBe(2);
    expect(stderr).toContain(message);
    expect(stderr).toContain("usage: npm run verify");
  });
});

describe("verify without a reachable cluster", () => {
  it("reports each check as FAIL and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
    const kubeconfig = join(dir, "config");
    // A cluster on a closed port of 127.0.0.1: kubectl runs for real and cannot connect.
    writeFileSync(
      kubeconfig,
      "apiVersion: v1\nkind: Config\nclusters: [{name: none, cluster: {server: 'http://127.0.0.1:1'}}]\ncontexts: [{name: none, context: {cluster: none, user: none}}]\nusers: [{name: none, user: {}}]\ncurrent-context: none\n",
    );
    try {
      const result = await new Promise<{ code: number; stdout: string }>((resolve) => {
        execFile(process.execPath, ["lessons/src/verify.ts", "v2-default"], { cwd: ROOT, timeout: 60_000, env: { ...process.env, KUBECONFIG: kubeconfig } }, (error, stdout) => {
          resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout });
        });
      });
      expect(result.code).toBe(1);
      expect(result.stdout).toContain("FAIL  only v2 answers /env/version");
      expect(result.stdout).toContain("1 of 1 checks FAILED");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
