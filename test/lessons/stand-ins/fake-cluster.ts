// A fake cluster behind stand-in kubectl, kind, istioctl and docker executables:
// what the cluster tooling runs here, where none of them can run for real. Each
// stand-in is a small sh script on PATH that posts its argv (NUL-separated) to
// this object's HTTP server on 127.0.0.1, which records the call (one JSON line
// in calls.jsonl) and answers: the script prints the answer's stdout and stderr
// and exits with its code. The object keeps the state a cluster would (kind clusters, contexts,
// images, Istio, applied objects, pods) and answers with the real tools' output
// formats and exit codes, failure modes included: not installed, no kubeconfig,
// API server unreachable or not Kubernetes, images not loaded, no sidecar,
// istioctl precheck or install failing, a wait that never ends.
//
// `kubectl kustomize` runs the real kubectl, and `kubectl exec deploy/sleep --
// tally ARGS` runs the real tally bundle against the mesh preview of the objects
// applied in the namespace (Mesh.start, mesh.localUrl, mesh.requestLogs, mesh.stop).
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { IMAGE_NAMES } from "#lessons/core/images.ts";
import { parseManifests, type K8sObject } from "#lessons/core/kustomize.ts";
import { clusterCommand } from "#lessons/cli/cluster.ts";
import { lessonCommand } from "#lessons/cli/lesson.ts";
import type { Renders } from "#lessons/cluster/lesson-steps.ts";
import { allLessons, overlayDir } from "#lessons/catalog/lessons.ts";
import { verifyCommand } from "#lessons/cli/verify.ts";
import { RULE_RESOURCES, ruleResources } from "#lessons/cluster/rules.ts";
import { Mesh } from "#lessons/mesh/mesh.ts";
import { runTally } from "#lessons/checks/preview.ts";
import { formatCommand } from "#lessons/core/shell.ts";
import { afterAll, beforeAll } from "vitest";
import { runProgram } from "#lessons/core/run.ts";
import { UsageError } from "#common/usage-error.ts";
import { lessonRenders } from "../../renders.ts";

export type ToolName = "kubectl" | "kind" | "istioctl" | "docker" | "minikube";
export const ALL_TOOLS: ToolName[] = ["kubectl", "kind", "istioctl", "docker"];

export interface Call {
  tool: ToolName;
  argv: string[];
  cwd: string;
}

interface Answer {
  stdout: string;
  stderr: string;
  code: number;
}

/** The stand-in executable: argv to the fake cluster, its answer back (files named by the shell's PID, which is unique while it runs). */
function standIn(tool: ToolName): string {
  return `#!/bin/sh
# stand-in ${tool} for the cluster tests: asks the fake cluster at $STAND_IN_URL what ${tool} would answer
code=$(printf '%s\\0' "$@" | ${SHELL_TOOLS.curl} -sS --fail --data-binary @- -H "x-tool: ${tool}" -H "x-cwd: $PWD" -H "x-id: $$" "$STAND_IN_URL") || exit 99
${SHELL_TOOLS.cat} "$STAND_IN_DIR/$$.out"
${SHELL_TOOLS.cat} "$STAND_IN_DIR/$$.err" >&2
${SHELL_TOOLS.rm} -f "$STAND_IN_DIR/$$.out" "$STAND_IN_DIR/$$.err"
exit "$code"
`;
}
const ok = (stdout = "", stderr = ""): Answer => ({ stdout, stderr, code: 0 });
const fail = (stderr: string, stdout = "", code = 1): Answer => ({ stdout, stderr, code });

/** This machine's curl, cat and rm, by absolute path: the stand-ins' PATH holds nothing but the stand-ins. */
const SHELL_TOOLS = Object.fromEntries(
  ["curl", "cat", "rm"].map((cmd) => {
    const dir = (process.env.PATH ?? "").split(":").find((d) => d && existsSync(join(d, cmd)));
    if (!dir) throw new Error(`the stand-ins need ${cmd} on PATH`);
    return [cmd, join(dir, cmd)];
  }),
) as Record<"curl" | "cat" | "rm", string>;

function realKubectl(): string {
  const dir = (process.env.PATH ?? "").split(":").find((d) => d && existsSync(join(d, "kubectl")));
  if (!dir) throw new Error("kubectl is not on PATH: the fake cluster renders overlays with the real one");
  return join(dir, "kubectl");
}

/** kubectl's discovery noise, as it prints it before the error when it cannot reach a server. */
function memcache(url: string, error: string): string {
  return `E1125 10:26:32.459942    9182 memcache.go:265] "Unhandled Error" err="couldn't get current server API group list: Get \\"${url}/api?timeout=32s\\": ${error}"\n`;
}

const RENDERED = new Map<string, Promise<Answer>>();

const BUILTIN: Record<string, { group: string; kind: string }> = {
  pods: { group: "", kind: "Pod" },
  namespace: { group: "", kind: "Namespace" },
  namespaces: { group: "", kind: "Namespace" },
  deployments: { group: "apps", kind: "Deployment" },
  "deployments.apps": { group: "apps", kind: "Deployment" },
  services: { group: "", kind: "Service" },
  serviceaccounts: { group: "", kind: "ServiceAccount" },
  configmaps: { group: "", kind: "ConfigMap" },
  secrets: { group: "", kind: "Secret" },
  "poddisruptionbudgets.policy": { group: "policy", kind: "PodDisruptionBudget" },
};

/** Whether an object's labels satisfy a `-l` selector of `key=value` terms (all of them). */
function labelsSelected(obj: K8sObject, selector: string | undefined): boolean {
  if (!selector) return true;
  const labels = (obj.metadata.labels ?? {}) as Record<string, string>;
  return selector.split(",").every((term) => {
    const [key, value] = term.split("=") as [string, string | undefined];
    return value === undefined ? key in labels : labels[key] === value;
  });
}

/** The Gateway API CRD bundle's version from its release URL. */
function bundleVersion(url: string): string | undefined {
  return /\/download\/(v\d+\.\d+\.\d+)\//.exec(url)?.[1];
}

function olderThan(a: string, b: string): boolean {
  const n = (v: string) => v.slice(1).split(".").map(Number);
  const [x, y] = [n(a), n(b)];
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]!;
  return false;
}

function groupOf(obj: K8sObject): string {
  const slash = obj.apiVersion.indexOf("/");
  return slash === -1 ? "" : obj.apiVersion.slice(0, slash);
}

