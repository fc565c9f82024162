// `npm run verify`: the exact kubectl commands it runs (--dry-run, and the same
// commands recorded by a stand-in kubectl), what it does with no cluster (the
// real kubectl: no kubeconfig, a closed port, flaskapp answering where the API
// server should be), a cluster that is not ready for the lesson (namespace,
// sidecars, images, other lessons' rules), and its verdicts against a fake
// cluster whose `kubectl exec ... -- tally` runs the real tally bundle against
// the mesh preview: PASS, FAIL, convergence over several tries, and --all.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { allLessons, checksFile, LESSONS, overlayDir, sidecarLessons, type Lesson } from "#lessons/catalog/lessons.ts";
import { loadChecks, tallyArgs } from "#lessons/checks/checks.ts";
import { runTally } from "#lessons/checks/preview.ts";
import { NEWEST_RELEASE } from "#lessons/mesh/releases.ts";
import { EXIT } from "#lessons/cluster/plan.ts";
import { runProgram } from "#lessons/core/run.ts";
import { listen, makeApp } from "../flaskapp/helpers.ts";
import { verifyCommand } from "#lessons/cli/verify.ts";
import { walkLessons } from "#lessons/cluster/verify-steps.ts";
import { lessonCommand } from "#lessons/cli/lesson.ts";
import {
  cachedRenders,
  captureIo,
  dryRunCommands,
  FakeCluster,
  GATEWAY_API_QUERY,
  OBJECT_DELETES,
  ruleKinds,
  refusal,
  runWith,
} from "./stand-ins/fake-cluster.ts";

const RULES = await ruleKinds();

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const PROBE = [
  "$ kubectl config view --minify -o 'jsonpath={.clusters[0].cluster.server}'",
  "$ kubectl version -o json --request-timeout=10s",
];
const READINESS = [
  GATEWAY_API_QUERY("$ kubectl"),
  "$ kubectl get namespace istio-lessons -o json --request-timeout=10s",
  "$ kubectl get pods -n istio-lessons -o json --request-timeout=10s",
  ...RULES.gets("$ kubectl"),
];
const RUN_ID = /lesson-check-[0-9a-f-]{36}/g;

let renders: Map<Lesson, K8sObject[]>;
beforeAll(async () => {
  renders = (await cachedRenders()) as Map<Lesson, K8sObject[]>;
});
const render = (lesson: Lesson) => renders.get(lesson)!;

let fake: FakeCluster | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

/** verify, in this process, with the stand-ins (or the given environment) on PATH. */
async function verify(args: string[], env?: NodeJS.ProcessEnv) {
  fake ??= await FakeCluster.start();
  return runWith(verifyCommand, args, env ?? fake.env());
}

