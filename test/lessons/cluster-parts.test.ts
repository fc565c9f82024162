// The parts of the cluster tooling on their own: running a plan step (its time
// limit at the edge, a missing program, saving output), how rules are told apart
// (every rule kind a lesson may use, with today's and new kinds), reading pods
// (native and classic sidecars), the Istio versions, the options' limits, and
// how a command's outcome becomes its exit code.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { K8sObject } from "#lessons/core/kustomize.ts";
import {
  assessPods,
  ownerDeployment,
  podProblem,
  strayPods,
  type Pod,
  type RenderedDeployment,
} from "#lessons/cluster/kube.ts";
import {
  assessRules,
  contains,
  deletionGroups,
  excludeNames,
  objectResourceOf,
  objectResources,
  resourceOf,
  RuleKindError,
  ruleResources,
  rulesOf,
} from "#lessons/cluster/rules.ts";
import type { Lesson } from "#lessons/catalog/lessons.ts";
import { commandExitCode } from "#lessons/cli/command.ts";
import { UsageError } from "#common/usage-error.ts";
import { countOption, durationOption, LIMITS } from "#lessons/cli/options.ts";
import { EXIT, lastError, runStep, StepError, type PlanIo } from "#lessons/cluster/plan.ts";
import { runProgram } from "#lessons/core/run.ts";
import { findOnPath, ISTIO_RELEASES, istioSupport, minorOf, missingToolMessage } from "#lessons/cluster/tools.ts";
import { cachedRenders, captureIo, FakeCluster } from "./stand-ins/fake-cluster.ts";

let fake: FakeCluster | undefined;
afterEach(async () => {
  await fake?.stop();
  fake = undefined;
});

function planIo(env: NodeJS.ProcessEnv, dryRun = false): { io: PlanIo; out: () => string } {
  const run = captureIo(env);
  return { io: { dryRun, write: run.io.out, env, cwd: run.io.cwd }, out: run.stdout };
}

describe("a command's exit code (what each command's process exits with)", () => {
  const USAGE = "usage: npm run x -- <lesson>";
  async function exitOf(main: () => Promise<number>) {
    let stderr = "";
    const code = await commandExitCode("x", USAGE, main, ["a", "b"], (t) => (stderr += t));
    return { code, stderr };
  }

  it("is what the command returns, with nothing added", async () => {
    expect(await exitOf(async () => EXIT.notReady)).toEqual({ code: EXIT.notReady, stderr: "" });
  });

  it("a usage error: the message, then the usage, exit 2", async () => {
    expect(await exitOf(async () => Promise.reject(new UsageError('unknown lesson "canary"')))).toEqual({
      code: EXIT.usage,
      stderr: `x: unknown lesson "canary"\n${USAGE}\n`,
    });
  });

  it("any other error: one line and no stack, exit 1", async () => {
    expect(await exitOf(async () => Promise.reject(new Error("kubectl kustomize failed: no such file")))).toEqual({
      code: EXIT.failed,
      stderr: "x: kubectl kustomize failed: no such file\n",
    });
  });

  it("gets the command line it was given", async () => {
    let seen: string[] = [];
    await commandExitCode(
      "x",
      USAGE,
      async (argv) => {
        seen = argv;
        return 0;
      },
      ["--dry-run", "weighted"],
      () => undefined,
    );
    expect(seen).toEqual(["--dry-run", "weighted"]);
  });
});

