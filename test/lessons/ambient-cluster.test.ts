// Ambient mode on a cluster: `cluster up --ambient`, `lesson ambient/<lesson>` and
// `verify` (one ambient lesson, or `--all --ambient`), as exact commands (--dry-run) and
// against the stand-in kind, istioctl and kubectl, whose pods of an ambient namespace run
// without a sidecar and carry the CNI agent's enrolment mark once the ambient profile is in.
import { afterEach, describe, expect, it } from "vitest";
import { clusterCommand } from "#lessons/cli/cluster.ts";
import { lessonCommand } from "#lessons/cli/lesson.ts";
import { verifyCommand } from "#lessons/cli/verify.ts";
import { ambientLessons, type Lesson } from "#lessons/catalog/lessons.ts";
import { ambientPodProblem } from "#lessons/cluster/ambient.ts";
import { EXIT } from "#lessons/cluster/plan.ts";
import { cachedRenders, dryRunCommands, FakeCluster, refusal, runWith } from "./stand-ins/fake-cluster.ts";

let fake: FakeCluster | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

async function run(command: typeof clusterCommand, args: string[], setUp?: (f: FakeCluster) => void) {
  fake ??= await FakeCluster.start();
  setUp?.(fake);
  return { ...(await runWith(command, args, fake.env())), fake };
}

const K = "$ kubectl --context kind-istio-lessons";
const INSTALL_DEMO = "$ istioctl install --context kind-istio-lessons --set profile=demo -y --readiness-timeout 5m";
const INSTALL_AMBIENT =
  "$ istioctl install --context kind-istio-lessons --set profile=ambient -y --readiness-timeout 5m";
const ISTIO_HEALTHY = `${K} wait --for=condition=Available deployment --all -n istio-system --timeout=5m`;
const AGENTS = `${K} rollout status daemonset/ztunnel daemonset/istio-cni-node -n istio-system --timeout=5m`;

/** `cluster up --ambient`, derived from `cluster up`: the same up to the images loaded, but the ambient profile and its agents; then ambient/l4-only instead of round-robin. */
async function upAmbientExpected(): Promise<string[]> {
  const sidecar = dryRunCommands((await run(clusterCommand, ["up", "--dry-run"])).stdout);
  const loaded = sidecar.findIndex((c) => c.startsWith("$ kind load docker-image"));
  const before = sidecar.slice(0, loaded + 1).map((c) => (c === INSTALL_DEMO ? INSTALL_AMBIENT : c));
  before.splice(before.indexOf(ISTIO_HEALTHY) + 1, 0, AGENTS);
  return before;
}

describe("cluster up --ambient", () => {
  it("--dry-run: the ambient profile, ztunnel and the CNI agent rolled out, then ambient/l4-only", async () => {
    const expected = await upAmbientExpected();
    const { code, stdout, fake } = await run(clusterCommand, ["up", "--ambient", "--dry-run"]);
    expect(code).toBe(0);
    const commands = dryRunCommands(stdout);
    expect(commands.slice(0, expected.length)).toEqual(expected);
    expect(commands.slice(-3)).toEqual([
      `${K} apply -k k8s/ambient/l4-only`,
      `${K} rollout status deployment/flaskapp-v1 deployment/flaskapp-v2 deployment/sleep -n istio-lessons --timeout=5m`,
      `${K} get pods -n istio-lessons -o json --request-timeout=10s`,
    ]);
    expect(fake.calls()).toEqual([]);
  });

  it("against the stand-ins: runs exactly the dry run's commands and leaves every pod 1/1, enrolled with ztunnel", async () => {
    const planned = dryRunCommands((await run(clusterCommand, ["up", "--ambient", "--dry-run"])).stdout);
    const { code, stdout, stderr, fake } = await run(clusterCommand, ["up", "--ambient"]);
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(fake.commands()).toEqual(planned);
    const pods = fake.pods("istio-lessons");
    expect(pods.map((p) => p.spec.containers.length + p.spec.initContainers.length)).toEqual([1, 1, 1]);
    for (const pod of pods)
      expect(ambientPodProblem(pod as Parameters<typeof ambientPodProblem>[0], "istio-lessons", "x")).toBeUndefined();
    expect(stdout).toContain(
      "with Istio's ambient profile and lesson ambient/l4-only; every pod is 1/1 (no sidecar) and enrolled with ztunnel.",
    );
    expect(stdout).toContain("next: npm run verify -- ambient/l4-only    then: npm run lesson -- ambient/round-robin");
  });

  it("--ambient is for up only", async () => {
    expect((await refusal(clusterCommand, ["down", "--ambient"])).message).toBe("--ambient is for up, not down");
  });
});

const renderOf = async (lesson: Lesson) => structuredClone([...(await cachedRenders()).get(lesson)!]);