describe("verify --dry-run prints the exact commands", () => {
  it("header-canary: the probe, the readiness queries, then one tally per check in the sleep pod", async () => {
    const { code, stdout } = await verify(["header-canary", "--dry-run"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout)).toEqual([
      ...PROBE,
      ...READINESS,
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 -H 'lab: canary' --expect v2=100 http://flaskapp/env/version",
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 -H 'lab: phoenix' --expect v1=100 http://flaskapp/env/version",
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 --expect v1=100 http://flaskapp/env/version",
    ]);
    expect(stdout).toContain("# each check must pass 3 times in a row; a failing one is tried again for up to 1m\n");
    expect(fake!.calls()).toEqual([]);
  });

  it("round-robin with --namespace, --context, --passes and --within", async () => {
    const { stdout } = await verify([
      "round-robin",
      "--dry-run",
      "--namespace",
      "lab-7",
      "--context",
      "kind-lab",
      "--passes",
      "1",
      "--within",
      "0s",
    ]);
    expect(dryRunCommands(stdout)).toEqual([
      "$ kubectl --context kind-lab config view --minify -o 'jsonpath={.clusters[0].cluster.server}'",
      "$ kubectl --context kind-lab version -o json --request-timeout=10s",
      GATEWAY_API_QUERY("$ kubectl --context kind-lab"),
      "$ kubectl --context kind-lab get namespace lab-7 -o json --request-timeout=10s",
      "$ kubectl --context kind-lab get pods -n lab-7 -o json --request-timeout=10s",
      ...RULES.gets("$ kubectl --context kind-lab", "lab-7"),
      "$ kubectl --context kind-lab exec -n lab-7 deploy/sleep -c sleep -- tally -n 200 -c 1 --expect 'v1=50±15' --expect 'v2=50±15' http://flaskapp/env/version",
    ]);
    expect(stdout).toContain("# each check must pass 1 times in a row; a failing one is tried again for up to 0ms\n");
  });

  it("mirror: tally tagged with a run id, then the logs of every flaskapp-v2 pod", async () => {
    const { code, stdout } = await verify(["mirror", "--dry-run"]);
    expect(code).toBe(0);
    const [tally, logs] = dryRunCommands(stdout).slice(PROBE.length + READINESS.length);
    const runId = /x-request-id: (lesson-check-[0-9a-f-]{36})/.exec(tally!)?.[1];
    expect(runId).toBeDefined();
    expect(tally).toBe(
      `$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 2 -H 'x-request-id: ${runId}' --expect v1=100 http://flaskapp/env/version`,
    );
    expect(logs).toBe("$ kubectl logs -n istio-lessons -l app=flaskapp,version=v2 -c flaskapp --tail=-1 --since=5m");
    expect(stdout).toContain(`count the request lines with "requestId":"${runId}": at least 50`);
  });

  it("gateway-api/ingress-gateway: tally against the Service istiod deploys for the Gateway, with the Host header", async () => {
    const { code, stdout } = await verify(["gateway-api/ingress-gateway", "--dry-run"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout).slice(PROBE.length + READINESS.length)[0]).toBe(
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 50 -c 1 -H 'Host: flaskapp.example.com' --expect v1=100 http://flaskapp-gateway-istio/env/version",
    );
  });

  it.each(sidecarLessons())("%s prints one kubectl exec per check after the readiness queries", async (lesson) => {
    const { code, stdout } = await verify([lesson, "--dry-run"]);
    expect(code).toBe(0);
    const commands = dryRunCommands(stdout);
    expect(commands.slice(0, PROBE.length + READINESS.length)).toEqual([...PROBE, ...READINESS]);
    expect(
      commands.filter((c) => c.startsWith("$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally ")).length,
    ).toBeGreaterThan(0);
  });
});

describe("verify usage errors", () => {
  const cases: Array<[string, string[], string]> = [
    ["no lesson", [], "name a lesson (or --all)"],
    ["two lessons", ["round-robin", "mirror"], "one lesson at a time (or --all)"],
    ["a lesson with --all", ["--all", "mirror"], "--all walks every lesson: name none"],
    ["unknown lesson", ["canary"], `unknown lesson "canary"; lessons: ${LESSONS.join(", ")}`],
    [
      "bad namespace",
      ["round-robin", "--namespace", "Not_A_Name"],
      `--namespace "Not_A_Name" is not a Kubernetes namespace name`,
    ],
    ["--namespace with --all", ["--all", "--namespace", "lab"], "--namespace cannot be used with --all"],
    ["unknown option", ["round-robin", "--force"], "Unknown option '--force'"],
    ["--passes 0", ["round-robin", "--passes", "0"], '--passes "0": expected a whole number from 1 to 10'],
    ["--passes 11", ["round-robin", "--passes", "11"], '--passes "11": expected a whole number from 1 to 10'],
    ["--passes 2.5", ["round-robin", "--passes", "2.5"], '--passes "2.5"'],
    [
      "--within over 30m",
      ["round-robin", "--within", "31m"],
      '--within "31m": expected a number with a unit: 500ms, 1.5s, 10s, 1m, 1h, from 0ms to 30m',
    ],
    ["--within without a unit", ["round-robin", "--within", "60"], '--within "60"'],
    ["--request-timeout under 1s", ["round-robin", "--request-timeout", "500ms"], '--request-timeout "500ms"'],
    ["--wait over 60m", ["--all", "--wait", "2h"], '--wait "2h"'],
    ["a context that is an option", ["round-robin", "--context=-x"], '--context "-x" is not a context name'],
  ];
  it.each(cases)("%s", async (_name, args, message) => {
    expect((await refusal(verifyCommand, args)).message).toContain(message);
  });

  it.each([
    ["--passes", "1"],
    ["--passes", "10"],
    ["--within", "0s"],
    ["--within", "30m"],
    ["--request-timeout", "1s"],
    ["--request-timeout", "5m"],
  ])("accepts the edge %s %s", async (flag, value) => {
    const { code } = await verify(["weighted", "--dry-run", flag, value]);
    expect(code).toBe(0);
  });

  it("as a process: exit 2, the message and the usage on stderr", async () => {
    const result = await runProgram(process.execPath, ["lessons/src/cli/verify.ts", "canary"], 30_000, { cwd: ROOT });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(
      /^verify: unknown lesson "canary"; lessons: .*\nusage: npm run verify -- <lesson> \[options\]/,
    );
  });
});