describe("a plan step", () => {
  it("on a dry run is printed with its note and not run", async () => {
    fake = await FakeCluster.start();
    const { io, out } = planIo(fake.env(), true);
    expect(
      await runStep(
        {
          argv: ["kubectl", "get", "pods", "-o", "jsonpath={.items[*].metadata.name}"],
          note: "the pods",
          timeoutMs: 1000,
        },
        io,
      ),
    ).toBeUndefined();
    expect(out()).toBe("$ kubectl get pods -o 'jsonpath={.items[*].metadata.name}'   # the pods\n");
    expect(fake.calls()).toEqual([]);
  });

  it("is stopped at its time limit, and a step that answers within it is not", async () => {
    fake = await FakeCluster.start();
    fake.ready();
    fake.hangs = (call) => call.argv[0] === "rollout";
    const { io } = planIo(fake.env());
    const started = Date.now();
    const stopped = runStep(
      { argv: ["kubectl", "rollout", "status", "deployment/sleep", "-n", "istio-lessons"], timeoutMs: 400 },
      io,
    );
    await expect(stopped).rejects.toThrow(
      /^`kubectl rollout status deployment\/sleep \.\.\.` failed \(exit code -1\): kubectl: stopped after 400 ms$/,
    );
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await expect(runStep({ argv: ["kind", "get", "clusters"], timeoutMs: 5_000 }, io)).resolves.toMatchObject({
      code: 0,
    });
  });

  it("a program that ignores SIGTERM at its limit gets SIGKILL after the grace period", async () => {
    const started = Date.now();
    // `exec` keeps one process: sleep inherits the ignored SIGTERM.
    const run = await runProgram("/bin/sh", ["-c", 'trap "" TERM; exec sleep 30'], 200, { killGraceMs: 300 });
    expect(run).toEqual({ code: -1, stdout: "", stderr: "/bin/sh: stopped after 200 ms\n", timedOut: true });
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it("a program that is not installed: the tool's install hint, exit code 5", async () => {
    fake = await FakeCluster.start(["kubectl"]);
    const { io } = planIo(fake.env());
    const error = await runStep({ argv: ["istioctl", "version"], timeoutMs: 5_000 }, io).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).exitCode).toBe(EXIT.missingTool);
    expect((error as StepError).message).toBe(missingToolMessage("istioctl"));
  });

  it("with an output file: saves stdout and stderr there, and a failure does not stop the plan", async () => {
    fake = await FakeCluster.start();
    const { io } = planIo(fake.env());
    const dir = mkdtempSync(join(tmpdir(), "step-out-"));
    try {
      await runStep(
        { argv: ["kubectl", "get", "pods", "-A", "-o", "yaml"], outFile: join(dir, "pods.yaml"), timeoutMs: 5_000 },
        io,
      );
      const saved = readFileSync(join(dir, "pods.yaml"), "utf8");
      expect(saved).toMatch(/memcache\.go:265\]/);
      expect(
        saved.endsWith(
          "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n\n(exit code 1)\n",
        ),
      ).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reports kubectl's own last words, without its memcache.go discovery noise", () => {
    const stderr =
      'E1125 10:26:32.459942    9182 memcache.go:265] "Unhandled Error" err="couldn\'t get current server API group list: Get \\"http://localhost:8080/api?timeout=32s\\": dial tcp 127.0.0.1:8080: connect: connection refused"\n' +
      "The connection to the server localhost:8080 was refused - did you specify the right host or port?\n" +
      'E1125 10:26:32.461492    9182 memcache.go:265] "Unhandled Error" err="..."\n';
    expect(lastError({ code: 1, stdout: "", stderr })).toBe(
      "The connection to the server localhost:8080 was refused - did you specify the right host or port?",
    );
    expect(lastError({ code: 1, stdout: "✔ Istiod installed\n", stderr: "" })).toBe("✔ Istiod installed");
    expect(lastError({ code: 2, stdout: "", stderr: "" })).toBe("exit code 2");
  });
});

