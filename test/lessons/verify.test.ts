// `npm run verify`: the exact kubectl commands it runs on a cluster (through
// --dry-run), its usage errors, a cluster it cannot reach, and its verdicts
// against a stand-in kubectl backed by the mesh preview.
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { renderKustomization } from "../../lessons/src/kustomize.ts";
import { allLessons, LESSONS, overlayDir } from "../../lessons/src/lessons.ts";
import { Mesh } from "../../lessons/src/mesh/mesh.ts";
import { TALLY_BUNDLE } from "../../lessons/src/preview.ts";

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
    expect(stdout).toContain(`count the request lines with "requestId":"${runId}": at least 50`);
  });

  it("gateway-api/ingress-gateway: the kustomization to apply, then tally against the Gateway's own Service with the Host header", async () => {
    const { code, stdout } = await verify("gateway-api/ingress-gateway", "--dry-run");
    expect(code).toBe(0);
    expect(stdout).toContain("(apply it first: kubectl apply -k k8s/gateway-api/ingress-gateway)");
    expect(commands(stdout)[0]).toBe("$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 -H 'Host: flaskapp.example.com' --expect v1=100 http://flaskapp-gateway-istio/env/version");
  });

  it.each(allLessons())("%s prints one kubectl exec per check", async (lesson) => {
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
    ["a lesson the Gateway API cannot express", ["gateway-api/fault-abort"], "verify: gateway-api/fault-abort is no lesson: the Gateway API has no fault injection: no filter answers in place of the app; run fault-abort (Istio's API)"],
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

describe("verify against a stand-in cluster", () => {
  // No cluster here, so a `kubectl` on PATH stands in for one: `exec ... -- tally ARGS`
  // runs the real tally bundle against the mesh preview of the lesson, and
  // `logs` prints the request logs of the preview's pods of that Deployment, and
  // anything else (`kubectl kustomize`) goes to the real kubectl. verify itself
  // runs unchanged: its commands, output handling and verdicts.
  const SHIM = `#!/usr/bin/env bash
set -euo pipefail
case "$1" in
  exec)
    while [ "$1" != "--" ]; do shift; done
    shift 2
    args=()
    for a in "$@"; do args+=("\${a/http:\\/\\/flaskapp/$PREVIEW_URL}"); done
    exec "$NODE" "$TALLY" "\${args[@]}" ;;
  logs)
    exec curl -sf "$LOGS_URL" ;;
  *)
    exec "$REAL_KUBECTL" "$@" ;;
esac
`;

  function realKubectl(): string {
    const dir = (process.env.PATH ?? "").split(":").find((d) => existsSync(join(d, "kubectl")));
    if (!dir) throw new Error("kubectl is not on PATH: it renders the overlays");
    return join(dir, "kubectl");
  }

  async function withStandIn<T>(lesson: string, body: (env: NodeJS.ProcessEnv) => Promise<T>): Promise<T> {
    const mesh = await Mesh.start(await renderKustomization(overlayDir(lesson as never)));
    const logs = createServer((_req, res) => res.end(mesh.requestLogs("flaskapp-v2").map((l) => JSON.stringify(l)).join("\n")));
    await new Promise<void>((resolve) => logs.listen(0, "127.0.0.1", resolve));
    const bin = mkdtempSync(join(tmpdir(), "kubectl-"));
    writeFileSync(join(bin, "kubectl"), SHIM, { mode: 0o755 });
    try {
      return await body({
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        NODE: process.execPath,
        REAL_KUBECTL: realKubectl(),
        TALLY: TALLY_BUNDLE,
        PREVIEW_URL: mesh.url,
        LOGS_URL: `http://127.0.0.1:${(logs.address() as AddressInfo).port}/`,
      });
    } finally {
      logs.close();
      await mesh.stop();
      rmSync(bin, { recursive: true, force: true });
    }
  }

  function verifyWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string }> {
    return new Promise((resolve) => {
      execFile(process.execPath, ["lessons/src/verify.ts", ...args], { cwd: ROOT, timeout: 60_000, env }, (error, stdout) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout });
      });
    });
  }

  it.each([
    ["v2-default", "k8s/overlays/v2-default"],
    ["gateway-api/v2-default", "k8s/gateway-api/v2-default"],
  ])("%s passes, printing tally's split", async (lesson, kustomization) => {
    const { code, stdout } = await withStandIn(lesson, (env) => verifyWith(env, lesson));
    expect(stdout).toContain(`(apply it first: kubectl apply -k ${kustomization})`);
    expect(stdout).toMatch(/v2 +100 +100\.0%/);
    expect(stdout).toContain("PASS  only v2 answers /env/version");
    expect(stdout).toContain("all 1 checks passed");
    expect(code).toBe(0);
  }, 60_000);

  it("mirror passes: the mirrored copies are counted in flaskapp-v2's logs", async () => {
    const { code, stdout } = await withStandIn("mirror", (env) => verifyWith(env, "mirror"));
    expect(stdout).toContain("$ kubectl logs -n istio-lessons -l app=flaskapp,version=v2 -c flaskapp --tail=-1 --since=5m");
    expect(stdout).toMatch(/flaskapp-v2 logged 50 mirrored copies of this run's requests, Host unchanged; at least 50 expected/);
    expect(stdout).toContain("PASS  clients see only v1 and v2 receives the mirrored copies");
    expect(code).toBe(0);
  }, 60_000);

  it("a lesson whose rules are not applied fails: round-robin's pods checked against v2-default's expectation", async () => {
    const { code, stdout } = await withStandIn("round-robin", (env) => verifyWith(env, "v2-default"));
    expect(stdout).toContain("FAIL  only v2 answers /env/version");
    expect(stdout).toContain("1 of 1 checks FAILED");
    expect(code).toBe(1);
  }, 60_000);
});
