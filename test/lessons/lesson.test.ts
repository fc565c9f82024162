// `npm run lesson -- <lesson>`: the exact commands (--dry-run, and the same ones
// recorded by the stand-in kubectl), what is left on the cluster afterwards (the
// lesson's rules and no other lesson's, whatever came before), and the failure
// paths: no cluster, pods that do not get ready, no Istio, no kubectl.
import { fileURLToPath } from "node:url";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import { lessonCommand } from "#lessons/cli/lesson.ts";
import { switchSteps } from "#lessons/cluster/lesson-steps.ts";
import { rulesOf } from "#lessons/cluster/rules.ts";
import { allLessons, type Lesson } from "#lessons/catalog/lessons.ts";
import { LESSON_RELEASES, NEWEST_RELEASE } from "#lessons/mesh/releases.ts";
import { EXIT } from "#lessons/cluster/plan.ts";
import { runProgram } from "#lessons/core/run.ts";
import {
  cachedRenders,
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

const ROOT = fileURLToPath(new URL("../../", import.meta.url));

const WEIGHTED = [
  "$ kubectl config view --minify -o 'jsonpath={.clusters[0].cluster.server}'",
  "$ kubectl version -o json --request-timeout=10s",
  GATEWAY_API_QUERY("$ kubectl"),
  ...RULES.deleteOthers("$ kubectl"),
  "$ kubectl delete virtualservices.networking.istio.io,destinationrules.networking.istio.io -n istio-lessons --field-selector 'metadata.name!=flaskapp'",
  ...OBJECT_DELETES("$ kubectl"),
  "$ kubectl apply -k k8s/overlays/weighted",
  "$ kubectl rollout status deployment/flaskapp-v1 deployment/flaskapp-v2 deployment/sleep -n istio-lessons --timeout=5m",
  "$ kubectl get pods -n istio-lessons -o json --request-timeout=10s",
];

let renders: ReadonlyMap<Lesson, readonly K8sObject[]>;
beforeAll(async () => {
  renders = await cachedRenders();
});

let fake: FakeCluster | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

async function lesson(args: string[], setUp?: (f: FakeCluster) => void, tools?: ToolName[]) {
  fake ??= await FakeCluster.start(tools);
  setUp?.(fake);
  return { ...(await runWith(lessonCommand, args, fake.env())), fake };
}

const rulesOfLesson = (l: Lesson) =>
  rulesOf(renders.get(l)!)
    .map((r) => `${r.kind} ${r.metadata.name}`)
    .sort();

describe("lesson --dry-run", () => {
  it("weighted: removes the other lessons' rules but its own names, applies, waits for 2/2", async () => {
    const { code, stdout, fake } = await lesson(["weighted", "--dry-run"]);
    expect(code).toBe(0);
    expect(dryRunCommands(stdout)).toEqual(WEIGHTED);
    expect(stdout).toContain("weighted: the VirtualService splits 70/30 by weight; about 70% v1 and 30% v2\n");
    expect(fake.calls()).toEqual([]);
  });

  it("v2-default keeps different names of each kind: one delete per kind", async () => {
    const { stdout } = await lesson(["v2-default", "--dry-run", "--context", "kind-lab", "--wait", "2m"]);
    expect(dryRunCommands(stdout).slice(3 + RULES.deleteOthers("").length, 10 + RULES.deleteOthers("").length)).toEqual(
      [
        "$ kubectl --context kind-lab delete virtualservices.networking.istio.io -n istio-lessons --field-selector 'metadata.name!=flaskapp-default-v2'",
        "$ kubectl --context kind-lab delete destinationrules.networking.istio.io -n istio-lessons --field-selector 'metadata.name!=flaskapp'",
        ...OBJECT_DELETES("$ kubectl --context kind-lab"),
        "$ kubectl --context kind-lab apply -k k8s/overlays/v2-default",
        "$ kubectl --context kind-lab rollout status deployment/flaskapp-v1 deployment/flaskapp-v2 deployment/sleep -n istio-lessons --timeout=2m",
      ],
    );
  });

  it("gateway-api/weighted: every Istio rule goes, HTTPRoutes but its own too, then its kustomization in k8s/gateway-api", async () => {
    const { code, stdout } = await lesson(["gateway-api/weighted", "--dry-run"]);
    expect(code).toBe(0);
    const commands = dryRunCommands(stdout);
    expect(commands).toContain(
      "$ kubectl delete httproutes.gateway.networking.k8s.io -n istio-lessons --field-selector 'metadata.name!=flaskapp'",
    );
    expect(commands).toContain("$ kubectl apply -k k8s/gateway-api/weighted");
    expect(commands.find((c) => c.includes("virtualservices.networking.istio.io"))).toMatch(/ -n istio-lessons --all$/);
  });

  it("round-robin has no rules: every rule of every kind goes, Istio's and the Gateway API's apart", async () => {
    const { stdout } = await lesson(["round-robin", "--dry-run"]);
    const all = RULES.all.split(",");
    expect(dryRunCommands(stdout).slice(3, 5)).toEqual([
      `$ kubectl delete ${all.filter((r) => !r.endsWith(".k8s.io")).join(",")} -n istio-lessons --all`,
      `$ kubectl delete ${all.filter((r) => r.endsWith(".k8s.io")).join(",")} -n istio-lessons --all`,
    ]);
  });

  it("gateway-api/round-robin keeps the Services of its backends, flaskapp-v1 and flaskapp-v2", async () => {
    const { stdout } = await lesson(["gateway-api/round-robin", "--dry-run"]);
    expect(dryRunCommands(stdout)).toContain(
      "$ kubectl delete services -n istio-lessons -l app.kubernetes.io/part-of=istio-lessons --field-selector 'metadata.name!=flaskapp,metadata.name!=flaskapp-v1,metadata.name!=flaskapp-v2,metadata.name!=sleep'",
    );
  });
});

describe("lesson against the fake cluster", () => {
  it("runs exactly the dry run's commands", async () => {
    const { code, stdout, stderr, fake } = await lesson(["weighted"], (f) => f.ready(renders.get("v2-default")));
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(fake.commands()).toEqual(WEIGHTED);
    expect(stdout).toContain(
      'virtualservice.networking.istio.io "flaskapp-default-v2" deleted from istio-lessons namespace',
    );
    expect(stdout).toContain("destinationrule.networking.istio.io/flaskapp unchanged");
    expect(stdout).toContain("weighted is applied and its pods are ready; check it with: npm run verify -- weighted");
  });

  // Every lesson after every other (and after two others at once), both APIs: what is left
  // is the new lesson's render, exactly: its rules, and no Deployment, Service or ConfigMap
  // another lesson added (outlier-ejection's flaskapp-v1-faulty, the Gateway API twins'
  // version Services, egress's ConfigMap). The switching commands are the ones `lesson`
  // runs (switchSteps), answered by the fake's kubectl in this process.
  const lessons = allLessons();
  const pairs = lessons.flatMap((to) => lessons.filter((from) => from !== to).map((from) => [from, to] as const));
  const names = (objects: readonly K8sObject[]) => objects.map((o) => `${o.kind} ${o.metadata.name}`).sort();
  it(`leaves exactly the new lesson's objects, whatever lesson came before (${pairs.length} pairs)`, async () => {
    fake = await FakeCluster.start();
    fake.ready();
    for (const [from, to] of pairs) {
      for (const before of [[from], [from, lessons[(lessons.indexOf(from) + 1) % lessons.length]!]]) {
        fake.objects = [];
        for (const l of before) fake.apply(renders.get(l)!);
        for (const step of switchSteps(to, renders, { requestTimeoutMs: 10_000 })) {
          const answer = await fake.answer({ tool: "kubectl", argv: step.argv.slice(1), cwd: ROOT });
          expect(answer.code, `${before.join(" + ")} → ${to}: ${step.argv.join(" ")}: ${answer.stderr}`).toBe(0);
        }
        expect(fake.rules(), `${before.join(" + ")} → ${to}`).toEqual(rulesOfLesson(to));
        expect(names(fake.objects), `${before.join(" + ")} → ${to}`).toEqual(names(renders.get(to)!));
        const vs = fake.objects.find((o) => o.kind === "VirtualService");
        const own = renders.get(to)!.find((o) => o.kind === "VirtualService");
        expect(vs?.spec, `${before.join(" + ")} → ${to}`).toEqual(own?.spec);
      }
    }
  });

  it("every object of every lesson carries the label switching removes by (a new overlay cannot forget it)", () => {
    for (const [lesson, objects] of renders) {
      for (const o of objects)
        expect(o.metadata.labels?.["app.kubernetes.io/part-of"], `${lesson}: ${o.kind} ${o.metadata.name}`).toBe(
          "istio-lessons",
        );
    }
  });

  it("the learner's own objects in the namespace (no lesson label) stay", async () => {
    const { code, fake } = await lesson(["weighted"], (f) => {
      f.ready(renders.get("outlier-ejection"));
      f.apply([
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "my-notes", namespace: "istio-lessons" }, data: {} },
      ]);
    });
    expect(code).toBe(0);
    expect(fake.objects.map((o) => o.metadata.name)).toContain("my-notes");
    expect(fake.objects.map((o) => o.metadata.name)).not.toContain("flaskapp-v1-faulty");
  });
});