describe("rules: which objects are a lesson's rules, and how they are told apart on a cluster", () => {
  let renders: ReadonlyMap<Lesson, readonly K8sObject[]>;
  beforeAll(async () => {
    renders = await cachedRenders();
  });

  const rule = (apiVersion: string, kind: string, name: string, spec: object = {}): K8sObject => ({
    apiVersion,
    kind,
    metadata: { name, namespace: "istio-lessons" },
    spec,
  });

  it("every rule kind of every lesson is one the tooling knows (a new kind must be added to RULE_RESOURCES)", () => {
    for (const [lesson, objects] of renders)
      for (const r of rulesOf(objects)) expect(() => resourceOf(r), `${lesson}: ${r.kind}`).not.toThrow();
    // Today's lessons use these two; lessons with other kinds add theirs after them (RULE_RESOURCES order).
    expect(ruleResources(renders.values()).slice(0, 2)).toEqual([
      "virtualservices.networking.istio.io",
      "destinationrules.networking.istio.io",
    ]);
  });

  it.each([
    ["networking.istio.io/v1", "Gateway", "gateways.networking.istio.io"],
    ["gateway.networking.k8s.io/v1", "Gateway", "gateways.gateway.networking.k8s.io"],
    ["networking.istio.io/v1", "ServiceEntry", "serviceentries.networking.istio.io"],
    ["networking.istio.io/v1", "Sidecar", "sidecars.networking.istio.io"],
    ["gateway.networking.k8s.io/v1", "HTTPRoute", "httproutes.gateway.networking.k8s.io"],
    ["networking.istio.io/v1", "VirtualService", "virtualservices.networking.istio.io"],
  ])("%s %s is %s (fully qualified: the two Gateways share a kind)", (apiVersion, kind, resource) => {
    expect(resourceOf(rule(apiVersion, kind, "x"))).toBe(resource);
  });

  it("an unknown kind of a rule group is an error naming where to add it; workloads are not rules", () => {
    expect(() => resourceOf(rule("networking.istio.io/v1", "ProxyConfig", "x"))).toThrow(RuleKindError);
    expect(() => resourceOf(rule("networking.istio.io/v1", "ProxyConfig", "x"))).toThrow(
      "add it to RULE_RESOURCES in lessons/src/cluster/rules.ts",
    );
    expect(
      rulesOf([
        rule("apps/v1", "Deployment", "d"),
        rule("v1", "Service", "s"),
        rule("gateway.networking.k8s.io/v1", "HTTPRoute", "r"),
      ]).map((r) => r.kind),
    ).toEqual(["HTTPRoute"]);
  });

  it("new kinds join the cleaning as soon as a lesson uses them (a Gateway API lesson, an egress lesson)", () => {
    const gatewayApi = [rule("gateway.networking.k8s.io/v1", "HTTPRoute", "flaskapp")];
    const egress = [
      rule("networking.istio.io/v1", "ServiceEntry", "httpbin"),
      rule("networking.istio.io/v1", "Sidecar", "default"),
    ];
    const resources = ruleResources([...renders.values(), gatewayApi, egress]);
    expect(resources).toEqual([
      "virtualservices.networking.istio.io",
      "destinationrules.networking.istio.io",
      "gateways.networking.istio.io",
      "serviceentries.networking.istio.io",
      "sidecars.networking.istio.io",
      "httproutes.gateway.networking.k8s.io",
      "gateways.gateway.networking.k8s.io",
    ]);
    // Switching to the Gateway API lesson: everything goes but its HTTPRoute flaskapp; the
    // Gateway API's kinds in deletes of their own (a cluster may not serve them).
    expect(deletionGroups(resources, gatewayApi)).toEqual([
      {
        resources: [
          "virtualservices.networking.istio.io",
          "destinationrules.networking.istio.io",
          "gateways.networking.istio.io",
          "serviceentries.networking.istio.io",
          "sidecars.networking.istio.io",
        ],
        keep: [],
      },
      { resources: ["gateways.gateway.networking.k8s.io"], keep: [] },
      { resources: ["httproutes.gateway.networking.k8s.io"], keep: ["flaskapp"] },
    ]);
    expect(excludeNames(["a", "b"])).toBe("metadata.name!=a,metadata.name!=b");
  });

  it("a rule on the cluster is the lesson's when it has every rendered field (the API server may add defaults)", () => {
    const rendered = { hosts: ["flaskapp"], http: [{ route: [{ destination: { host: "flaskapp", subset: "v2" } }] }] };
    expect(contains({ ...rendered, exportTo: ["*"] }, rendered)).toBe(true);
    expect(
      contains(
        {
          hosts: ["flaskapp"],
          http: [{ route: [{ destination: { host: "flaskapp", subset: "v2", port: { number: 80 } }, weight: 100 }] }],
        },
        rendered,
      ),
    ).toBe(true);
    expect(
      contains(
        { hosts: ["flaskapp"], http: [{ route: [{ destination: { host: "flaskapp", subset: "v1" } }] }] },
        rendered,
      ),
    ).toBe(false);
    expect(contains({ hosts: ["flaskapp"], http: [] }, rendered)).toBe(false);
    expect(contains({ hosts: ["flaskapp", "other"], http: rendered.http }, rendered)).toBe(false);
  });

  it("names the lessons a leftover comes from, and a rule that matches no lesson", () => {
    const live = [
      ...rulesOf(renders.get("weighted")!),
      rule(
        "networking.istio.io/v1",
        "VirtualService",
        "flaskapp-default-v2",
        renders.get("v2-default")!.find((o) => o.kind === "VirtualService")!.spec,
      ),
      rule("networking.istio.io/v1", "ServiceEntry", "mine"),
    ];
    const findings = assessRules(live, "weighted", renders);
    expect(findings.missing).toEqual([]);
    expect(findings.changed).toEqual([]);
    expect(findings.leftovers.map(({ rule: r, from }) => [r.metadata.name, from])).toEqual([
      ["flaskapp-default-v2", ["v2-default"]],
      ["mine", []],
    ]);
    // The shared DestinationRule flaskapp is several lessons': the same rule in each.
    const dr = assessRules(rulesOf(renders.get("weighted")!), "header-canary", renders);
    expect(dr.changed.map(({ rule: r, from }) => [r.kind, from])).toEqual([["VirtualService", ["weighted"]]]);
  });
});