describe("verify without a reachable cluster: one line, exit 3, no kubectl noise", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  /** The real kubectl, with a kubeconfig for this server (or none). */
  function realKubectlEnv(server?: string): NodeJS.ProcessEnv {
    const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
    dirs.push(dir);
    const kubeconfig = join(dir, "config");
    if (server) {
      writeFileSync(
        kubeconfig,
        `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: '${server}'}}]\ncontexts: [{name: lab, context: {cluster: c, user: u}}]\nusers: [{name: u, user: {}}]\ncurrent-context: lab\n`,
      );
    }
    return { PATH: process.env.PATH, HOME: dir, KUBECONFIG: kubeconfig };
  }

  it("no kubeconfig: kubectl would fall back to localhost:8080; says so and how to get a cluster", async () => {
    const { code, stdout, stderr } = await verify(["weighted"], realKubectlEnv());
    expect(code).toBe(EXIT.noCluster);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      "verify: no cluster: kubectl has no current context (no kubeconfig, or none selected), so it would try http://localhost:8080; create a cluster with `npm run cluster -- up`, or select yours with `kubectl config use-context NAME`\n",
    );
  });

  it("an API server that refuses connections", async () => {
    const { code, stdout, stderr } = await verify(["weighted"], realKubectlEnv("http://127.0.0.1:1"));
    expect(code).toBe(EXIT.noCluster);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      "verify: no cluster: the API server at http://127.0.0.1:1 (the current context) does not answer: The connection to the server 127.0.0.1:1 was refused - did you specify the right host or port?\n",
    );
  });

  it("the quick start's flaskapp where the API server should be: not a Kubernetes API server", async () => {
    // flaskapp (the real app, in this process) stands where kubectl's fallback (localhost:8080) would find it.
    const app = await listen(makeApp().app);
    try {
      const { code, stderr } = await verify(["weighted", "--context", "lab"], realKubectlEnv(app.url));
      expect(code).toBe(EXIT.noCluster);
      expect(stderr).toBe(
        `verify: no cluster: ${app.url} (context "lab") answers, but it is not a Kubernetes API server (Error from server (NotFound): the server could not find the requested resource): is another program listening there?\n`,
      );
    } finally {
      await app.close();
    }
  });

  it("a context that does not exist", async () => {
    const { code, stderr } = await verify(["weighted", "--context", "minikube"], realKubectlEnv("http://127.0.0.1:1"));
    expect(code).toBe(EXIT.noCluster);
    expect(stderr).toBe(
      'verify: no cluster: kubectl has no context "minikube" (error: cannot locate context minikube); see `kubectl config get-contexts`\n',
    );
  });

  it("kubectl not installed: one line saying how to get it, exit 5", async () => {
    const { code, stderr } = await verify(["weighted"], { PATH: join(tmpdir(), "no-such-dir") });
    expect(code).toBe(EXIT.missingTool);
    expect(stderr).toBe(
      "verify: kubectl is not installed or not on PATH: install it from https://kubernetes.io/docs/tasks/tools/ (it renders the overlays too)\n",
    );
  });
});