describe("lesson on a cluster without the Gateway API CRDs (minikube, Docker Desktop)", () => {
  it("an Istio-API lesson applies: the Gateway API's kinds are neither deleted nor needed", async () => {
    const { code, stderr, stdout, fake } = await lesson(["weighted"], (f) => {
      f.ready(renders.get("outlier-ejection"));
      f.gatewayApiCrds = false;
    });
    expect(stderr).toBe("");
    expect(code).toBe(0);
    expect(stdout).toContain("(skipped: this cluster does not serve the Gateway API: nothing of it to remove)");
    expect(fake.commands().filter((c) => c.includes("gateway.networking.k8s.io") && c.includes(" delete "))).toEqual(
      [],
    );
    expect(fake.rules()).toEqual(rulesOfLesson("weighted"));
  });

  it("a Gateway API lesson stops before changing anything, with the exact command that installs the CRDs (exit 4)", async () => {
    const { code, stderr, fake } = await lesson(["gateway-api/weighted"], (f) => {
      f.ready(renders.get("weighted"));
      f.gatewayApiCrds = false;
    });
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toBe(
      `lesson: not ready: gateway-api/weighted needs the Gateway API (HTTPRoute), which this cluster does not serve: install the Gateway API CRDs paired with your Istio: kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/${NEWEST_RELEASE.gatewayApi}/experimental-install.yaml (Istio ${NEWEST_RELEASE.version}; ${[
        ...LESSON_RELEASES,
      ]
        .reverse()
        .slice(1)
        .map((r) => `${r.version}: ${r.gatewayApi}`)
        .join(", ")} in its place), or use npm run cluster -- up\n`,
    );
    expect(fake.commands().at(-1)).toBe(GATEWAY_API_QUERY("$ kubectl"));
    expect(fake.rules()).toEqual(rulesOfLesson("weighted"));
  });
});