/** `virtualservice.networking.istio.io`, `deployment.apps`, `service`: how kubectl names an object's type in its output. */
function typeName(obj: K8sObject): string {
  const group = groupOf(obj);
  return `${obj.kind.toLowerCase()}${group ? `.${group}` : ""}`;
}

function same(a: K8sObject, b: K8sObject): boolean {
  return (
    groupOf(a) === groupOf(b) &&
    a.kind === b.kind &&
    a.metadata.name === b.metadata.name &&
    (a.metadata.namespace ?? "") === (b.metadata.namespace ?? "")
  );
}

/** Parsed kubectl arguments: the context and the rest, flags by name. */
function parseKubectl(argv: string[]): {
  context?: string;
  positionals: string[];
  flags: Map<string, string>;
  after: string[];
} {
  const flags = new Map<string, string>();
  const positionals: string[] = [];
  let context: string | undefined;
  const dash = argv.indexOf("--");
  const args = dash === -1 ? argv : argv.slice(0, dash);
  const withValue = new Set([
    "-n",
    "--namespace",
    "-o",
    "-l",
    "-c",
    "--field-selector",
    "-k",
    "-f",
    "--for",
    "--sort-by",
    "--since",
    "--tail",
    "--timeout",
  ]);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--context") context = args[++i];
    else if (arg.startsWith("--context=")) context = arg.slice("--context=".length);
    else if (arg.startsWith("-") && arg.includes("="))
      flags.set(arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1));
    else if (withValue.has(arg)) flags.set(arg === "--namespace" ? "-n" : arg, args[++i] ?? "");
    else if (arg.startsWith("-")) flags.set(arg, "true");
    else positionals.push(arg);
  }
  return {
    ...(context !== undefined ? { context } : {}),
    positionals,
    flags,
    after: dash === -1 ? [] : argv.slice(dash + 1),
  };
}

export interface Pod {
  apiVersion: "v1";
  kind: "Pod";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    ownerReferences: Array<{ apiVersion: string; kind: string; name: string; controller: boolean }>;
  };
  spec: {
    containers: Array<{ name: string; image: string }>;
    initContainers: Array<{ name: string; image: string; restartPolicy?: string }>;
  };
  status: {
    phase: string;
    conditions: Array<{ type: string; status: string }>;
    containerStatuses: object[];
    initContainerStatuses: object[];
  };
}

export class FakeCluster {
  // The state a cluster, a Docker engine and the tools' configuration would hold; tests set it freely.
  kindClusters = new Set<string>();
  /** kubeconfig contexts and their API server URLs. */
  contexts = new Map<string, string>();
  currentContext: string | undefined;
  apiServer: "up" | "refused" | "not-kubernetes" = "up";
  dockerRunning = true;
  dockerImages = new Set<string>();
  istioctlVersion = "1.31.0";
  istioInstalled = false;
  /** Installed with the ambient profile: ztunnel and the CNI agent run, and enrol the pods of ambient namespaces. */
  ambientProfile = false;
  /** Istio's sidecar injector works (false: pods start without istio-proxy, 1/1). */
  injector = true;
  /** istio-proxy as a native sidecar (an init container with restartPolicy Always: Istio 1.28+), or as a regular container. */
  nativeSidecars = true;
  gatewayApiCrds = false;
  /** The Gateway API CRD release installed (v1.5+ bundles add an admission policy that refuses older ones). */
  gatewayApiVersion: string | undefined;
  /** Our images loaded into the kind nodes; one of ours that is not here cannot be pulled (ImagePullBackOff). */
  nodeImages = new Set<string>();
  objects: K8sObject[] = [];
  /** Forced failures of the tools. */
  failures: { build?: string; kindCreate?: boolean; precheck?: boolean; install?: boolean; istioUnhealthy?: boolean } =
    {};
  /** A Deployment's app container stuck waiting with this reason. */
  stuck: { deployment: string; reason: string } | undefined;
  /** After a change of the rules, this many tally runs still see the previous rules (they take a moment to reach every sidecar). */
  propagationCalls = 0;
  /**
   * How `kubectl exec ... -- tally` answers: "mesh" runs the real tally against the mesh
   * preview; "scripted" answers every check with a pass at once (and logs a mirrored copy
   * of each request), for tests about the sequence of commands rather than the routing.
   */
  tally: "mesh" | "scripted" = "mesh";
  #scripted: { runId?: string; requests: number } = { requests: 0 };
  /** Calls that never get an answer (the caller's time limit must stop them). */
  hangs: (call: Call) => boolean = () => false;