describe("verify knows what it is looking at before any check (exit 4, nothing sent)", () => {
  async function notReady(lesson: Lesson, setUp: (f: FakeCluster) => void) {
    fake = await FakeCluster.start();
    setUp(fake);
    const result = await verify([lesson]);
    expect(result.code).toBe(EXIT.notReady);
    expect(fake.calls().filter((c) => c.argv[0] === "exec")).toEqual([]);
    return result.stderr;
  }

  it("no namespace: apply a lesson first", async () => {
    expect(await notReady("weighted", (f) => f.ready())).toBe(
      "verify: not ready: namespace istio-lessons does not exist: apply a lesson first: npm run lesson -- round-robin\n",
    );
  });

  it("a namespace without istio-injection=enabled", async () => {
    const objects = structuredClone(render("weighted"));
    delete objects.find((o) => o.kind === "Namespace")!.metadata.labels!["istio-injection"];
    expect(await notReady("weighted", (f) => f.ready(objects))).toBe(
      "verify: not ready: namespace istio-lessons lacks the label istio-injection=enabled, so Istio adds no sidecars: kubectl label namespace istio-lessons istio-injection=enabled, then kubectl rollout restart deployment -n istio-lessons\n",
    );
  });

  it.each([
    ["native sidecars (Istio 1.28+)", true],
    ["sidecar containers", false],
  ])("pods at 1/1 without their sidecar, %s", async (_name, native) => {
    const stderr = await notReady("weighted", (f) => {
      f.ready(render("weighted"));
      f.nativeSidecars = native;
      f.injector = false;
    });
    expect(stderr.split("\n")[0]).toBe("verify: not ready:");
    expect(stderr).toContain(
      "  pod sleep-5d8f7c9b4-qx7rz0 runs without the istio-proxy sidecar (1/1): it started before sidecar injection was on, or Istio is not installed (kubectl get pods -n istio-system); then kubectl rollout restart deployment/sleep -n istio-lessons\n",
    );
  });

  it("ImagePullBackOff: the image was never loaded into the cluster", async () => {
    const stderr = await notReady("weighted", (f) => {
      f.ready(render("weighted"));
      f.nodeImages.delete("istio-lessons/flaskapp:0.1.0");
    });
    expect(stderr).toBe(
      [
        "verify: not ready:",
        "  pod flaskapp-v1-5d8f7c9b4-qx7rz0: container flaskapp cannot get image istio-lessons/flaskapp:0.1.0 (ImagePullBackOff): the image is not in the cluster: build and load it (npm run cluster -- up, or kind load docker-image istio-lessons/flaskapp:0.1.0; minikube: minikube image load istio-lessons/flaskapp:0.1.0)",
        "  pod flaskapp-v2-5d8f7c9b4-qx7rz0: container flaskapp cannot get image istio-lessons/flaskapp:0.1.0 (ImagePullBackOff): the image is not in the cluster: build and load it (npm run cluster -- up, or kind load docker-image istio-lessons/flaskapp:0.1.0; minikube: minikube image load istio-lessons/flaskapp:0.1.0)",
        "",
      ].join("\n"),
    );
  });

  it("the previous lesson's rules left beside this one's: named, with the commands that remove them", async () => {
    const stderr = await notReady("weighted", (f) => f.ready([...render("v2-default"), ...render("weighted")]));
    expect(stderr).toBe(
      "verify: not ready:\n  rules of another lesson are still there: VirtualService flaskapp-default-v2, from v2-default; remove them with npm run lesson -- weighted (or kubectl delete virtualservices.networking.istio.io/flaskapp-default-v2 -n istio-lessons)\n",
    );
  });

  it("another lesson's rule under this lesson's name, and this lesson's missing", async () => {
    expect(await notReady("header-canary", (f) => f.ready(render("weighted")))).toBe(
      "verify: not ready:\n  VirtualService flaskapp is not header-canary's, from weighted: npm run lesson -- header-canary\n",
    );
    await fake!.stop();
    expect(await notReady("v2-default", (f) => f.ready(render("round-robin")))).toBe(
      "verify: not ready:\n  missing DestinationRule flaskapp, VirtualService flaskapp-default-v2 of v2-default: npm run lesson -- v2-default\n",
    );
  });
});

