// `npm run cluster -- up | down | diagnose`: the exact command sequence (--dry-run),
// the same sequence run against stand-in kind, istioctl, docker and kubectl (which
// record their calls and answer as the real tools do), and every failure path:
// a tool missing, Docker not running, istioctl too old, a build, kind, precheck,
// install or Istio health failing, pods that never get ready.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { clusterCommand } from "#lessons/cli/cluster.ts";
import { EXIT } from "#lessons/cluster/plan.ts";
import { LESSON_RELEASES, supportsKubernetes } from "#lessons/mesh/releases.ts";
import { runProgram } from "#lessons/core/run.ts";
import { KIND_NODE_IMAGE, nodeImageKubernetes } from "#lessons/cluster/tools.ts";
import {
  ALL_TOOLS,
  cachedRenders,
  captureIo,
  dryRunCommands,
  FakeCluster,
  GATEWAY_API_QUERY,
  OBJECT_DELETES,
  ruleKinds,
  refusal,
  runWith,
  type ToolName,
} from "./stand-ins/fake-cluster.ts";

const RULES = await ruleKinds();

const ROOT = new URL("../../", import.meta.url).pathname;

const UP = [
  "$ istioctl version --remote=false -o json",
  "$ docker info --format '{{.ServerVersion}}'",
  "$ docker build -f Dockerfile.flaskapp -t istio-lessons/flaskapp:0.1.0 .",
  "$ docker build -f Dockerfile.sleep -t istio-lessons/sleep:0.1.0 .",
  "$ kind get clusters",
  `$ kind create cluster --name istio-lessons --wait 5m --image ${KIND_NODE_IMAGE}`,
  "$ kind export kubeconfig --name istio-lessons",
  "$ kubectl --context kind-istio-lessons apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.6.0/experimental-install.yaml",
  "$ istioctl x precheck --context kind-istio-lessons",
  "$ istioctl install --context kind-istio-lessons --set profile=demo -y --readiness-timeout 5m",
  "$ kubectl --context kind-istio-lessons wait --for=condition=Available deployment --all -n istio-system --timeout=5m",
  "$ kind load docker-image istio-lessons/flaskapp:0.1.0 istio-lessons/sleep:0.1.0 --name istio-lessons",
  GATEWAY_API_QUERY("$ kubectl --context kind-istio-lessons"),
  ...RULES.all
    .split(",")
    .reduce<string[][]>(
      (families, r) =>
        r.endsWith(".k8s.io") ? [families[0]!, [...families[1]!, r]] : [[...families[0]!, r], families[1]!],
      [[], []],
    )
    .map((family) => `$ kubectl --context kind-istio-lessons delete ${family.join(",")} -n istio-lessons --all`),
  ...OBJECT_DELETES("$ kubectl --context kind-istio-lessons"),
  "$ kubectl --context kind-istio-lessons apply -k k8s/overlays/round-robin",
  "$ kubectl --context kind-istio-lessons rollout status deployment/flaskapp-v1 deployment/flaskapp-v2 deployment/sleep -n istio-lessons --timeout=5m",
  "$ kubectl --context kind-istio-lessons get pods -n istio-lessons -o json --request-timeout=10s",
];

let fake: FakeCluster | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

async function cluster(args: string[], tools: readonly ToolName[] = ALL_TOOLS, setUp?: (f: FakeCluster) => void) {
  fake = await FakeCluster.start(tools);
  setUp?.(fake);
  return { ...(await runWith(clusterCommand, args, fake.env())), fake };
}