describe("objects a switch removes: every kind a lesson holds besides its rules", () => {
  const obj = (apiVersion: string, kind: string, name: string): K8sObject => ({
    apiVersion,
    kind,
    metadata: { name, namespace: "istio-lessons" },
  });

  it("every lesson's objects are of a kind the tooling can remove (a new kind must be added to OBJECT_RESOURCES); the Namespace never goes", async () => {
    const renders = await cachedRenders();
    for (const [lesson, objects] of renders)
      for (const o of objects)
        if (!rulesOf([o]).length) expect(() => objectResourceOf(o), `${lesson}: ${o.kind}`).not.toThrow();
    expect(objectResources(renders.values())).toEqual([
      "deployments.apps",
      "services",
      "serviceaccounts",
      "configmaps",
    ]);
    expect(objectResourceOf(obj("v1", "Namespace", "istio-lessons"))).toBeUndefined();
    expect(() => objectResourceOf(obj("batch/v1", "Job", "x"))).toThrow(
      "add it to OBJECT_RESOURCES in lessons/src/cluster/rules.ts",
    );
  });

  it("groups by the names the lesson keeps: outlier-ejection's extra Deployment is kept only by it", () => {
    const app = [
      obj("apps/v1", "Deployment", "flaskapp-v1"),
      obj("apps/v1", "Deployment", "sleep"),
      obj("v1", "Service", "flaskapp"),
    ];
    expect(deletionGroups(["deployments.apps", "services"], app, objectResourceOf)).toEqual([
      { resources: ["services"], keep: ["flaskapp"] },
      { resources: ["deployments.apps"], keep: ["flaskapp-v1", "sleep"] },
    ]);
  });
});

describe("stray pods: behind a lesson's Service, of no Deployment of the lesson", () => {
  const workloads: RenderedDeployment[] = [
    { name: "flaskapp-v1", matchLabels: { app: "flaskapp", version: "v1" }, replicas: 1 },
  ];
  const services = [{ name: "flaskapp", selector: { app: "flaskapp" } }];
  const pod = (name: string, labels: Record<string, string>, owner?: string): Pod => ({
    metadata: {
      name,
      labels: { ...labels, "pod-template-hash": "7c9d" },
      ...(owner !== undefined ? { ownerReferences: owner ? [{ kind: "ReplicaSet", name: `${owner}-7c9d` }] : [] } : {}),
    },
  });

  it("the Deployment a pod belongs to comes from its ReplicaSet, not its labels", () => {
    expect(ownerDeployment(pod("a", {}, "flaskapp-v1-faulty"))).toBe("flaskapp-v1-faulty");
    expect(ownerDeployment(pod("a", {}, ""))).toBe("");
    expect(ownerDeployment(pod("a", {}))).toBeUndefined();
  });

  it("names the faulty pod whose labels the lesson's subset v1 also selects; the lesson's own pods and pods behind no Service are fine", () => {
    const own = pod("flaskapp-v1-7c9d-a", { app: "flaskapp", version: "v1" }, "flaskapp-v1");
    const faulty = pod(
      "flaskapp-v1-faulty-7c9d-b",
      { app: "flaskapp", version: "v1", fault: "503" },
      "flaskapp-v1-faulty",
    );
    const elsewhere = pod("other-7c9d-c", { app: "other" }, "other");
    expect(strayPods([own, faulty, elsewhere], workloads, services, "ns", "mirror")).toEqual([
      "pod flaskapp-v1-faulty-7c9d-b (deployment flaskapp-v1-faulty) is behind Service flaskapp but belongs to no Deployment of mirror: it gets a share of the requests; remove it with npm run lesson -- mirror (or kubectl delete deployment/flaskapp-v1-faulty -n ns)",
    ]);
    // ...and it does not count as one of flaskapp-v1's replicas.
    expect(assessPods([faulty], workloads, "ns")).toEqual([
      "deployment/flaskapp-v1 has 0 of 1 pods ready: kubectl describe deployment/flaskapp-v1 -n ns",
    ]);
  });

  it("a bare pod (no owner) behind the Service is named with kubectl delete pod", () => {
    expect(strayPods([pod("debug", { app: "flaskapp" }, "")], workloads, services, "ns")).toEqual([
      "pod debug is behind Service flaskapp but belongs to no Deployment of this lesson: it gets a share of the requests; remove it with kubectl delete pod/debug -n ns",
    ]);
  });
});