describe("verify against a fake cluster running the real tally in the mesh preview", () => {
  it("v2-default passes 3 times in a row (3 tries), printing tally's split and what it checked first", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("v2-default"));
    const { code, stdout, stderr } = await verify(["v2-default"]);
    expect(stderr).toBe("");
    expect(stdout).toContain("cluster https://127.0.0.1:41235 (Kubernetes v1.36.1), namespace istio-lessons\n");
    expect(stdout).toContain(
      "ready: flaskapp-v1, flaskapp-v2, sleep with their sidecars; rules: DestinationRule flaskapp, VirtualService flaskapp-default-v2, and no other lesson's\n",
    );
    expect(stdout).toMatch(/v2 +100 +100\.0%/);
    expect(stdout).toContain("(passed 2 of 3 times in a row; again)");
    expect(stdout).toContain("PASS  only v2 answers /env/version (3 tries)");
    expect(stdout).toContain("all 1 checks passed");
    expect(code).toBe(0);
    // What ran is what --dry-run prints.
    const dry = await verify(["v2-default", "--dry-run"]);
    const tallies = fake.commands().filter((c) => c.includes(" tally "));
    expect(tallies).toHaveLength(3);
    expect([...fake.commands().filter((c) => !c.includes(" tally ")), tallies[0]]).toEqual(dryRunCommands(dry.stdout));
  }, 30_000);

  it("gateway-api/v2-default passes: its HTTPRoute is the rule found, and routes in the preview", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("gateway-api/v2-default"));
    const { code, stdout } = await verify(["gateway-api/v2-default", "--passes", "1"]);
    expect(stdout).toContain(
      "ready: flaskapp-v1, flaskapp-v2, sleep with their sidecars; rules: HTTPRoute flaskapp-default-v2, and no other lesson's\n",
    );
    expect(stdout).toContain("PASS  only v2 answers /env/version");
    expect(code).toBe(0);
  }, 30_000);

  it("gateway-api/v2-default against its Istio-API twin's rules: not ready, the twin's rules named", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("v2-default"));
    const { code, stderr } = await verify(["gateway-api/v2-default"]);
    expect(stderr).toContain(
      "missing HTTPRoute flaskapp-default-v2 of gateway-api/v2-default: npm run lesson -- gateway-api/v2-default\n",
    );
    expect(stderr).toContain(
      "rules of another lesson are still there: VirtualService flaskapp-default-v2, from v2-default;",
    );
    expect(code).toBe(EXIT.notReady);
  }, 30_000);

  it("mirror passes: the mirrored copies are counted in flaskapp-v2's logs", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("mirror"));
    const { code, stdout } = await verify(["mirror", "--passes", "1"]);
    expect(stdout).toContain(
      "$ kubectl logs -n istio-lessons -l app=flaskapp,version=v2 -c flaskapp --tail=-1 --since=5m",
    );
    expect(stdout).toMatch(
      /flaskapp-v2 logged 50 mirrored copies of this run's requests, Host unchanged; at least 50 expected/,
    );
    expect(stdout).toContain("PASS  clients see only v1 and v2 receives the mirrored copies\n");
    expect(code).toBe(0);
  }, 30_000);

  /** round-robin checked (its mesh up), then v2-default applied: the next `stale` tally runs still see round-robin's routing. */
  async function switchedLate(stale: number): Promise<void> {
    fake = await FakeCluster.start();
    fake.ready(render("round-robin"));
    expect((await verify(["round-robin", "--passes", "1"])).code).toBe(0);
    fake.propagationCalls = stale;
    fake.apply(render("v2-default"));
  }

  it("rules that reach the sidecars late: failing tries are retried until the check passes twice in a row", async () => {
    await switchedLate(2);
    const { code, stdout } = await verify(["v2-default", "--passes", "2", "--within", "1m"]);
    expect(stdout.match(/\(failed; trying again: rules take a moment to reach every sidecar\)/g)).toHaveLength(2);
    expect(stdout).toContain("PASS  only v2 answers /env/version (4 tries)");
    expect(code).toBe(0);
  }, 30_000);

  it("--within 0s: a failing check is not tried again, and verify exits 1", async () => {
    await switchedLate(5);
    const { code, stdout } = await verify(["v2-default", "--within", "0s"]);
    expect(stdout).toContain("FAIL  only v2 answers /env/version\n");
    expect(stdout).toContain("1 of 1 checks FAILED");
    expect(fake!.commands().filter((c) => c.includes("--expect v2=100"))).toHaveLength(1);
    expect(code).toBe(EXIT.failed);
  }, 30_000);
});