describe("lesson ambient/<lesson>", () => {
  it("--dry-run: applies the overlay, waits for the pods, then for the waypoint to be programmed", async () => {
    const { code, stdout } = await run(lessonCommand, ["ambient/v2-default", "--dry-run"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout).slice(-4)).toEqual([
      "$ kubectl apply -k k8s/ambient/v2-default",
      "$ kubectl rollout status deployment/flaskapp-v1 deployment/flaskapp-v2 deployment/sleep -n istio-lessons --timeout=5m",
      "$ kubectl get pods -n istio-lessons -o json --request-timeout=10s",
      "$ kubectl wait --for=condition=Programmed gateway/flaskapp-waypoint -n istio-lessons --timeout=5m",
    ]);
  });

  it("on an ambient cluster: applied, pods 1/1 and enrolled, waypoint programmed", async () => {
    const { code, stderr, stdout, fake } = await run(lessonCommand, ["ambient/v2-default"], (f) => {
      f.ready();
      f.ambientProfile = true;
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("gateway.gateway.networking.k8s.io/flaskapp-waypoint condition met");
    expect(fake.objects.some((o) => o.kind === "Gateway" && o.metadata.name === "flaskapp-waypoint")).toBe(true);
  });

  it("on a cluster without the ambient profile: not ready (exit 4), each pod named as not enrolled with ztunnel", async () => {
    const { code, stderr } = await run(lessonCommand, ["ambient/v2-default"], (f) => f.ready());
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toContain(
      "is not enrolled with ztunnel (no ambient.istio.io/redirection: enabled): is Istio installed with the ambient profile",
    );
  });

  it("a pod that still has its sidecar is named, with the fix", async () => {
    const objects = await renderOf("weighted");
    fake = await FakeCluster.start();
    const [pod] = fake.ready(objects).pods("istio-lessons");
    expect(ambientPodProblem(pod as Parameters<typeof ambientPodProblem>[0], "istio-lessons", "flaskapp-v1")).toMatch(
      /^pod flaskapp-v1-\S+ has the istio-proxy sidecar \(2\/2\): in ambient mode it must not; .*kubectl label namespace istio-lessons istio-injection-/,
    );
  });
});

describe("verify in ambient mode", () => {
  it("ambient/v2-default --dry-run: the namespace in ambient mode, the pods, the waypoint, then the rules and the check", async () => {
    const { code, stdout } = await run(verifyCommand, ["ambient/v2-default", "--dry-run"]);
    expect(code).toBe(0);
    const commands = dryRunCommands(stdout);
    const preflight = [
      "$ kubectl get namespace istio-lessons -o json --request-timeout=10s",
      "$ kubectl get pods -n istio-lessons -o json --request-timeout=10s",
      "$ kubectl wait --for=condition=Programmed gateway/flaskapp-waypoint -n istio-lessons --timeout=30s",
    ];
    const at = commands.indexOf(preflight[0]!);
    expect(commands.slice(at, at + 3)).toEqual(preflight);
    expect(commands.at(-1)).toBe(
      "$ kubectl exec -n istio-lessons deploy/sleep -c sleep -- tally -n 100 -c 1 --expect v2=100 http://flaskapp/env/version",
    );
    expect(
      commands.filter((c) => c.startsWith("$ kubectl get ") && c.includes(" -o json") && c.includes("gateway")),
    ).not.toEqual([]);
  });

  it("ambient/v2-default on an ambient cluster: the check passes through the preview's ztunnel and waypoint", async () => {
    const objects = await renderOf("ambient/v2-default");
    const { code, stdout, stderr } = await run(verifyCommand, ["ambient/v2-default", "--passes", "1"], (f) => {
      f.ready(objects);
      f.ambientProfile = true;
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain(
      "ready: flaskapp-v1, flaskapp-v2, sleep in ambient mode (no sidecar, enrolled with ztunnel); rules: ",
    );
    expect(stdout).toContain("all 1 checks passed");
  }, 60_000);

  it("a sidecar namespace is not ready for an ambient lesson (exit 4)", async () => {
    const sidecarRender = await renderOf("v2-default");
    const { code, stderr } = await run(verifyCommand, ["ambient/v2-default"], (f) => f.ready(sidecarRender));
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toContain(
      "not ready: namespace istio-lessons is not in ambient mode (no istio.io/dataplane-mode=ambient): apply the lesson: npm run lesson -- ambient/v2-default",
    );
  });

  it("--all --ambient --dry-run walks every ambient lesson, in order", async () => {
    const { code, stdout } = await run(verifyCommand, ["--all", "--ambient", "--dry-run"]);
    expect(code).toBe(0);
    const applied = dryRunCommands(stdout)
      .filter((c) => c.includes(" apply -k "))
      .map((c) => c.replace("$ kubectl apply -k k8s/", ""));
    expect(applied).toEqual(ambientLessons());
    expect(dryRunCommands(stdout)).toContain(
      "$ kubectl wait --for=condition=Programmed gateway/flaskapp-waypoint -n istio-lessons --timeout=5m",
    );
  });

  it("--ambient without --all is a usage error", async () => {
    expect((await refusal(verifyCommand, ["ambient/v2-default", "--ambient"])).message).toBe(
      "--ambient is for --all (it walks the ambient lessons); name an ambient lesson as ambient/<lesson>",
    );
  });
});