describe("pods: ready, with their sidecar", () => {
  const workloads: RenderedDeployment[] = [
    { name: "flaskapp-v1", matchLabels: { app: "flaskapp", version: "v1" }, replicas: 1 },
  ];
  const running = { running: {} };
  function pod(over: {
    native?: boolean;
    sidecar?: boolean;
    appReady?: boolean;
    waiting?: string;
    terminating?: boolean;
    name?: string;
  }): Pod {
    const { native = true, sidecar = true, appReady = true } = over;
    const app = {
      name: "flaskapp",
      ready: appReady,
      image: "istio-lessons/flaskapp:0.1.0",
      state: over.waiting ? { waiting: { reason: over.waiting } } : running,
    };
    const proxy = { name: "istio-proxy", ready: true, state: running };
    return {
      metadata: {
        name: over.name ?? "flaskapp-v1-abc",
        labels: { app: "flaskapp", version: "v1" },
        ...(over.terminating ? { deletionTimestamp: "2026-11-25T10:00:00Z" } : {}),
      },
      spec: {
        containers: [{ name: "flaskapp" }, ...(sidecar && !native ? [{ name: "istio-proxy" }] : [])],
        initContainers:
          sidecar && native ? [{ name: "istio-init" }, { name: "istio-proxy", restartPolicy: "Always" }] : [],
      },
      status: {
        conditions: [{ type: "Ready", status: appReady ? "True" : "False" }],
        containerStatuses: [app, ...(sidecar && !native ? [proxy] : [])],
        initContainerStatuses:
          sidecar && native
            ? [{ name: "istio-init", ready: false, state: { terminated: { reason: "Completed" } } }, proxy]
            : [],
      },
    };
  }

  it.each([
    ["a native sidecar (an init container that keeps running, Istio 1.28+)", pod({ native: true })],
    ["a sidecar container (Istio before 1.28, or native sidecars off)", pod({ native: false })],
  ])("2/2 with %s", (_name, p) => {
    expect(assessPods([p], workloads, "istio-lessons")).toEqual([]);
  });

  it("1/1: no sidecar", () => {
    expect(podProblem(pod({ sidecar: false }), "istio-lessons", "flaskapp-v1")).toMatch(
      /^pod flaskapp-v1-abc runs without the istio-proxy sidecar \(1\/1\)/,
    );
  });

  it("an image that cannot be pulled names the kind cluster to load it into", () => {
    expect(
      podProblem(pod({ appReady: false, waiting: "ErrImageNeverPull" }), "istio-lessons", "flaskapp-v1", "lab"),
    ).toContain("kind load docker-image istio-lessons/flaskapp:0.1.0 --name lab;");
  });

  it("not ready yet: which containers are still waiting", () => {
    expect(podProblem(pod({ appReady: false, waiting: "ContainerCreating" }), "istio-lessons", "flaskapp-v1")).toBe(
      "pod flaskapp-v1-abc is not ready (1/2; waiting: flaskapp (ContainerCreating))",
    );
  });

  it("counts replicas, and ignores pods on their way out", () => {
    expect(assessPods([], workloads, "ns")).toEqual([
      "deployment/flaskapp-v1 has 0 of 1 pods ready: kubectl describe deployment/flaskapp-v1 -n ns",
    ]);
    expect(assessPods([pod({ terminating: true, sidecar: false, name: "old" }), pod({})], workloads, "ns")).toEqual([]);
    expect(assessPods([pod({})], [{ ...workloads[0]!, replicas: 2 }], "ns")).toEqual([
      "deployment/flaskapp-v1 has 1 of 2 pods ready: kubectl describe deployment/flaskapp-v1 -n ns",
    ]);
  });
});