describe("verify --all", () => {
  it("--dry-run: the probe once, then for each lesson apply, wait, check and remove", async () => {
    const { code, stdout } = await verify(["--all", "--dry-run"]);
    expect(code).toBe(0);
    const blocks = stdout.split(/^== /m);
    expect(dryRunCommands(blocks[0]!)).toEqual(PROBE);
    expect(blocks.slice(1).map((b) => b.split(" ")[0])).toEqual(sidecarLessons());
    expect(dryRunCommands(blocks[3]!)).toEqual([
      GATEWAY_API_QUERY("$ kubectl"),
      ...RULES.deleteOthers("$ kubectl"),
      "$ kubectl delete virtualservices.networking.istio.io,destinationrules.networking.istio.io -n istio-lessons --field-selector 'metadata.name!=flaskapp'",
      ...OBJECT_DELETES("$ kubectl"),
      "$ kubectl apply -k k8s/overlays/weighted",
      "$ kubectl rollout status deployment/flaskapp-v1 deployment/flaskapp-v2 deployment/sleep -n istio-lessons --timeout=5m",
      "$ kubectl get pods -n istio-lessons -o json --request-timeout=10s",
      ...RULES.gets("$ kubectl"),
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 400 -c 4 --expect 'v1=70±10' --expect 'v2=30±10' http://flaskapp/env/version",
      "$ kubectl delete destinationrules.networking.istio.io/flaskapp virtualservices.networking.istio.io/flaskapp -n istio-lessons --ignore-not-found",
    ]);
    // round-robin has no rules of its own: nothing to remove after it.
    expect(dryRunCommands(blocks[1]!).at(-1)).toMatch(/^\$ kubectl exec .* tally /);
    expect(fake!.calls()).toEqual([]);
  });

  it("walks every lesson against the fake cluster: what runs is what --dry-run prints, and a summary table ends it", async () => {
    fake = await FakeCluster.start();
    fake.ready();
    // The routing of each lesson is checked against the mesh preview elsewhere (above, in the walk
    // below and in the preview tests); here every check passes at once: this is about the sequence.
    fake.tally = "scripted";
    const dry = await verify(["--all", "--dry-run", "--passes", "1"]);
    const { code, stdout, stderr } = await verify(["--all", "--passes", "1"]);
    expect(stderr).toBe("");
    expect(stdout).toContain(
      "flaskapp-v2 logged 50 mirrored copies of this run's requests, all with Host *-shadow; at least 50 expected",
    );
    const normalize = (lines: string[]) => lines.map((l) => l.replace(RUN_ID, "RUN-ID"));
    // A check that failed once on this busy machine is run again (--within): the same tally (and logs) command again.
    const withoutRetries = (lines: string[]) =>
      lines.filter((line, i) => !(/ -- tally | logs /.test(line) && lines.slice(Math.max(0, i - 2), i).includes(line)));
    expect(withoutRetries(normalize(fake.commands()))).toEqual(normalize(dryRunCommands(dry.stdout)));
    const table = stdout.slice(stdout.lastIndexOf("\nlesson "));
    const rows = table
      .trim()
      .split("\n")
      .slice(1)
      .map((row) => row.split(/ {2,}/));
    expect(rows.map((row) => row.slice(0, 2))).toEqual(sidecarLessons().map((lesson) => [lesson, "PASS"]));
    for (const row of rows) expect(row[2]).toMatch(/^(\d+)\/\1$/);
    expect(fake.rules()).toEqual([]);
    expect(code).toBe(0);
  }, 180_000); // every lesson of both APIs, ~12 commands each, every one a stand-in process

  it("in the mesh preview: a lesson that fails is reported and the walk goes on; exit 1", async () => {
    fake = await FakeCluster.start();
    fake.ready();
    fake.propagationCalls = 1;
    const run = captureIo(fake.env());
    const code = await walkLessons(["round-robin", "v2-default", "weighted"], {
      target: { requestTimeoutMs: 10_000 },
      passes: 1,
      withinMs: 0,
      waitMs: 60_000,
      plan: { dryRun: false, write: run.io.out, env: run.io.env, cwd: run.io.cwd },
      renders,
    });
    const table = run.stdout().slice(run.stdout().lastIndexOf("\nlesson ")).trim().split("\n");
    expect(table.slice(1).map((row) => row.split(/ {2,}/).slice(0, 4))).toEqual([
      ["round-robin", "PASS", "1/1", "1"],
      ["v2-default", "FAIL", "0/1", "1"],
      ["weighted", "FAIL", "0/1", "1"],
    ]);
    expect(code).toBe(EXIT.failed);
  }, 60_000);

  it("pods that never get ready stop the walk: the rest are skipped, exit 4", async () => {
    fake = await FakeCluster.start();
    fake.ready();
    fake.nodeImages.clear();
    const { code, stdout } = await verify(["--all"]);
    const table = stdout.slice(stdout.lastIndexOf("\nlesson ")).trim().split("\n");
    expect(table[1]!.split(/ {2,}/).slice(0, 2)).toEqual(["round-robin", "NOT READY"]);
    expect(table.slice(2, sidecarLessons().length + 1).map((row) => row.split(/ {2,}/)[1])).toEqual(
      sidecarLessons()
        .slice(1)
        .map(() => "SKIPPED"),
    );
    expect(stdout).toContain(
      "round-robin: not ready:\n  pod flaskapp-v1-5d8f7c9b4-qx7rz0: container flaskapp cannot get image istio-lessons/flaskapp:0.1.0 (ImagePullBackOff)",
    );
    expect(stdout).toContain("stopped: the pods did not become ready, so the remaining lessons were skipped");
    expect(fake.commands().filter((c) => c.includes("apply -k"))).toEqual([
      "$ kubectl apply -k k8s/overlays/round-robin",
    ]);
    expect(code).toBe(EXIT.notReady);
  }, 30_000);

  it("no cluster: one line, exit 3, no lesson applied", async () => {
    fake = await FakeCluster.start();
    const { code, stdout, stderr } = await verify(["--all"]);
    expect(code).toBe(EXIT.noCluster);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^verify: no cluster: kubectl has no current context[^\n]*\n$/);
  });
});