describe("lesson failure paths", () => {
  it("no cluster: one line, exit 3, nothing deleted or applied", async () => {
    const { code, stdout, stderr, fake } = await lesson(["weighted"]);
    expect(code).toBe(EXIT.noCluster);
    expect(stdout).toBe("");
    expect(stderr).toMatch(/^lesson: no cluster: kubectl has no current context[^\n]*\n$/);
    expect(fake.commands()).toEqual(WEIGHTED.slice(0, 1));
  });

  it("an API server that refuses connections: kubectl's own words, without its memcache noise", async () => {
    const { code, stderr } = await lesson(["weighted"], (f) => {
      f.ready();
      f.apiServer = "refused";
    });
    expect(code).toBe(EXIT.noCluster);
    expect(stderr).toBe(
      "lesson: no cluster: the API server at https://127.0.0.1:41235 (the current context) does not answer: The connection to the server 127.0.0.1:41235 was refused - did you specify the right host or port?\n",
    );
  });

  it("images not in the cluster: the wait ends, and each pod's reason is named with the fix", async () => {
    const { code, stdout, stderr } = await lesson(["weighted"], (f) => {
      f.ready();
      f.nodeImages.clear();
    });
    expect(code).toBe(EXIT.notReady);
    expect(stdout).toContain("error: timed out waiting for the condition");
    expect(stderr.split("\n")).toEqual([
      "lesson: not ready:",
      expect.stringMatching(
        /^ {2}pod flaskapp-v1-\S+: container flaskapp cannot get image istio-lessons\/flaskapp:0\.1\.0 \(ImagePullBackOff\): the image is not in the cluster: build and load it \(npm run cluster -- up, or kind load docker-image istio-lessons\/flaskapp:0\.1\.0; minikube: minikube image load istio-lessons\/flaskapp:0\.1\.0\)$/,
      ),
      expect.stringMatching(
        /^ {2}pod flaskapp-v2-\S+: container flaskapp cannot get image istio-lessons\/flaskapp:0\.1\.0/,
      ),
      expect.stringMatching(/^ {2}pod sleep-\S+: container sleep cannot get image istio-lessons\/sleep:0\.1\.0/),
      "",
    ]);
  });

  it("a cluster without Istio: its rule kinds are not served", async () => {
    const { code, stderr, fake } = await lesson(["weighted"], (f) => {
      f.ready();
      f.istioInstalled = false;
    });
    expect(code).toBe(EXIT.notReady);
    expect(stderr).toMatch(
      /^lesson: not ready: this cluster does not serve [a-z]+: install Istio first \(npm run cluster -- up, or istioctl install --set profile=demo -y\)\n$/,
    );
    // The first delete already fails.
    expect(fake.commands()).toEqual(WEIGHTED.slice(0, 4));
  });

  it("kubectl not installed: one line saying how to get it, exit 5", async () => {
    const { code, stderr } = await lesson(["weighted"], undefined, []);
    expect(code).toBe(EXIT.missingTool);
    expect(stderr).toBe(
      "lesson: kubectl is not installed or not on PATH: install it from https://kubernetes.io/docs/tasks/tools/ (it renders the overlays too)\n",
    );
  });

  it.each([
    ["no lesson", [], "name a lesson"],
    ["two lessons", ["weighted", "mirror"], "one lesson at a time"],
    ["unknown lesson", ["canary"], 'unknown lesson "canary"'],
    [
      "a sidecar lesson ambient cannot express",
      ["ambient/fault-delay"],
      "ambient/fault-delay is no lesson: an HTTPRoute has no fault filter",
    ],
    ["a wait of 0s", ["weighted", "--wait", "0s"], '--wait "0s"'],
  ])("usage: %s", async (_name, args, message) => {
    expect((await refusal(lessonCommand, args)).message).toContain(message);
  });

  it("as a process (npm run lesson): an unknown lesson exits 2 with the usage", async () => {
    const bad = await runProgram(process.execPath, ["lessons/src/cli/lesson.ts", "canary"], 30_000, { cwd: ROOT });
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toMatch(/^lesson: unknown lesson "canary"; lessons: .*\nusage: npm run lesson -- <lesson>/);
  });
});
