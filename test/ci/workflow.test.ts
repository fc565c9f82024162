// The GitHub Actions workflow that runs every lesson on kind (it cannot run here):
// its matrix is the supported Istio releases of the code, each on a Kubernetes it
// supports, its tools are the versions the code names, its actions current, and
// every npm command it runs is accepted by our commands (each run here with
// --dry-run against stand-ins); verify --all walks every lesson of both APIs.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { clusterCommand } from "#lessons/cli/cluster.ts";
import { DEFAULT_DIAGNOSE_DIR } from "#lessons/cluster/kind.ts";
import { ISTIO_RELEASES, KIND_NODE_IMAGE, KIND_VERSION, nodeImageKubernetes } from "#lessons/cluster/tools.ts";
import { ambientLessons, sidecarLessons } from "#lessons/catalog/lessons.ts";
import { findRelease, supportsKubernetes } from "#lessons/mesh/releases.ts";

/**
 * The latest major of each action the workflow uses, checked on 2026-12-08 (actions/checkout
 * v7 and actions/setup-node v7 run on Node 24; actions/upload-artifact's newest is v7, there is no v8).
 */
const CURRENT_ACTIONS: Record<string, string> = {
  "actions/checkout": "v7",
  "actions/setup-node": "v7",
  "actions/upload-artifact": "v7",
};
import {
  cachedRenders,
  captureIo,
  dryRunCommands,
  dryRunNpmLine,
  fakeClusterForAll,
} from "../lessons/stand-ins/fake-cluster.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const FILE = ".github/workflows/cluster.yml";

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
  "working-directory"?: string;
}

const workflow = parse(readFileSync(`${ROOT}${FILE}`, "utf8")) as {
  on: Record<string, unknown>;
  jobs: Record<
    string,
    {
      "runs-on": string;
      "timeout-minutes": number;
      strategy: {
        "fail-fast": boolean;
        matrix: { include: Array<{ istio: string; "gateway-api": string; "node-image": string; "mode-flag": string }> };
      };
      steps: Step[];
    }
  >;
};
const job = workflow.jobs.lessons!;
const steps = job.steps;
const runs = steps.flatMap((s) => (s.run ? [s.run.trim()] : []));

/** A step's command with the matrix values of one entry filled in. */
function expand(
  text: string,
  entry: { istio: string; "gateway-api": string; "node-image": string; "mode-flag": string },
): string {
  return text
    .replaceAll("${{ matrix.istio }}", entry.istio)
    .replaceAll("${{ matrix.gateway-api }}", entry["gateway-api"])
    .replaceAll("${{ matrix.node-image }}", entry["node-image"])
    .replaceAll("${{ matrix.mode-flag }}", entry["mode-flag"])
    .trim();
}