describe("lessons in any order, in the mesh preview (the Service and subsets select every pod with their labels)", () => {
  const tally = (expect: string) => [
    "exec",
    "-n",
    "istio-lessons",
    "deploy/sleep",
    "-c",
    "sleep",
    "--",
    "tally",
    "-n",
    "40",
    "-c",
    "1",
    "--expect",
    expect,
    "http://flaskapp/env/version",
  ];

  it("outlier-ejection's faulty pod, left behind, is selected by mirror's subset v1: half its answers are 503", async () => {
    fake = await FakeCluster.start();
    fake.ready([...render("outlier-ejection"), ...render("mirror")]);
    const run = await fake.answer({ tool: "kubectl", argv: tally("v1=100"), cwd: ROOT });
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/\b503\b/);
  }, 60_000);

  it("verify's preflight names the stray workload behind the lesson's Service, with the command that removes it (exit 4)", async () => {
    fake = await FakeCluster.start();
    fake.ready([...render("outlier-ejection"), ...render("mirror")]);
    const { code, stderr } = await verify(["mirror"]);
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toBe(
      "verify: not ready:\n  pod flaskapp-v1-faulty-5d8f7c9b4-qx7rz0 (deployment flaskapp-v1-faulty) is behind Service flaskapp but belongs to no Deployment of mirror: it gets a share of the requests; remove it with npm run lesson -- mirror (or kubectl delete deployment/flaskapp-v1-faulty -n istio-lessons)\n",
    );
    expect(fake.calls().filter((c) => c.argv[0] === "exec")).toEqual([]);
  });

  it("npm run lesson: outlier-ejection, then mirror, then session-affinity; each passes verify", async () => {
    fake = await FakeCluster.start();
    fake.ready();
    for (const lesson of ["outlier-ejection", "mirror", "session-affinity"]) {
      const applied = await runWith(lessonCommand, [lesson], fake.env());
      expect(applied.code, `${lesson}: ${applied.stderr}`).toBe(0);
      const checked = await verify([lesson, "--passes", "1"]);
      expect(checked.code, `${lesson}: ${checked.stdout}${checked.stderr}`).toBe(0);
      expect(fake.objects.map((o) => o.metadata.name)).toEqual(
        lesson === "outlier-ejection"
          ? expect.arrayContaining(["flaskapp-v1-faulty"])
          : expect.not.arrayContaining(["flaskapp-v1-faulty"]),
      );
    }
  }, 180_000);

  it("verify --all's walk passes mirror and session-affinity right after outlier-ejection", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("outlier-ejection"));
    const run = captureIo(fake.env());
    const code = await walkLessons(["mirror", "session-affinity"], {
      target: { requestTimeoutMs: 10_000 },
      passes: 1,
      withinMs: 30_000,
      waitMs: 60_000,
      plan: { dryRun: false, write: run.io.out, env: run.io.env, cwd: run.io.cwd },
      renders,
    });
    const table = run.stdout().slice(run.stdout().lastIndexOf("\nlesson ")).trim().split("\n");
    expect(table.slice(1).map((row) => row.split(/ {2,}/).slice(0, 2))).toEqual([
      ["mirror", "PASS"],
      ["session-affinity", "PASS"],
    ]);
    expect(code).toBe(EXIT.ok);
  }, 180_000);
});