describe("tools and Istio versions", () => {
  it("supports the oldest and newest Istio minors of ISTIO_RELEASES, each with its Gateway API release", () => {
    expect(ISTIO_RELEASES.map((r) => r.minor)).toEqual(["1.29", "1.30", "1.31"]);
    for (const release of ISTIO_RELEASES) {
      expect(release.patch.startsWith(`${release.minor}.`)).toBe(true);
      expect(istioSupport(release.patch)).toEqual({ ok: true });
      expect(release.gatewayApi).toMatch(/^v\d+\.\d+\.\d+$/);
    }
  });

  it.each([
    ["1.22.0", true, /no longer supported upstream/],
    ["1.21.6", false, /too old: the lessons' rules use networking\.istio\.io\/v1, served since Istio 1\.22/],
    [
      "1.28.10",
      true,
      /older than the releases these lessons are checked with \(1\.29, 1\.30, 1\.31\) and no longer supported upstream/,
    ],
    ["1.32.0", true, /newer than the releases these lessons were checked with/],
    ["1.31-dev", true, undefined],
    ["unknown", false, /cannot read istioctl's version/],
  ])("istioctl %s", (version, ok, says) => {
    const support = istioSupport(version);
    expect(support.ok).toBe(ok);
    const text = support.ok ? support.note : support.message;
    if (says) expect(text).toMatch(says);
    else expect(text).toBeUndefined();
  });

  it("reads versions as istioctl prints them", () => {
    expect(minorOf("1.31.1")).toEqual([1, 31]);
    expect(minorOf("v1.36.1")).toEqual([1, 36]);
    expect(minorOf("1.31.0-beta.1")).toEqual([1, 31]);
    expect(minorOf("dev")).toBeUndefined();
  });

  it("finds executables on PATH only", async () => {
    fake = await FakeCluster.start(["kind"]);
    expect(findOnPath("kind", fake.env())).toBe(join(fake.bin, "kind"));
    expect(findOnPath("kubectl", fake.env())).toBeUndefined();
    expect(findOnPath("kind", { PATH: "" })).toBeUndefined();
  });
});

describe("option limits, at their edges", () => {
  it.each(Object.entries(LIMITS).filter(([name]) => name !== "passes"))(
    "%s: min and max accepted, just outside refused, unset is the default",
    (name, limit) => {
      const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
      const ms = (n: number) => `${n}ms`;
      expect(durationOption(flag, undefined, limit)).toBe(limit.default);
      expect(durationOption(flag, ms(limit.min), limit)).toBe(limit.min);
      expect(durationOption(flag, ms(limit.max), limit)).toBe(limit.max);
      expect(() => durationOption(flag, ms(limit.max + 1), limit)).toThrow(`--${flag} "${limit.max + 1}ms"`);
      if (limit.min > 0) expect(() => durationOption(flag, ms(limit.min - 1), limit)).toThrow(`--${flag}`);
    },
  );

  it("passes: 1 to 10, whole numbers only", () => {
    expect(countOption("passes", undefined, LIMITS.passes)).toBe(3);
    expect(countOption("passes", "1", LIMITS.passes)).toBe(1);
    expect(countOption("passes", "10", LIMITS.passes)).toBe(10);
    for (const bad of ["0", "11", "-1", "1.5", "", "three"])
      expect(() => countOption("passes", bad, LIMITS.passes)).toThrow("--passes");
  });
});