describe("cluster up --dry-run", () => {
  it("prints every command in order and runs none", async () => {
    const { code, stdout, fake } = await cluster(["up", "--dry-run"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout)).toEqual(UP);
    expect(stdout).toContain(
      `kind create cluster --name istio-lessons --wait 5m --image ${KIND_NODE_IMAGE}   # skipped when kind get clusters lists istio-lessons`,
    );
    expect(fake.calls()).toEqual([]);
  });

  it("takes the name, waits, node image and Gateway API release from the options", async () => {
    const { stdout } = await cluster([
      "up",
      "--dry-run",
      "--name",
      "lab",
      "--wait",
      "90s",
      "--node-image",
      "kindest/node:v1.35.2",
      "--gateway-api",
      "v1.5.1",
      "--gateway-api-channel",
      "standard",
    ]);
    const commands = dryRunCommands(stdout);
    expect(commands).toContain("$ kind create cluster --name lab --wait 90s --image kindest/node:v1.35.2");
    expect(commands).toContain("$ istioctl install --context kind-lab --set profile=demo -y --readiness-timeout 90s");
    expect(commands).toContain(
      "$ kubectl --context kind-lab apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/v1.5.1/standard-install.yaml",
    );
    expect(commands).toContain(
      "$ kind load docker-image istio-lessons/flaskapp:0.1.0 istio-lessons/sleep:0.1.0 --name lab",
    );
    // Every cluster command names the context, so none lands on another cluster.
    const onCluster = commands.filter(
      (c) => c.startsWith("$ kubectl") || (c.startsWith("$ istioctl") && !c.includes(" version ")),
    );
    expect(onCluster.filter((c) => !c.includes("--context kind-lab"))).toEqual([]);
  });

  it("notes the tools that are missing, still printing the plan", async () => {
    const { code, stdout } = await cluster(["up", "--dry-run"], ["kubectl", "docker"]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^# note: kind is not installed or not on PATH: install the v0\.31\.0 release binary \(https:\/\/kind\.sigs\.k8s\.io\/docs\/user\/quick-start\/#installing-from-release-binaries\), or with Go: `go install sigs\.k8s\.io\/kind@v0\.31\.0`/m,
    );
    expect(stdout).toMatch(
      /^# note: istioctl is not installed or not on PATH: get it with `curl -L https:\/\/istio\.io\/downloadIstio \| ISTIO_VERSION=1\.31\.1 sh -`.*checked with Istio 1\.29, 1\.30, 1\.31/m,
    );
    expect(dryRunCommands(stdout)).toEqual(UP);
  });
});