describe("verify on a cluster without the Gateway API CRDs (minikube, Docker Desktop)", () => {
  it("an Istio-API lesson is verified: the Gateway API's rules are not asked for", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("v2-default"));
    fake.gatewayApiCrds = false;
    const { code, stdout, stderr } = await verify(["v2-default", "--passes", "1"]);
    expect(stderr).toBe("");
    expect(stdout).toContain("all 1 checks passed");
    expect(fake.commands().filter((c) => / get \S*gateway\.networking\.k8s\.io/.test(c))).toEqual([]);
    expect(code).toBe(0);
  }, 60_000);

  it("a Gateway API lesson says what to install (exit 4)", async () => {
    fake = await FakeCluster.start();
    fake.ready(render("v2-default"));
    fake.gatewayApiCrds = false;
    const { code, stderr } = await verify(["gateway-api/v2-default"]);
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toMatch(
      /^verify: not ready: gateway-api\/v2-default needs the Gateway API \(HTTPRoute\), which this cluster does not serve: install the Gateway API CRDs paired with your Istio: kubectl apply --server-side -f https:\/\/github\.com\/kubernetes-sigs\/gateway-api\/releases\/download\/v\d+\.\d+\.\d+\/experimental-install\.yaml /,
    );
  });

  it("--all: each twin is NOT READY with that message, and the walk goes on with the next lesson", async () => {
    fake = await FakeCluster.start();
    fake.ready();
    fake.gatewayApiCrds = false;
    fake.tally = "scripted";
    const run = captureIo(fake.env());
    const code = await walkLessons(["round-robin", "gateway-api/round-robin", "v2-default"], {
      target: { requestTimeoutMs: 10_000 },
      passes: 1,
      withinMs: 0,
      waitMs: 60_000,
      plan: { dryRun: false, write: run.io.out, env: run.io.env, cwd: run.io.cwd },
      renders,
    });
    const table = run.stdout().slice(run.stdout().lastIndexOf("\nlesson ")).trim().split("\n");
    expect(table.slice(1, 4).map((row) => row.split(/ {2,}/).slice(0, 2))).toEqual([
      ["round-robin", "PASS"],
      ["gateway-api/round-robin", "NOT READY"],
      ["v2-default", "PASS"],
    ]);
    expect(code).toBe(EXIT.failed);
  }, 60_000);
});

describe("what each lesson's summary promises is what its render does (the screens of demo, lesson and verify show it)", () => {
  it.each(allLessons())("%s: names only rule kinds its render has", async (lesson) => {
    const { summary } = await loadChecks(checksFile(overlayDir(lesson)));
    const kinds = new Set(render(lesson).map((o) => o.kind));
    for (const kind of ["VirtualService", "DestinationRule", "HTTPRoute", "ServiceEntry", "Sidecar"]) {
      if (new RegExp(`\\b${kind}\\b`).test(summary))
        expect(kinds.has(kind), `${lesson}'s summary names a ${kind}: "${summary}"`).toBe(true);
    }
  });

  it.each(allLessons().filter((l) => l.endsWith("mirror")))(
    "%s: the mirrored copies' Host as the default release sends them",
    async (lesson) => {
      const { summary } = await loadChecks(checksFile(overlayDir(lesson)));
      expect(NEWEST_RELEASE.shadowHostSuffix).toBe(false);
      expect(summary).not.toMatch(/Host flaskapp-shadow/);
      expect(summary).toContain("Host unchanged");
    },
  );
});

describe("egress-service-entry's checks tell the sidecar's block from flaskapp's own 502", () => {
  it("flaskapp's JSON 502 for a host it cannot reach passes the status check but fails the body check", async () => {
    const { checks } = await loadChecks(checksFile(overlayDir("egress-service-entry")));
    const [byStatus, byBody] = checks.filter((c) => c.path.includes("example.com"));
    expect(byStatus?.by).toBe("status");
    expect(byBody?.by).toBe("body");
    // The real flaskapp, allowed to fetch from 127.0.0.1, where port 1 refuses: its own 502, a JSON problem.
    const app = await listen(makeApp({ FETCH_ALLOW: "127.0.0.1" }).app);
    try {
      const unreachable = "/fetch?url=http://127.0.0.1:1/";
      // tallyArgs ends with the in-mesh URL (http://flaskapp/...): aimed at this flaskapp instead.
      const run = (check: typeof byStatus) =>
        runTally([...tallyArgs({ ...check!, path: unreachable }).slice(0, -1), `${app.url}${unreachable}`]);
      const status = await run(byStatus);
      expect(status.code, status.stdout).toBe(0);
      const body = await run(byBody);
      expect(body.code, body.stdout).toBe(1);
      expect(body.stdout).toMatch(/"title":"Bad Gateway"/);
      expect(body.stdout).toMatch(/FAIL +502 \(empty\)=100/);
    } finally {
      await app.close();
    }
  });
});