  readonly dir: string;
  readonly bin: string;
  readonly #log: string;
  readonly #kubectl = realKubectl();
  #server: Server | undefined;
  #url = "";
  #mesh: Mesh | undefined;
  #meshKey = "";
  #pendingKey = "";
  #stale = 0;
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(tools: readonly ToolName[]) {
    this.dir = mkdtempSync(join(tmpdir(), "fake-cluster-"));
    this.bin = join(this.dir, "bin");
    this.#log = join(this.dir, "calls.jsonl");
    mkdirSync(this.bin);
    writeFileSync(this.#log, "");
    for (const tool of tools) {
      writeFileSync(join(this.bin, tool), standIn(tool), { mode: 0o755 });
    }
  }

  static async start(tools: readonly ToolName[] = ALL_TOOLS): Promise<FakeCluster> {
    const fake = new FakeCluster(tools);
    fake.#server = createServer((req, res) => {
      const id = String(req.headers["x-id"]);
      const reply = (answer: Answer) => {
        writeFileSync(join(fake.dir, `${id}.out`), answer.stdout);
        writeFileSync(join(fake.dir, `${id}.err`), answer.stderr);
        res.end(String(answer.code));
      };
      void fake.#answer(req).then(
        (answer) => answer && reply(answer),
        (error: Error) => reply(fail(`fake cluster: ${error.stack}\n`, "", 99)),
      );
    });
    await new Promise<void>((done) => fake.#server!.listen(0, "127.0.0.1", done));
    fake.#url = `http://127.0.0.1:${(fake.#server.address() as AddressInfo).port}/`;
    return fake;
  }

  /** The environment for the tooling: only the stand-ins on PATH, no kubeconfig of this machine. */
  env(): NodeJS.ProcessEnv {
    return {
      PATH: this.bin,
      HOME: this.dir,
      KUBECONFIG: join(this.dir, "no-kubeconfig"),
      STAND_IN_DIR: this.dir,
      STAND_IN_URL: this.#url,
      LANG: "C.UTF-8",
    };
  }

  /** A kind cluster `name` with Istio installed, the images loaded and, if given, objects applied: where a learner is after `npm run cluster -- up`. */
  ready(objects: readonly K8sObject[] = [], name = "istio-lessons"): this {
    this.kindClusters.add(name);
    this.contexts.set(`kind-${name}`, "https://127.0.0.1:41235");
    this.currentContext = `kind-${name}`;
    this.istioInstalled = true;
    this.gatewayApiCrds = true;
    this.nodeImages = new Set(IMAGE_NAMES);
    this.apply(objects);
    return this;
  }

  /** Every call the stand-ins received, in order. */
  calls(): Call[] {
    return readFileSync(this.#log, "utf8")
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Call);
  }

  /** The calls as command lines (formatCommand), without the renders (`kubectl kustomize`), which read the repository, not the cluster. */
  commands(): string[] {
    return this.calls()
      .filter((c) => !(c.tool === "kubectl" && c.argv[0] === "kustomize"))
      .map((c) => formatCommand([c.tool, ...c.argv]));
  }

  clearCalls(): void {
    writeFileSync(this.#log, "");
  }

  rules(namespace = "istio-lessons"): string[] {
    return this.objects
      .filter((o) => o.metadata.namespace === namespace && Object.hasOwn(RULE_RESOURCES, `${groupOf(o)}/${o.kind}`))
      .map((o) => `${o.kind} ${o.metadata.name}`)
      .sort();
  }

  async stop(): Promise<void> {
    await this.#mesh?.stop();
    this.#mesh = undefined;
    const closed = new Promise((done) => this.#server?.close(done));
    this.#server?.closeAllConnections();
    await closed;
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Applies objects as `kubectl apply` would; returns its output lines. */
  apply(objects: readonly K8sObject[]): string[] {
    return objects.map((obj) => {
      const live: K8sObject = structuredClone(obj);
      live.metadata.annotations = {
        ...(live.metadata.annotations as object),
        "kubectl.kubernetes.io/last-applied-configuration": JSON.stringify(obj),
      };
      const at = this.objects.findIndex((o) => same(o, obj));
      let verb = "created";
      if (at === -1) this.objects.push(live);
      else {
        verb =
          JSON.stringify(this.objects[at]!.spec) === JSON.stringify(obj.spec) &&
          JSON.stringify(this.objects[at]!.metadata.labels) === JSON.stringify(obj.metadata.labels)
            ? "unchanged"
            : "configured";
        this.objects[at] = live;
      }
      return `${typeName(obj)}/${obj.metadata.name} ${verb}`;
    });
  }

  async #answer(req: IncomingMessage): Promise<Answer | undefined> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const argv = Buffer.concat(chunks).toString("utf8").split("\0").slice(0, -1);
    const call: Call = { tool: req.headers["x-tool"] as ToolName, argv, cwd: String(req.headers["x-cwd"]) };
    appendFileSync(this.#log, `${JSON.stringify(call)}\n`);
    if (this.hangs(call)) return new Promise(() => undefined);
    // One call at a time, as one terminal would run them (tally runs share the mesh).
    const next = this.#queue.then(() => this.#handle(call));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** What the tool would answer to this call, without a process: for tests that run many commands' effects. */
  answer(call: Call): Promise<Answer> {
    return Promise.resolve(this.#handle(call));
  }

  #handle(call: Call): Answer | Promise<Answer> {
    switch (call.tool) {
      case "kind":
        return this.#kind(call);
      case "docker":
        return this.#docker(call);
      case "istioctl":
        return this.#istioctl(call);
      case "kubectl":
        return this.#kubectlCall(call);
      case "minikube":
        return this.#minikube(call);
    }
  }

  // --- kind ---------------------------------------------------------------

  #kind({ argv, cwd }: Call): Answer {
    const name = argv[argv.indexOf("--name") + 1] ?? "kind";
    const verb = argv.slice(0, 2).join(" ");
    if (verb === "get clusters") {
      return this.kindClusters.size === 0
        ? ok("", "No kind clusters found.\n")
        : ok([...this.kindClusters].map((c) => `${c}\n`).join(""));
    }
    if (verb === "create cluster") {
      if (this.kindClusters.has(name))
        return fail(`ERROR: failed to create cluster: node(s) already exist for a cluster with the name "${name}"\n`);
      if (this.failures.kindCreate)
        return fail(
          `Creating cluster "${name}" ...\n ✗ Preparing nodes 📦\nERROR: failed to create cluster: command "docker run --name ${name}-control-plane ..." failed with error: exit status 125\n`,
        );
      this.kindClusters.add(name);
      this.contexts.set(`kind-${name}`, "https://127.0.0.1:41235");
      this.currentContext = `kind-${name}`;
      Object.assign(this, {
        istioInstalled: false,
        ambientProfile: false,
        gatewayApiCrds: false,
        gatewayApiVersion: undefined,
        objects: [],
        nodeImages: new Set(),
      });
      const image = argv.includes("--image") ? argv[argv.indexOf("--image") + 1]! : "kindest/node:v1.36.1";
      const wait = argv.includes("--wait") ? argv[argv.indexOf("--wait") + 1]! : "0s";
      return ok(
        "",
        `Creating cluster "${name}" ...\n ✓ Ensuring node image (${image}) 🖼\n ✓ Preparing nodes 📦\n ✓ Writing configuration 📜\n ✓ Starting control-plane 🕹️\n ✓ Installing CNI 🔌\n ✓ Installing StorageClass 💾\n ✓ Waiting ≤ ${wait} for control-plane = Ready ⏳\n • Ready after 15s 💚\nSet kubectl context to "kind-${name}"\nYou can now use your cluster with:\n\nkubectl cluster-info --context kind-${name}\n`,
      );
    }
    if (verb === "load docker-image") {
      const images = argv.slice(2).filter((a, i, all) => !a.startsWith("--") && all[i - 1] !== "--name");
      const missing = images.find((i) => !this.dockerImages.has(i));
      if (missing) return fail(`ERROR: image: "${missing}" not present locally\n`);
      if (!this.kindClusters.has(name)) return fail(`ERROR: no nodes found for cluster "${name}"\n`);
      for (const image of images) this.nodeImages.add(image);
      return ok(
        "",
        images
          .map(
            (i) => `Image: "${i}" with ID "sha256:0f3e" not yet present on node "${name}-control-plane", loading...\n`,
          )
          .join(""),
      );
    }
    if (verb === "delete cluster") {
      this.kindClusters.delete(name);
      this.contexts.delete(`kind-${name}`);
      if (this.currentContext === `kind-${name}`) this.currentContext = undefined;
      return ok("", `Deleting cluster "${name}" ...\n`);
    }
    if (verb === "export kubeconfig") {
      if (!this.kindClusters.has(name))
        return fail(
          `ERROR: could not locate any control plane nodes for cluster named '${name}'. Use the --name option to select a different cluster\n`,
        );
      this.contexts.set(`kind-${name}`, "https://127.0.0.1:41235");
      this.currentContext = `kind-${name}`;
      return ok("", `Set kubectl context to "kind-${name}"\n`);
    }
    if (verb === "export logs") {
      const dir = resolve(cwd, argv[2]!);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "kind-version.txt"), "kind v0.32.0 go1.25.3 linux/amd64\n");
      return ok(`${dir}\n`, `Exporting logs for cluster "${name}" to:\n`);
    }
    return fail(`ERROR: unknown command "${argv.join(" ")}" for "kind"\n`);
  }

  // --- minikube -------------------------------------------------------------

  /** `minikube start` (a cluster, its context current, no Istio, no Gateway API) and `minikube image load`. */
  #minikube({ argv }: Call): Answer {
    if (argv[0] === "start") {
      this.contexts.set("minikube", "https://192.168.49.2:8443");
      this.currentContext = "minikube";
      Object.assign(this, {
        istioInstalled: false,
        gatewayApiCrds: false,
        gatewayApiVersion: undefined,
        objects: [],
        nodeImages: new Set(),
      });
      return ok(
        `😄  minikube v1.37.0 on Debian 12\n🏄  Done! kubectl is now configured to use "minikube" cluster and "default" namespace by default\n`,
      );
    }
    if (argv[0] === "image" && argv[1] === "load") {
      const image = argv[2]!;
      if (!this.dockerImages.has(image))
        return fail(`❌  Exiting due to GUEST_IMAGE_LOAD: Failed to load image: ${image} not found\n`);
      this.nodeImages.add(image);
      return ok();
    }
    return fail(`Error: unknown command "${argv[0]}" for "minikube"\n`);
  }

  // --- docker -------------------------------------------------------------

  #docker({ argv, cwd }: Call): Answer {
    const down = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n";
    if (argv[0] === "info") return this.dockerRunning ? ok("29.1.3\n") : fail(down, "\n");
    if (argv[0] === "build") {
      if (!this.dockerRunning) return fail(`ERROR: ${down}`);
      const file = argv[argv.indexOf("-f") + 1]!;
      const tag = argv[argv.indexOf("-t") + 1]!;
      if (!existsSync(resolve(cwd, file)))
        return fail(
          `unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat ${resolve(cwd, file)}: no such file or directory\n`,
        );
      if (this.failures.build === tag)
        return fail("The command '/bin/sh -c npm ci' returned a non-zero code: 1\n", "Step 5/18 : RUN npm ci\n");
      this.dockerImages.add(tag);
      return ok(
        `Sending build context to Docker daemon  1.2MB\nStep 1/18 : ARG BUILD_IMAGE\nSuccessfully built 0f3e5c1a2b4d\nSuccessfully tagged ${tag}\n`,
      );
    }
    return fail(`docker: '${argv[0]}' is not a docker command.\n`);
  }

  // --- istioctl -----------------------------------------------------------

  #istioctl({ argv }: Call): Answer {
    const contextAt = argv.indexOf("--context");
    const context = contextAt === -1 ? this.currentContext : argv[contextAt + 1];
    if (argv[0] === "version") {
      const v = this.istioctlVersion;
      return ok(
        `${JSON.stringify({ clientVersion: { version: v, revision: "6d3b3a1f", golang_version: "go1.25.4", status: "Clean", tag: v } }, null, 2)}\n`,
      );
    }
    if (!context || !this.contexts.has(context)) return fail(`Error: context "${context ?? ""}" does not exist\n`);
    if (argv[0] === "x" && argv[1] === "precheck") {
      if (this.failures.precheck) {
        return fail(
          "Issues found when checking the cluster. Istio may not be safe to install or upgrade.\nSee https://istio.io/latest/docs/reference/config/analysis for more information about causes and resolutions.\n",
          "Error [IST0136] (Pod kube-system/kube-apiserver) Kubernetes version 1.29 is not supported by this Istio release\n",
        );
      }
      return ok(
        "",
        "✔ No issues found when checking the cluster. Istio is safe to install or upgrade!\n  To get started, check out https://istio.io/latest/docs/setup/getting-started/.\n",
      );
    }
    if (argv[0] === "install") {
      if (this.failures.install) {
        return fail(
          "✘ Ingress gateways encountered an error: failed to wait for resource: resources not ready after 5m0s: context deadline exceeded\nError: failed to install manifests: errors occurred during operation\n",
          "✔ Istio core installed ⛵️\n✔ Istiod installed 🧠\n",
        );
      }
      this.istioInstalled = true;
      this.ambientProfile = argv.includes("profile=ambient");
      if (this.ambientProfile)
        return ok(
          "✔ Istio core installed ⛵️\n✔ Istiod installed 🧠\n✔ CNI installed 🪢\n✔ Ztunnel installed 🔒\n✔ Installation complete\n",
        );
      return ok(
        "✔ Istio core installed ⛵️\n✔ Istiod installed 🧠\n✔ Egress gateways installed 🛫\n✔ Ingress gateways installed 🛬\n✔ Installation complete\n",
      );
    }
    if (argv[0] === "proxy-status") {
      return ok(
        "NAME                                           CLUSTER        CDS        LDS        EDS        RDS        ECDS        ISTIOD                     VERSION\nsleep-6c9f7d8b5-q2x9z.istio-lessons           Kubernetes     SYNCED     SYNCED     SYNCED     SYNCED     IGNORED     istiod-7d5c8b9f5-abcde     1.31.0\n",
      );
    }
    return fail(`Error: unknown command "${argv[0]}" for "istioctl"\n`);
  }

  // --- kubectl ------------------------------------------------------------

  #serverOf(context: string | undefined): string {
    return context ? this.contexts.get(context)! : "http://localhost:8080";
  }

  /** Whether the API server answers for this context; the error kubectl prints when it does not. */
  #unreachable(context: string | undefined, discovery: boolean): Answer | undefined {
    if (context !== undefined && !this.contexts.has(context))
      return fail(`error: context "${context}" does not exist\n`);
    const server = this.#serverOf(context);
    const host = server.replace(/^https?:\/\//, "");
    if (context === undefined || this.apiServer === "refused") {
      const noise = discovery
        ? memcache(
            server,
            `dial tcp ${host.startsWith("localhost") ? "127.0.0.1:8080" : host}: connect: connection refused`,
          ).repeat(3)
        : "";
      return fail(
        `${noise}The connection to the server ${host} was refused - did you specify the right host or port?\n`,
      );
    }
    if (this.apiServer === "not-kubernetes") {
      return fail(
        `${discovery ? memcache(server, "the server could not find the requested resource") : ""}Error from server (NotFound): the server could not find the requested resource\n`,
      );
    }
    return undefined;
  }

  /** The type a kubectl resource argument names, or undefined when the cluster does not serve it. */
  #resource(arg: string): { group: string; kind: string } | undefined {
    if (BUILTIN[arg]) return BUILTIN[arg];
    const entry = Object.entries(RULE_RESOURCES).find(([, resource]) => resource === arg);
    if (!entry) return undefined;
    const [group, kind] = entry[0].split("/") as [string, string];
    if (group === "networking.istio.io" && !this.istioInstalled) return undefined;
    if (group === "gateway.networking.k8s.io" && !this.gatewayApiCrds) return undefined;
    return { group, kind };
  }

  #unserved(arg: string): Answer {
    return fail(`error: the server doesn't have a resource type "${arg.split(".")[0]}"\n`);
  }

  #ofType(type: { group: string; kind: string }, namespace: string): K8sObject[] {
    return this.objects.filter(
      (o) => groupOf(o) === type.group && o.kind === type.kind && o.metadata.namespace === namespace,
    );
  }

  async #kubectlCall({ argv, cwd }: Call): Promise<Answer> {
    const { context: flagContext, positionals, flags, after } = parseKubectl(argv);
    const [verb, ...rest] = positionals;
    if (verb === "kustomize") return this.#render(rest[0]!, cwd);
    const context = flagContext ?? this.currentContext;
    if (verb === "config") {
      if (flagContext !== undefined && !this.contexts.has(flagContext))
        return fail(`error: cannot locate context ${flagContext}\n`);
      if (context === undefined) return fail("error: current-context must exist in order to minify\n");
      return ok(this.#serverOf(context));
    }
    if (verb === "version") {
      const client = {
        clientVersion: { major: "1", minor: "36", gitVersion: "v1.36.1", platform: "linux/amd64" },
        kustomizeVersion: "v5.7.1",
      };
      const down = this.#unreachable(context, false);
      if (down) return { ...down, stdout: `${JSON.stringify(client, null, 2)}\n` };
      return ok(
        `${JSON.stringify({ ...client, serverVersion: { major: "1", minor: "36", gitVersion: "v1.36.1", platform: "linux/amd64" } }, null, 2)}\n`,
      );
    }
    const down = this.#unreachable(
      context,
      verb === "get" || verb === "delete" || verb === "apply" || verb === "api-resources",
    );
    if (down) return down;
    const namespace = flags.get("-n") ?? "default";
    switch (verb) {
      case "api-resources": {
        const group = flags.get("--api-group");
        const served = Object.entries(RULE_RESOURCES)
          .filter(([key]) => group === undefined || key.startsWith(`${group}/`))
          .map(([, resource]) => resource)
          .filter((resource) => this.#resource(resource));
        return ok(served.map((r) => `${r}\n`).join(""));
      }
      case "apply":
        return this.#applyCall(flags, cwd);
      case "delete":
        return this.#delete(rest, namespace, flags);
      case "get":
        return this.#get(rest, namespace, flags);
      case "rollout":
        return this.#rollout(rest.slice(1), namespace);
      case "wait":
        return rest.some((r) => r.startsWith("gateway/"))
          ? this.#waitGateways(
              rest.filter((r) => r.startsWith("gateway/")),
              namespace,
            )
          : this.#waitIstio(namespace);
      case "exec":
        return this.#exec(namespace, after);
      case "logs":
        return this.#logs(namespace, flags);
      default:
        return fail(`error: unknown command "${verb}" for "kubectl"\n`);
    }
  }

  /** `kubectl kustomize` by the real kubectl; each folder once (the repository does not change during a test). */
  #render(dir: string, cwd: string): Promise<Answer> {
    const key = resolve(cwd, dir);
    let rendered = RENDERED.get(key);
    if (!rendered) {
      rendered = runProgram(this.#kubectl, ["kustomize", dir], 60_000, { cwd });
      RENDERED.set(key, rendered);
    }
    return rendered;
  }

  async #applyCall(flags: Map<string, string>, cwd: string): Promise<Answer> {
    const url = flags.get("-f");
    if (url?.includes("gateway-api")) {
      const version = bundleVersion(url) ?? "v0.0.0";
      if (this.gatewayApiVersion && !olderThan(this.gatewayApiVersion, "v1.5.0") && olderThan(version, "v1.5.0")) {
        return fail(
          `Error from server (Forbidden): error when applying patch: customresourcedefinitions.apiextensions.k8s.io "gatewayclasses.gateway.networking.k8s.io" is forbidden: ValidatingAdmissionPolicy 'safe-upgrades.gateway.networking.k8s.io' with binding 'safe-upgrades.gateway.networking.k8s.io' denied request: Installing CRDs with version before v1.5.0 is prohibited by default. Uninstall ValidatingAdmissionPolicy safe-upgrades.gateway.networking.k8s.io to install older versions.\n`,
        );
      }
      this.gatewayApiCrds = true;
      this.gatewayApiVersion = version;
      return ok(
        ["gatewayclasses", "gateways", "grpcroutes", "httproutes", "referencegrants"]
          .map(
            (r) => `customresourcedefinition.apiextensions.k8s.io/${r}.gateway.networking.k8s.io serverside-applied\n`,
          )
          .join(""),
      );
    }
    const dir = flags.get("-k")!;
    // A lesson's overlay: its render from this test run (the real kustomize's, made once); any other directory is rendered now.
    const lesson = allLessons().find((l) => overlayDir(l) === resolve(cwd, dir));
    let objects: K8sObject[];
    if (lesson) objects = structuredClone(lessonRenders().get(lesson)!);
    else {
      const rendered = await this.#render(dir, cwd);
      if (rendered.code !== 0) return fail(`error: ${rendered.stderr}`);
      objects = parseManifests(rendered.stdout);
    }
    const unserved = objects.find(
      (o) => groupOf(o).includes(".") && !this.#resource(RULE_RESOURCES[`${groupOf(o)}/${o.kind}`] ?? ""),
    );
    if (unserved) {
      return fail(
        `error: resource mapping not found for name: "${unserved.metadata.name}" namespace: "${unserved.metadata.namespace}" from "${dir}": no matches for kind "${unserved.kind}" in version "${unserved.apiVersion}"\nensure CRDs are installed first\n`,
      );
    }
    return ok(
      this.apply(objects)
        .map((l) => `${l}\n`)
        .join(""),
    );
  }

  #delete(args: string[], namespace: string, flags: Map<string, string>): Answer {
    const deleted: K8sObject[] = [];
    if (args.every((a) => a.includes("/"))) {
      for (const ref of args) {
        const [resource, name] = ref.split("/") as [string, string];
        const type = this.#resource(resource);
        if (!type) return this.#unserved(resource);
        const found = this.#ofType(type, namespace).find((o) => o.metadata.name === name);
        if (found) deleted.push(found);
        else if (!flags.has("--ignore-not-found"))
          return fail(`Error from server (NotFound): ${resource} "${name}" not found\n`);
      }
    } else {
      const keep = (flags.get("--field-selector") ?? "")
        .split(",")
        .filter(Boolean)
        .map((s) => s.replace(/^metadata\.name!=/, ""));
      const selector = flags.get("-l");
      if (!flags.has("--all") && keep.length === 0 && !selector)
        return fail("error: resource(s) were provided, but no name was specified\n");
      for (const resource of args[0]!.split(",")) {
        const type = this.#resource(resource);
        if (!type) return this.#unserved(resource);
        deleted.push(
          ...this.#ofType(type, namespace).filter(
            (o) => !keep.includes(o.metadata.name) && labelsSelected(o, selector),
          ),
        );
      }
    }
    this.objects = this.objects.filter((o) => !deleted.includes(o));
    if (deleted.length === 0) return ok("No resources found\n");
    return ok(deleted.map((o) => `${typeName(o)} "${o.metadata.name}" deleted from ${namespace} namespace\n`).join(""));
  }

  #get(args: string[], namespace: string, flags: Map<string, string>): Answer {
    const output = flags.get("-o");
    if (flags.has("-A") || output !== "json")
      return ok(`(kubectl get ${args.join(" ")}${flags.has("-A") ? " -A" : ""}: ${this.objects.length} objects)\n`);
    if (args[0] === "namespace") {
      const ns = this.objects.find((o) => o.kind === "Namespace" && o.metadata.name === args[1]);
      return ns
        ? ok(`${JSON.stringify(ns, null, 4)}\n`)
        : fail(`Error from server (NotFound): namespaces "${args[1]}" not found\n`);
    }
    const items: object[] = [];
    for (const resource of args[0]!.split(",")) {
      if (resource === "pods") {
        items.push(...this.pods(namespace));
        continue;
      }
      const type = this.#resource(resource);
      if (!type) return this.#unserved(resource);
      items.push(...this.#ofType(type, namespace));
    }
    return ok(
      `${JSON.stringify({ apiVersion: "v1", items, kind: "List", metadata: { resourceVersion: "" } }, null, 4)}\n`,
    );
  }

  /** The pods the namespace's Deployments would have: with a sidecar when Istio injects one, ready when their images are on the node. */
  pods(namespace: string): Pod[] {
    const ns = this.objects.find((o) => o.kind === "Namespace" && o.metadata.name === namespace);
    const injecting = this.istioInstalled && this.injector && ns?.metadata.labels?.["istio-injection"] === "enabled";
    const enrolling =
      this.istioInstalled && this.ambientProfile && ns?.metadata.labels?.["istio.io/dataplane-mode"] === "ambient";
    return this.objects
      .filter((o) => o.kind === "Deployment" && o.metadata.namespace === namespace)
      .flatMap((d) =>
        Array.from({ length: Number(d.spec.replicas ?? 1) }, (_, i): Pod => {
          const template = d.spec.template;
          const inject = injecting && template.metadata.labels?.["sidecar.istio.io/inject"] !== "false";
          const app = (template.spec.containers as Array<{ name: string; image: string }>).map((c) => ({
            name: c.name,
            image: c.image,
          }));
          const proxy = { name: "istio-proxy", image: `docker.io/istio/proxyv2:${this.istioctlVersion}` };
          const init = { name: "istio-init", image: proxy.image };
          const appStatuses = app.map((c) => {
            // Our images exist only where they were loaded (no registry); any other image is pulled from its registry.
            const pullable = !IMAGE_NAMES.includes(c.image) || this.nodeImages.has(c.image);
            const stuck =
              this.stuck?.deployment === d.metadata.name
                ? this.stuck.reason
                : pullable
                  ? undefined
                  : "ImagePullBackOff";
            return stuck
              ? {
                  name: c.name,
                  image: c.image,
                  ready: false,
                  started: false,
                  state: { waiting: { reason: stuck, message: `Back-off pulling image "${c.image}"` } },
                }
              : {
                  name: c.name,
                  image: c.image,
                  ready: true,
                  started: true,
                  state: { running: { startedAt: "2026-11-25T10:00:00Z" } },
                };
          });
          const proxyStatus = {
            name: "istio-proxy",
            image: proxy.image,
            ready: true,
            started: true,
            state: { running: { startedAt: "2026-11-25T10:00:00Z" } },
          };
          const initStatus = {
            name: "istio-init",
            image: proxy.image,
            ready: true,
            state: { terminated: { reason: "Completed", exitCode: 0 } },
          };
          const ready = appStatuses.every((s) => s.ready);
          return {
            apiVersion: "v1",
            kind: "Pod",
            metadata: {
              name: `${d.metadata.name}-5d8f7c9b4-${"qx7rz".slice(i)}${i}`,
              namespace,
              labels: { ...template.metadata.labels, "pod-template-hash": "5d8f7c9b4" },
              ownerReferences: [
                { apiVersion: "apps/v1", kind: "ReplicaSet", name: `${d.metadata.name}-5d8f7c9b4`, controller: true },
              ],
              // The CNI agent marks each pod of an ambient namespace it has handed to ztunnel.
              ...(enrolling && !inject ? { annotations: { "ambient.istio.io/redirection": "enabled" } } : {}),
            },
            spec: {
              containers: inject && !this.nativeSidecars ? [...app, proxy] : app,
              initContainers: inject
                ? this.nativeSidecars
                  ? [init, { ...proxy, restartPolicy: "Always" }]
                  : [init]
                : [],
            },
            status: {
              phase: ready ? "Running" : "Pending",
              conditions: [{ type: "Ready", status: ready ? "True" : "False" }],
              containerStatuses: inject && !this.nativeSidecars ? [...appStatuses, proxyStatus] : appStatuses,
              initContainerStatuses: inject ? (this.nativeSidecars ? [initStatus, proxyStatus] : [initStatus]) : [],
            },
          };
        }),
      );
  }

  #rollout(refs: string[], namespace: string): Answer {
    let stdout = "";
    for (const ref of refs) {
      if (ref.startsWith("daemonset/")) {
        const name = ref.slice("daemonset/".length);
        if (namespace !== "istio-system" || !this.ambientProfile)
          return fail(`Error from server (NotFound): daemonsets.apps "${name}" not found\n`, stdout);
        stdout += `daemon set "${name}" successfully rolled out\n`;
        continue;
      }
      const name = ref.replace(/^deployment\//, "");
      if (
        !this.objects.some(
          (o) => o.kind === "Deployment" && o.metadata.name === name && o.metadata.namespace === namespace,
        )
      ) {
        return fail(`Error from server (NotFound): deployments.apps "${name}" not found\n`, stdout);
      }
      const pods = this.pods(namespace).filter((p) => p.metadata.name.startsWith(`${name}-`));
      if (pods.every((p) => p.status.conditions[0]!.status === "True"))
        stdout += `deployment "${name}" successfully rolled out\n`;
      else
        return fail(
          "error: timed out waiting for the condition\n",
          `${stdout}Waiting for deployment "${name}" rollout to finish: 0 of ${pods.length} updated replicas are available...\n`,
        );
    }
    return ok(stdout);
  }

  /** `kubectl wait --for=condition=Programmed gateway/NAME`: met once istiod runs (Istio installed) and the Gateway exists. */
  #waitGateways(refs: string[], namespace: string): Answer {
    let stdout = "";
    for (const ref of refs) {
      const name = ref.slice("gateway/".length);
      if (!this.gatewayApiCrds) return fail(`error: the server doesn't have a resource type "gateway"\n`, stdout);
      if (
        !this.objects.some(
          (o) => o.kind === "Gateway" && o.metadata.name === name && o.metadata.namespace === namespace,
        )
      )
        return fail(`Error from server (NotFound): gateways.gateway.networking.k8s.io "${name}" not found\n`, stdout);
      if (!this.istioInstalled) return fail(`error: timed out waiting for the condition on gateways/${name}\n`, stdout);
      stdout += `gateway.gateway.networking.k8s.io/${name} condition met\n`;
    }
    return ok(stdout);
  }

  #waitIstio(namespace: string): Answer {
    if (namespace !== "istio-system" || !this.istioInstalled) return fail("error: no matching resources found\n");
    if (this.failures.istioUnhealthy) {
      return fail(
        "error: timed out waiting for the condition on deployments/istio-ingressgateway\n",
        "deployment.apps/istio-egressgateway condition met\ndeployment.apps/istiod condition met\n",
      );
    }
    return ok(
      "deployment.apps/istio-egressgateway condition met\ndeployment.apps/istio-ingressgateway condition met\ndeployment.apps/istiod condition met\n",
    );
  }

  /** `kubectl exec ... deploy/sleep -c sleep -- tally ARGS`: the real tally against the mesh preview of the namespace's objects. */
  async #exec(namespace: string, command: string[]): Promise<Answer> {
    const sleep = this.pods(namespace).find((p) => p.metadata.labels.app === "sleep");
    if (!sleep || sleep.status.conditions[0]!.status !== "True")
      return fail('error: unable to upgrade connection: container not found ("sleep")\n');
    if (command[0] !== "tally")
      return fail(
        `OCI runtime exec failed: exec failed: unable to start container process: exec: "${command[0]}": executable file not found in $PATH: unknown\ncommand terminated with exit code 126\n`,
        "",
        126,
      );
    if (this.tally === "scripted") return this.#scriptedTally(command.slice(1));
    const objects = this.objects.filter(
      (o) => o.metadata.namespace === namespace || (o.kind === "Namespace" && o.metadata.name === namespace),
    );
    const key = JSON.stringify(objects.map((o) => [o.kind, o.metadata.name, o.spec]));
    if (key !== this.#meshKey) {
      if (key !== this.#pendingKey) {
        this.#pendingKey = key;
        this.#stale = this.propagationCalls;
      }
      if (this.#mesh && this.#stale > 0) this.#stale--;
      else {
        await this.#mesh?.stop();
        this.#mesh = undefined;
        this.#mesh = await Mesh.start(objects);
        this.#meshKey = key;
      }
    }
    const args = command.slice(1);
    const run = await runTally([...args.slice(0, -1), this.#mesh!.localUrl(args.at(-1)!)]);
    return {
      ...run,
      stderr:
        run.code === 0 || run.code === 1 ? run.stderr : `${run.stderr}command terminated with exit code ${run.code}\n`,
    };
  }

  #scriptedTally(args: string[]): Answer {
    const runId = args.find((a) => a.startsWith("x-request-id: "))?.slice("x-request-id: ".length);
    const requests = Number(args[args.indexOf("-n") + 1]);
    this.#scripted = { ...(runId ? { runId } : {}), requests };
    const expectations = args.flatMap((a, i) =>
      args[i - 1] === "--expect" || args[i - 1] === "--expect-latency" ? [a] : [],
    );
    return ok(`${requests} requests to GET ${args.at(-1)} (scripted by the fake cluster)

${expectations
  .map(
    (e) => `pass  ${e}
`,
  )
  .join("")}`);
  }

  #logs(namespace: string, flags: Map<string, string>): Answer {
    const selector = flags.get("-l") ?? "";
    if (selector === "app")
      return ok(
        this.pods(namespace)
          .map((p) => `[pod/${p.metadata.name}/${p.spec.containers[0]!.name}] {"level":30,"msg":"listening"}\n`)
          .join(""),
      );
    const wanted = Object.fromEntries(selector.split(",").map((kv) => kv.split("=") as [string, string]));
    const deployment = this.objects.find(
      (o) =>
        o.kind === "Deployment" &&
        o.metadata.namespace === namespace &&
        JSON.stringify(o.spec.selector.matchLabels) === JSON.stringify(wanted),
    );
    if (!deployment) return ok("No resources found in " + namespace + " namespace.\n");
    if (this.tally === "scripted") {
      const { runId, requests } = this.#scripted;
      return ok(
        runId
          ? Array.from(
              { length: requests },
              () => `${JSON.stringify({ msg: "request", host: "flaskapp-shadow", requestId: runId })}\n`,
            ).join("")
          : "",
      );
    }
    const lines = this.#mesh ? this.#mesh.requestLogs(deployment.metadata.name).map((l) => JSON.stringify(l)) : [];
    return ok(lines.map((l) => `${l}\n`).join(""));
  }
}

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** A command's io for in-process runs: what it writes, collected, and the environment it runs with. */
export function captureIo(env: NodeJS.ProcessEnv): {
  io: { out: (t: string) => void; err: (t: string) => void; env: NodeJS.ProcessEnv; cwd: string };
  stdout: () => string;
  stderr: () => string;
} {
  let out = "";
  let err = "";
  return {
    io: { out: (t) => void (out += t), err: (t) => void (err += t), env, cwd: ROOT },
    stdout: () => out,
    stderr: () => err,
  };
}