describe("cluster up against stand-ins", () => {
  it("runs exactly the dry run's commands and leaves every pod 2/2", async () => {
    const { code, stdout, stderr, fake } = await cluster(["up"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(fake.commands()).toEqual(UP);
    expect(fake.kindClusters).toEqual(new Set(["istio-lessons"]));
    expect(fake.istioInstalled).toBe(true);
    expect(fake.gatewayApiCrds).toBe(true);
    expect([...fake.nodeImages].sort()).toEqual(["istio-lessons/flaskapp:0.1.0", "istio-lessons/sleep:0.1.0"]);
    const pods = fake.pods("istio-lessons");
    expect(pods).toHaveLength(3);
    for (const pod of pods) expect(pod.status.conditions).toEqual([{ type: "Ready", status: "True" }]);
    expect(stdout).toContain("istioctl 1.31.0\n");
    expect(stdout).toContain("cluster istio-lessons is up (kubectl context kind-istio-lessons)");
    expect(stdout).toContain("next: npm run verify -- round-robin");
  });

  it("reuses a cluster of that name instead of failing in kind create, and makes its context current again", async () => {
    const { code, stdout, fake } = await cluster(["up"], ALL_TOOLS, (f) => {
      f.ready();
      f.currentContext = undefined;
      f.contexts.clear();
    });
    expect(code).toBe(0);
    expect(fake.currentContext).toBe("kind-istio-lessons");
    expect(fake.commands()).toEqual(UP.filter((c) => !c.startsWith("$ kind create")));
    expect(stdout).toContain("(skipped: cluster istio-lessons exists: reusing it)");
  });

  it("says how far an Istio outside the supported releases is, and goes on", async () => {
    const old = await cluster(["up"], ALL_TOOLS, (f) => (f.istioctlVersion = "1.26.4"));
    expect(old.code).toBe(0);
    expect(old.stdout).toContain(
      "istioctl 1.26.4: Istio 1.26.4 is older than the releases these lessons are checked with (1.29, 1.30, 1.31) and no longer supported upstream",
    );
    await fake!.stop();
    const newer = await cluster(["up"], ALL_TOOLS, (f) => (f.istioctlVersion = "1.33.0-beta.1"));
    expect(newer.code).toBe(0);
    expect(newer.stdout).toContain(
      "istioctl 1.33.0-beta.1: Istio 1.33.0-beta.1 is newer than the releases these lessons were checked with (1.29, 1.30, 1.31)",
    );
  });
});

describe("cluster up pairs the cluster with the learner's Istio", () => {
  const crdUrl = (v: string) =>
    `https://github.com/kubernetes-sigs/gateway-api/releases/download/${v}/experimental-install.yaml`;

  it.each(LESSON_RELEASES.map((r) => [r.patch, r.gatewayApi]))(
    "istioctl %s: the Gateway API CRDs %s it is built against",
    async (istio, gatewayApi) => {
      const { code, fake } = await cluster(["up"], ALL_TOOLS, (f) => (f.istioctlVersion = istio));
      expect(code).toBe(0);
      expect(fake.commands()).toContain(
        `$ kubectl --context kind-istio-lessons apply --server-side -f ${crdUrl(gatewayApi)}`,
      );
      expect(fake.gatewayApiVersion).toBe(gatewayApi);
    },
  );

  it("--gateway-api wins over the pairing", async () => {
    const { fake } = await cluster(["up", "--gateway-api", "v1.5.1"], ALL_TOOLS, (f) => (f.istioctlVersion = "1.29.9"));
    expect(fake.gatewayApiVersion).toBe("v1.5.1");
  });

  it("a reused cluster whose newer CRDs (v1.5+) refuse older ones: says why, and goes on with the CRDs it has", async () => {
    const { code, stdout, fake } = await cluster(["up"], ALL_TOOLS, (f) => {
      f.ready();
      f.gatewayApiVersion = "v1.6.0";
      f.istioctlVersion = "1.29.9";
    });
    expect(code).toBe(0);
    expect(stdout).toContain(
      "note: this cluster keeps the Gateway API CRDs of a newer release than v1.4.1: their safe-upgrades admission policy (since Gateway API v1.5.0) refuses older CRDs.",
    );
    expect(stdout).toContain("to pair them exactly with Istio 1.29.9, start afresh: npm run cluster -- down, then up");
    expect(fake.gatewayApiVersion).toBe("v1.6.0");
  });

  it("the pinned node image is a Kubernetes every checked Istio supports; another one outside the learner's Istio's range is named", async () => {
    for (const release of LESSON_RELEASES)
      expect(supportsKubernetes(release, nodeImageKubernetes(KIND_NODE_IMAGE)!), release.version).toBe(true);
    const { code, stdout } = await cluster(
      ["up", "--node-image", "kindest/node:v1.36.1"],
      ALL_TOOLS,
      (f) => (f.istioctlVersion = "1.29.9"),
    );
    expect(code).toBe(0);
    expect(stdout).toContain(
      "note: Istio 1.29 supports Kubernetes 1.31 to 1.35, and the node image kindest/node:v1.36.1 is Kubernetes 1.36: pick another with --node-image",
    );
  });

  it("a known-bad patch is named with the lesson it fails and the fix", async () => {
    const { code, stdout } = await cluster(["up"], ALL_TOOLS, (f) => (f.istioctlVersion = "1.30.0"));
    expect(code).toBe(0);
    expect(stdout).toContain(
      "istioctl 1.30.0: Istio 1.30.0 is known to fail lesson session-affinity: Envoy's ring-hash load balancer regressed",
    );
    expect(stdout).toContain("(istio/istio#60312); upgrade to 1.30.1 or newer");
  });
});

describe("cluster up stops at the first failure, with one line and its exit code", () => {
  const step = (fragment: string) => UP.find((c) => c.includes(fragment))!;
  const after = (command: string) => UP.slice(0, UP.indexOf(command) + 1);

  it.each(ALL_TOOLS)("%s not installed: says how to get it and runs nothing", async (missing) => {
    const { code, stdout, stderr, fake } = await cluster(
      ["up"],
      ALL_TOOLS.filter((t) => t !== missing),
    );
    expect(code).toBe(EXIT.missingTool);
    expect(stderr).toMatch(new RegExp(`^cluster: ${missing} is not installed or not on PATH: [^\\n]+\\n$`));
    expect(stdout).toBe("");
    expect(fake.calls()).toEqual([]);
  });

  it("no tool at all: one line for each", async () => {
    const { code, stderr } = await cluster(["up"], []);
    expect(code).toBe(EXIT.missingTool);
    expect(
      stderr
        .trimEnd()
        .split("\n")
        .map((l) => l.replace(/^cluster: /, "").split(" ")[0]),
    ).toEqual(["kind", "istioctl", "docker", "kubectl"]);
  });

  const failures: Array<[string, (f: FakeCluster) => void, number, RegExp, string]> = [
    [
      "istioctl too old for networking.istio.io/v1",
      (f) => (f.istioctlVersion = "1.20.3"),
      EXIT.failed,
      /^cluster: istioctl 1\.20\.3 is too old: the lessons' rules use networking\.istio\.io\/v1, served since Istio 1\.22; get it with .*checked with Istio 1\.29, 1\.30, 1\.31/,
      step("istioctl version"),
    ],
    [
      "Docker engine not running",
      (f) => (f.dockerRunning = false),
      EXIT.missingTool,
      /^cluster: docker is installed, but its engine does not answer \(Cannot connect to the Docker daemon at unix:\/\/\/var\/run\/docker\.sock\. Is the docker daemon running\?\): start Docker\n$/,
      step("docker info"),
    ],
    [
      "a docker build failing",
      (f) => (f.failures.build = "istio-lessons/sleep:0.1.0"),
      EXIT.failed,
      /^cluster: `docker build -f Dockerfile\.sleep \.\.\.` failed \(exit code 1\): The command '\/bin\/sh -c npm ci' returned a non-zero code: 1\n$/,
      step("Dockerfile.sleep"),
    ],
    [
      "kind create failing",
      (f) => (f.failures.kindCreate = true),
      EXIT.failed,
      /^cluster: `kind create cluster --name \.\.\.` failed \(exit code 1\): ERROR: failed to create cluster: command "docker run/,
      step("kind create"),
    ],
    [
      "istioctl precheck finding issues",
      (f) => (f.failures.precheck = true),
      EXIT.failed,
      /^cluster: istioctl x precheck found issues: Error \[IST0136\] \(Pod kube-system\/kube-apiserver\) Kubernetes version 1\.29 is not supported by this Istio release\n$/,
      step("x precheck"),
    ],
    [
      "istioctl install failing",
      (f) => (f.failures.install = true),
      EXIT.failed,
      /^cluster: `istioctl install --context kind-istio-lessons \.\.\.` failed \(exit code 1\): Error: failed to install manifests: errors occurred during operation\n$/,
      step("istioctl install"),
    ],
    [
      "Istio not becoming healthy",
      (f) => (f.failures.istioUnhealthy = true),
      EXIT.failed,
      /^cluster: Istio 1\.31\.0 is not healthy: error: timed out waiting for the condition on deployments\/istio-ingressgateway \(kubectl --context kind-istio-lessons get pods -n istio-system\)\n$/,
      step("-n istio-system"),
    ],
  ];
  it.each(failures)("%s", async (_name, setUp, exitCode, message, last) => {
    const { code, stderr, fake } = await cluster(["up"], ALL_TOOLS, setUp);
    expect(code).toBe(exitCode);
    expect(stderr).toMatch(message);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(fake.commands()).toEqual(after(last));
  });

  it("pods that never get ready: the rollout's wait ends and each pod's reason is named", async () => {
    const { code, stdout, stderr } = await cluster(
      ["up"],
      ALL_TOOLS,
      (f) => (f.stuck = { deployment: "flaskapp-v2", reason: "CrashLoopBackOff" }),
    );
    expect(code).toBe(EXIT.notReady);
    expect(stdout).toContain(
      'Waiting for deployment "flaskapp-v2" rollout to finish: 0 of 1 updated replicas are available...',
    );
    expect(stderr).toBe(
      "cluster: not ready:\n  pod flaskapp-v2-5d8f7c9b4-qx7rz0: container flaskapp keeps crashing (CrashLoopBackOff): kubectl logs -n istio-lessons flaskapp-v2-5d8f7c9b4-qx7rz0 -c flaskapp --previous\n",
    );
    expect(fake!.commands()).toEqual(UP);
  });

  it("pods at 1/1 when Istio injects no sidecar", async () => {
    const { code, stderr } = await cluster(["up"], ALL_TOOLS, (f) => (f.injector = false));
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toContain(
      "pod flaskapp-v1-5d8f7c9b4-qx7rz0 runs without the istio-proxy sidecar (1/1): it started before sidecar injection was on, or Istio is not installed",
    );
    expect(stderr.split("\n").filter((l) => l.includes("without the istio-proxy sidecar"))).toHaveLength(3);
  });
});

describe("cluster down", () => {
  it("--dry-run prints kind delete cluster and runs nothing", async () => {
    const { code, stdout, fake } = await cluster(["down", "--dry-run", "--name", "lab"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout)).toEqual(["$ kind delete cluster --name lab"]);
    expect(fake.calls()).toEqual([]);
  });

  it("deletes the cluster, and succeeds when it is already gone (as kind does)", async () => {
    const { code, stdout, fake } = await cluster(["down"], ALL_TOOLS, (f) => f.ready());
    expect(code).toBe(0);
    expect(fake.commands()).toEqual(["$ kind delete cluster --name istio-lessons"]);
    expect(fake.kindClusters.size).toBe(0);
    expect(stdout).toContain("cluster istio-lessons is gone");
    const again = captureIo(fake.env());
    expect(await clusterCommand(["down"], again.io, cachedRenders)).toBe(0);
  });

  it("needs only kind", async () => {
    const { code, stderr } = await cluster(["down"], ["kubectl"]);
    expect(code).toBe(EXIT.missingTool);
    expect(stderr).toMatch(/^cluster: kind is not installed or not on PATH/);
  });
});

describe("cluster diagnose", () => {
  it("--dry-run prints each command with the file it goes to", async () => {
    const { code, stdout } = await cluster(["diagnose", "--dry-run", "--out", "ci-artifacts"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout)).toEqual([
      "$ kubectl --context kind-istio-lessons get nodes -o wide > ci-artifacts/nodes.txt 2>&1",
      "$ kubectl --context kind-istio-lessons get all -A -o wide > ci-artifacts/all.txt 2>&1",
      `$ kubectl --context kind-istio-lessons get ${RULES.all} -A -o yaml > ci-artifacts/rules.yaml 2>&1`,
      "$ kubectl --context kind-istio-lessons get pods -A -o yaml > ci-artifacts/pods.yaml 2>&1",
      "$ kubectl --context kind-istio-lessons get events -A --sort-by=.lastTimestamp > ci-artifacts/events.txt 2>&1",
      "$ kubectl --context kind-istio-lessons logs -n istio-lessons -l app --all-containers --prefix --tail=-1 > ci-artifacts/logs-istio-lessons.txt 2>&1",
      "$ kubectl --context kind-istio-lessons logs -n istio-system -l app --all-containers --prefix --tail=-1 > ci-artifacts/logs-istio-system.txt 2>&1",
      "$ istioctl proxy-status --context kind-istio-lessons > ci-artifacts/proxy-status.txt 2>&1",
      "$ kind export logs ci-artifacts/kind --name istio-lessons > ci-artifacts/kind-export.txt 2>&1",
    ]);
  });

  it("saves every output, and notes a missing tool in its file instead of stopping", async () => {
    fake = await FakeCluster.start(["kubectl", "kind"]);
    fake.ready();
    const out = join(fake.dir, "artifacts");
    const run = captureIo(fake.env());
    expect(await clusterCommand(["diagnose", "--out", out], run.io, cachedRenders)).toBe(0);
    expect(fake.commands()).toHaveLength(8);
    expect(readFileSync(join(out, "pods.yaml"), "utf8")).toMatch(/^\(kubectl get pods -A/);
    expect(readFileSync(join(out, "logs-istio-lessons.txt"), "utf8")).toBe("");
    expect(readFileSync(join(out, "proxy-status.txt"), "utf8")).toMatch(
      /^istioctl is not installed or not on PATH: get it with/,
    );
    expect(existsSync(join(out, "kind", "kind-version.txt"))).toBe(true);
    expect(run.stdout()).toContain(`saved in ${out}/`);
  });

  it("with --context (another cluster than kind's): no kind export", async () => {
    const { stdout } = await cluster(["diagnose", "--dry-run", "--context", "minikube"]);
    expect(dryRunCommands(stdout).filter((c) => c.includes("kind export"))).toEqual([]);
    expect(dryRunCommands(stdout)[0]).toBe(
      "$ kubectl --context minikube get nodes -o wide > cluster-diagnostics/nodes.txt 2>&1",
    );
  });
});

describe("cluster usage errors", () => {
  const cases: Array<[string, string[], string]> = [
    ["no subcommand", [], "say up, down or diagnose"],
    ["unknown subcommand", ["start"], 'unknown subcommand "start": say up, down or diagnose'],
    ["extra argument", ["up", "now"], 'unexpected argument "now"'],
    ["a name kind refuses", ["up", "--name", "My_Cluster"], '--name "My_Cluster" is not a kind cluster name'],
    [
      "a wait under 1s",
      ["up", "--wait", "999ms"],
      '--wait "999ms": expected a number with a unit: 500ms, 1.5s, 10s, 1m, 1h, from 1s to 60m',
    ],
    ["a wait over 60m", ["up", "--wait", "61m"], '--wait "61m"'],
    ["a build timeout under 1m", ["up", "--build-timeout", "59s"], '--build-timeout "59s"'],
    [
      "a Gateway API release that is no release",
      ["up", "--gateway-api", "latest"],
      '--gateway-api "latest": expected a release such as v1.6.0',
    ],
    [
      "a Gateway API channel that does not exist",
      ["up", "--gateway-api-channel", "beta"],
      '--gateway-api-channel "beta": expected experimental or standard',
    ],
    ["--wait for down", ["down", "--wait", "1m"], "--wait is for up, not down"],
    ["--out for up", ["up", "--out", "x"], "--out is for diagnose, not up"],
    ["an empty --out", ["diagnose", "--out", ""], "--out needs a folder"],
    ["unknown option", ["up", "--force"], "Unknown option '--force'"],
  ];
  it.each(cases)("%s", async (_name, args, message) => {
    expect((await refusal(clusterCommand, args)).message).toContain(message);
  });

  it.each([
    ["1s", "--wait", "1s"],
    ["60m", "--wait", "60m"],
    ["1m", "--build-timeout", "1m"],
    ["120m", "--build-timeout", "120m"],
  ])("accepts the edge %s of %s", async (_edge, flag, value) => {
    const { code } = await cluster(["up", "--dry-run", flag, value]);
    expect(code).toBe(0);
  });
});

describe("npm run cluster, as a process", () => {
  it("exits 2 with the usage on a bad command line", async () => {
    const { code, stdout, stderr } = await runProgram(
      process.execPath,
      ["lessons/src/cli/cluster.ts", "start"],
      30_000,
      { cwd: ROOT },
    );
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toMatch(
      /^cluster: unknown subcommand "start": say up, down or diagnose\nusage: npm run cluster -- up/,
    );
  });
});