describe(`${FILE}`, () => {
  it("runs on pushes to main, pull requests and by hand, with a time limit", () => {
    expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push", "workflow_dispatch"]);
    expect(job["runs-on"]).toMatch(/^ubuntu-/);
    expect(job["timeout-minutes"]).toBeGreaterThan(0);
  });

  it("tests the oldest and the newest supported Istio in sidecar mode and the newest in ambient mode, each with its Gateway API release, and lets all finish", () => {
    const oldest = ISTIO_RELEASES[0]!;
    const newest = ISTIO_RELEASES.at(-1)!;
    expect(job.strategy.matrix.include).toEqual([
      { istio: oldest.patch, "gateway-api": oldest.gatewayApi, "node-image": KIND_NODE_IMAGE, "mode-flag": "" },
      { istio: newest.patch, "gateway-api": newest.gatewayApi, "node-image": KIND_NODE_IMAGE, "mode-flag": "" },
      {
        istio: newest.patch,
        "gateway-api": newest.gatewayApi,
        "node-image": KIND_NODE_IMAGE,
        "mode-flag": "--ambient",
      },
    ]);
    expect(job.strategy["fail-fast"]).toBe(false);
  });

  it("runs each leg on a kind node image pinned by digest, of a Kubernetes that leg's Istio supports", () => {
    for (const entry of job.strategy.matrix.include) {
      expect(entry["node-image"]).toMatch(/^kindest\/node:v\d+\.\d+\.\d+@sha256:[0-9a-f]{64}$/);
      const release = findRelease(entry.istio)!;
      const kubernetes = nodeImageKubernetes(entry["node-image"])!;
      expect(
        supportsKubernetes(release, kubernetes),
        `Istio ${entry.istio} (Kubernetes ${release.kubernetes.min} to ${release.kubernetes.max}) on ${kubernetes}`,
      ).toBe(true);
    }
  });

  it("uses the current major of each action", () => {
    const used = steps.flatMap((s) => (s.uses ? [s.uses] : []));
    expect(used.length).toBe(Object.keys(CURRENT_ACTIONS).length);
    for (const uses of used) {
      const [name, version] = uses.split("@") as [string, string];
      expect(version, name).toBe(CURRENT_ACTIONS[name]);
    }
  });

  it("installs the kind release the code names, istioctl of the matrix's Istio, and Node 24", () => {
    expect(runs.join("\n")).toContain(`https://kind.sigs.k8s.io/dl/${KIND_VERSION}/kind-linux-amd64`);
    const istio = steps.find((s) => s.run?.includes("downloadIstio"))!;
    expect(istio.run).toContain("curl -fsSL https://istio.io/downloadIstio | ISTIO_VERSION=${{ matrix.istio }} sh -");
    expect(istio.run).toContain('echo "$RUNNER_TEMP/istio-${{ matrix.istio }}/bin" >> "$GITHUB_PATH"');
    // Downloaded outside the checkout, so the docker build context and the renders never see it.
    expect(istio["working-directory"]).toBe("${{ runner.temp }}");
    const node = steps.find((s) => s.uses?.startsWith("actions/setup-node@"))!;
    expect(node.with?.["node-version"]).toBe(24);
  });

  it("runs npm ci, cluster up, verify --all; on failure collects diagnostics and uploads them; always deletes the cluster", () => {
    const npm = steps.filter((s) => s.run?.startsWith("npm ")).map((s) => [s.run!.trim(), s.if ?? ""]);
    expect(npm).toEqual([
      ["npm ci", ""],
      [
        "npm run cluster -- up --gateway-api ${{ matrix.gateway-api }} --node-image ${{ matrix.node-image }} ${{ matrix.mode-flag }}",
        "",
      ],
      ["npm run verify -- --all ${{ matrix.mode-flag }}", ""],
      [`npm run cluster -- diagnose --out ${DEFAULT_DIAGNOSE_DIR}`, "failure()"],
      ["npm run cluster -- down", "always()"],
    ]);
    const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"))!;
    expect(upload.if).toBe("failure()");
    expect(upload.with?.path).toBe(`${DEFAULT_DIAGNOSE_DIR}/`);
    expect(String(upload.with?.name)).toContain("${{ matrix.istio }}${{ matrix.mode-flag }}");
  });

  it("the ambient leg installs the ambient profile and walks the ambient lessons", async () => {
    const ambient = job.strategy.matrix.include.find((e) => e["mode-flag"] === "--ambient")!;
    const lines = runs.filter((r) => r.startsWith("npm run ")).map((r) => expand(r, ambient));
    expect(lines).toContain(
      `npm run cluster -- up --gateway-api ${ambient["gateway-api"]} --node-image ${ambient["node-image"]} --ambient`,
    );
    expect(lines).toContain("npm run verify -- --all --ambient");
  });

  describe("every npm run command of the workflow, as our commands take it (with --dry-run)", () => {
    const fake = fakeClusterForAll();

    const cases = job.strategy.matrix.include.flatMap((entry) =>
      runs
        .filter((r) => r.startsWith("npm run "))
        .map((r) => [`${entry.istio} ${entry["mode-flag"]}`.trim(), expand(r, entry)] as const),
    );
    const scripts = (JSON.parse(readFileSync(`${ROOT}package.json`, "utf8")) as { scripts: Record<string, string> })
      .scripts;
    it.each(cases)("Istio %s: %s", async (_istio, line) => {
      const { code, stdout, script } = await dryRunNpmLine(line, fake().env());
      expect(scripts[script]).toBe(`node lessons/src/cli/${script}.ts`);
      expect(code).toBe(0);
      expect(dryRunCommands(stdout).length).toBeGreaterThan(0);
      expect(fake().calls()).toEqual([]);
    });

    it("verify --all walks every lesson of every track: the 18 Istio-API overlays and their Gateway API twins", async () => {
      const sidecarLeg = job.strategy.matrix.include.find((e) => e["mode-flag"] === "")!;
      const line = expand(runs.find((r) => r.startsWith("npm run verify -- --all"))!, sidecarLeg);
      const { stdout } = await dryRunNpmLine(line, fake().env());
      const walked = [...stdout.matchAll(/^== (\S+) /gm)].map((m) => m[1]);
      expect(walked).toEqual(sidecarLessons());
      expect(walked.filter((l) => l!.startsWith("gateway-api/")).length).toBeGreaterThanOrEqual(11);
      expect(stdout).toContain("$ kubectl apply -k k8s/gateway-api/weighted");
    });

    it("verify --all --ambient (the ambient leg) walks every ambient lesson", async () => {
      const ambientLeg = job.strategy.matrix.include.find((e) => e["mode-flag"] === "--ambient")!;
      const line = expand(runs.find((r) => r.startsWith("npm run verify -- --all"))!, ambientLeg);
      const { stdout } = await dryRunNpmLine(line, fake().env());
      expect([...stdout.matchAll(/^== (\S+) /gm)].map((m) => m[1])).toEqual(ambientLessons());
    });

    it("cluster up installs the matrix's Gateway API release", async () => {
      for (const entry of job.strategy.matrix.include) {
        const run = captureIo(fake().env());
        await clusterCommand(["up", "--gateway-api", entry["gateway-api"], "--dry-run"], run.io, cachedRenders);
        expect(run.stdout()).toContain(`/releases/download/${entry["gateway-api"]}/experimental-install.yaml`);
      }
    });
  });
});