/** The command lines of a --dry-run's output (its `$ ` lines), without their `# notes`. */
export function dryRunCommands(stdout: string): string[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith("$ "))
    .map((l) => l.replace(/ {3}# .*$/, ""));
}

/** Every lesson rendered once per test run (test/renders.ts): the commands take it instead of rendering all lessons each time. */
export async function cachedRenders(): Promise<Renders> {
  return lessonRenders();
}

type Command = (
  argv: string[],
  io: ReturnType<typeof captureIo>["io"],
  renderAll: () => Promise<Renders>,
) => Promise<number>;

/** Runs one of our commands in this process against the fake cluster's stand-ins (or another environment). */
export async function runWith(
  command: Command,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const run = captureIo(env);
  const code = await command(args, run.io, cachedRenders);
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

/** One fake cluster for the tests of the calling describe block (started before them, stopped after): the getter returns it. */
export function fakeClusterForAll(): () => FakeCluster {
  let fake: FakeCluster | undefined;
  beforeAll(async () => {
    fake = await FakeCluster.start();
  });
  afterAll(async () => {
    await fake?.stop();
  });
  return () => fake!;
}

/** The UsageError a command line gets: thrown before the command runs anything (no program is on PATH, so nothing could run). */
export async function refusal(command: Command, args: string[]): Promise<UsageError> {
  const error = await command(args, captureIo({ PATH: "" }).io, cachedRenders).then(
    () => undefined,
    (thrown: unknown) => thrown,
  );
  if (!(error instanceof UsageError)) throw new Error(`${args.join(" ")}: expected a UsageError, got ${String(error)}`);
  return error;
}

/** A documented `npm run cluster|lesson|verify -- ARGS` line, run with --dry-run: our commands must take it. */
export async function dryRunNpmLine(
  line: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; script: string }> {
  const [npm, run, name, dashes, ...args] = line.split(/\s+/);
  if (npm !== "npm" || run !== "run" || dashes !== "--") throw new Error(`not an npm run line: ${line}`);
  const commands: Record<string, Command> = { cluster: clusterCommand, lesson: lessonCommand, verify: verifyCommand };
  const command = commands[name!];
  if (!command) throw new Error(`npm run ${name} is not one of the cluster commands`);
  const result = await runWith(command, args.includes("--dry-run") ? args : [...args, "--dry-run"], env);
  return { ...result, script: name! };
}

/**
 * The rule resources the lessons use, as the commands list them: `all` for a get or a
 * delete --all, `others` for every kind but VirtualService and DestinationRule (the
 * kinds most lessons use), which more lessons may add. `deleteOthers` are the deletes of
 * those others, one per API (the Gateway API's apart: a cluster may not serve it);
 * `gets` the readiness queries, the Gateway API's first. Expected command lines are
 * written with these, so they hold when a lesson with a new rule kind arrives.
 */
export async function ruleKinds(): Promise<{
  all: string;
  others: string[];
  deleteOthers: (prefix: string) => string[];
  gets: (prefix: string, namespace?: string) => string[];
}> {
  const resources = ruleResources((await cachedRenders()).values());
  const others = resources.filter(
    (r) => r !== "virtualservices.networking.istio.io" && r !== "destinationrules.networking.istio.io",
  );
  const gatewayApi = (r: string) => r.endsWith(".gateway.networking.k8s.io");
  const families = [others.filter((r) => !gatewayApi(r)), others.filter(gatewayApi)].filter((f) => f.length > 0);
  return {
    all: resources.join(","),
    others,
    deleteOthers: (prefix) => families.map((f) => `${prefix} delete ${f.join(",")} -n istio-lessons --all`),
    gets: (prefix, namespace = "istio-lessons") =>
      [resources.filter(gatewayApi), resources.filter((r) => !gatewayApi(r))]
        .filter((f) => f.length > 0)
        .map((f) => `${prefix} get ${f.join(",")} -n ${namespace} -o json --request-timeout=10s`),
  };
}

/** The discovery query the commands make before touching the Gateway API's kinds. */
export const GATEWAY_API_QUERY = (prefix: string) =>
  `${prefix} api-resources --api-group=gateway.networking.k8s.io -o name --request-timeout=10s`;

/** The deletes of what other lessons added (labelled objects), for an Istio-API lesson with the shared app and no extra object. */
export const OBJECT_DELETES = (prefix: string) => [
  `${prefix} delete configmaps -n istio-lessons -l app.kubernetes.io/part-of=istio-lessons`,
  `${prefix} delete services,serviceaccounts -n istio-lessons -l app.kubernetes.io/part-of=istio-lessons --field-selector 'metadata.name!=flaskapp,metadata.name!=sleep'`,
  `${prefix} delete deployments.apps -n istio-lessons -l app.kubernetes.io/part-of=istio-lessons --field-selector 'metadata.name!=flaskapp-v1,metadata.name!=flaskapp-v2,metadata.name!=sleep'`,
];
