// The cluster section of the README and docs/lessons.md, held to what they
// document: commands a learner can paste (httpie never reading stdin as a body in
// a non-interactive exec), every npm command accepted by our commands, the kind
// path before minikube and Docker Desktop, the troubleshooting rows, the lesson
// walk in LESSONS order, and every option of the three commands in the reference.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterCommand } from "#lessons/cli/cluster.ts";
import { lessonCommand } from "#lessons/cli/lesson.ts";
import { LESSONS } from "#lessons/catalog/lessons.ts";
import {
  gatewayApiInstallCommand,
  gatewayApiInstallHint,
  ISTIO_RELEASES,
  KIND_NODE_IMAGE,
  KIND_VERSION,
  nodeImageKubernetes,
} from "#lessons/cluster/tools.ts";
import { LESSON_RELEASES, NEWEST_RELEASE, RELEASES, supportsKubernetes } from "#lessons/mesh/releases.ts";
import { runProgram } from "#lessons/core/run.ts";
import { verifyCommand } from "#lessons/cli/verify.ts";
import {
  ALL_TOOLS,
  cachedRenders,
  captureIo,
  dryRunNpmLine,
  FakeCluster,
  fakeClusterForAll,
  runWith,
} from "../lessons/stand-ins/fake-cluster.ts";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const README = readFileSync(`${ROOT}README.md`, "utf8");
const REFERENCE = readFileSync(`${ROOT}docs/lessons.md`, "utf8");
const CLUSTER = README.slice(README.indexOf("<!-- section:cluster -->"), README.indexOf("<!-- /section:cluster -->"));

/** The commands of the fenced shell blocks and of inline `code` spans, backslash continuations joined. */
function shellCommands(markdown: string): string[] {
  const blocks = [...markdown.matchAll(/```(?:sh|bash)\n([\s\S]*?)```/g)].flatMap((m) =>
    m[1]!.replace(/\\\n\s*/g, "").split("\n"),
  );
  const spans = [...markdown.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]!);
  return [...blocks, ...spans].map((l) => l.replace(/\s+#.*$/, "").trim()).filter(Boolean);
}

describe("the README's cluster section and docs/lessons.md", () => {
  const documents: Array<[string, string]> = [
    ["README.md", README],
    ["docs/lessons.md", REFERENCE],
  ];

  it.each(documents)(
    "%s: every http in a kubectl or docker exec without a terminal carries --ignore-stdin",
    (name, text) => {
      const execs = shellCommands(text).filter(
        (c) => /\b(kubectl|docker) exec\b/.test(c) && /(^|[\s'";])http /.test(c),
      );
      if (name === "README.md") expect(execs.length).toBeGreaterThanOrEqual(2);
      for (const command of execs) {
        const interactive = /\bexec\s+(-\w*t\w*\s|.*\s-t\s|.*--tty)/.test(command);
        if (!interactive)
          expect(command, "httpie reads a non-terminal stdin as a body and POSTs it").toMatch(/http --ignore-stdin /);
      }
    },
  );

  it("puts kind first, then minikube (sized for the demo profile), then Docker Desktop", () => {
    const at = (s: string) => CLUSTER.indexOf(s);
    expect(at("npm run cluster -- up")).toBeGreaterThan(0);
    expect(at("**kind**")).toBeLessThan(at("**minikube**"));
    expect(at("**minikube**")).toBeLessThan(at("**Docker Desktop**"));
    expect(CLUSTER).toContain("minikube start --memory=16384 --cpus=4");
    expect(CLUSTER).toContain("istioctl install --set profile=demo -y");
  });

  it("names each tool with a minimum version and where to get it; kind from its release binary first, go install as the alternative; kind's resources", () => {
    const table = CLUSTER.slice(CLUSTER.indexOf("### What you need"), CLUSTER.indexOf("**kind**:"));
    for (const row of [
      "| Docker | Engine 20.10 or newer",
      "| `kubectl` | 1.34 or newer",
      `| \`kind\` | ${KIND_VERSION}`,
      "| `istioctl` | 1.29, 1.30 or 1.31",
    ])
      expect(table).toContain(row);
    for (const link of [
      "https://docs.docker.com/engine/install/",
      "https://kubernetes.io/docs/tasks/tools/",
      "https://kubernetes.io/releases/version-skew-policy/",
    ])
      expect(table).toContain(link);
    const commands = shellCommands(table);
    expect(commands).toContain(`curl -Lo ./kind https://kind.sigs.k8s.io/dl/${KIND_VERSION}/kind-linux-amd64`);
    expect(commands).toContain(`go install sigs.k8s.io/kind@${KIND_VERSION}`);
    expect(
      commands.indexOf(`curl -Lo ./kind https://kind.sigs.k8s.io/dl/${KIND_VERSION}/kind-linux-amd64`),
    ).toBeGreaterThan(-1);
    expect(table).toContain("at least **4 CPUs and 8 GB\nof memory**");
    // The kubectl minimum follows the pinned node: one minor of skew.
    const node = Number(nodeImageKubernetes(KIND_NODE_IMAGE)!.split(".")[1]);
    expect(table).toContain(`| \`kubectl\` | 1.${node - 1} or newer`);
  });

  it("warns about every known-bad Istio patch", () => {
    for (const bad of RELEASES.flatMap((r) => r.knownBad)) {
      expect(CLUSTER).toContain(`Istio **${bad.patch}**`);
      expect(CLUSTER).toContain(bad.source.replace("istio/istio#", "istio/istio#"));
    }
  });

  describe("the minikube recipe, run against a stand-in cluster with Istio and without the Gateway API CRDs", () => {
    const block = (after: string) => {
      const at = CLUSTER.indexOf(after);
      const fence = CLUSTER.indexOf("```sh\n", at);
      return CLUSTER.slice(fence + 6, CLUSTER.indexOf("```", fence + 6))
        .trim()
        .split("\n");
    };
    let fake: FakeCluster;
    beforeAll(async () => {
      fake = await FakeCluster.start([...ALL_TOOLS, "minikube"]);
    });
    afterAll(async () => {
      await fake.stop();
    });

    it("its commands pass an Istio-API lesson (applied, then verified)", async () => {
      const recipe = block("**minikube**");
      expect(recipe[0]).toMatch(/^minikube start /);
      expect(recipe.at(-1)).toBe("npm run lesson -- round-robin");
      for (const line of [...recipe, "npm run verify -- round-robin --passes 1"]) {
        const npm = /^npm run (lesson|verify) -- (.*)$/.exec(line);
        const run = npm
          ? await runWith(npm[1] === "lesson" ? lessonCommand : verifyCommand, npm[2]!.split(" "), fake.env())
          : await runProgram(line.split(" ")[0]!, line.split(" ").slice(1), 60_000, {
              env: fake.env(),
              cwd: ROOT,
            }).then((r) => ({ code: r.code, stdout: r.stdout, stderr: r.stderr }));
        expect(run.code, `${line}: ${run.stderr}`).toBe(0);
      }
      expect(fake.gatewayApiCrds).toBe(false);
      expect(fake.currentContext).toBe("minikube");
      // The recipe's Kubernetes is one every checked Istio supports.
      const kubernetes = /--kubernetes-version=v(\d+\.\d+)/.exec(recipe[0]!)![1]!;
      for (const release of LESSON_RELEASES)
        expect(supportsKubernetes(release, kubernetes), release.version).toBe(true);
    }, 120_000);

    it("the Gateway API twins' extra command installs the CRDs the newest Istio is built against, exactly as a twin without them asks", () => {
      expect(block("The Gateway API twins")).toEqual([gatewayApiInstallCommand(NEWEST_RELEASE.gatewayApi)]);
      expect(gatewayApiInstallHint()).toContain(gatewayApiInstallCommand(NEWEST_RELEASE.gatewayApi));
    });
  });

  it("walks the lessons in the order of LESSONS with npm run lesson", () => {
    const walked = [...README.matchAll(/^\| \d+ \| `npm run lesson -- ([\w-]+)` \|/gm)].map((m) => m[1]);
    expect(walked).toEqual([...LESSONS]);
  });

  it("has a troubleshooting row for each thing a first run on a cluster trips on", () => {
    const table = CLUSTER.slice(CLUSTER.indexOf("### Troubleshooting"));
    for (const symptom of [
      "ImagePullBackOff",
      "`1/1`",
      "EXTERNAL-IP <pending>",
      "rules of another lesson",
      "no cluster",
      "405 Method Not Allowed",
    ]) {
      expect(table).toContain(symptom);
    }
  });

  it("says what the CI workflow runs and that it has not run here", () => {
    expect(CLUSTER).toContain(".github/workflows/cluster.yml");
    expect(CLUSTER).toContain("**It has not run on our machines**");
    for (const release of [ISTIO_RELEASES[0]!, ISTIO_RELEASES.at(-1)!]) expect(CLUSTER).toContain(release.patch);
    expect(CLUSTER).toContain("[docs/lessons.md](docs/lessons.md)");
  });

  describe("every npm run cluster, lesson and verify command in them is accepted (run with --dry-run)", () => {
    const fake = fakeClusterForAll();
    const lines = [
      ...new Set(
        documents
          .flatMap(([, text]) => shellCommands(text))
          .filter((c) => /^npm run (cluster|lesson|verify) -- /.test(c) && !/[<…[|]/.test(c)),
      ),
    ];
    it("finds them", () => {
      expect(lines.length).toBeGreaterThan(LESSONS.length);
    });
    it.each(lines)("%s", async (line) => {
      expect((await dryRunNpmLine(line, fake().env())).code).toBe(0);
    });
  });

  it("docs/lessons.md documents every option of the three commands, and every exit code", async () => {
    const usages: string[] = [];
    for (const command of [clusterCommand, lessonCommand, verifyCommand]) {
      const run = captureIo({});
      await command(["--help"], run.io, cachedRenders);
      usages.push(run.stdout());
    }
    const options = new Set(usages.join("\n").match(/--[a-z][a-z-]+/g));
    expect(options.size).toBeGreaterThan(10);
    for (const option of options) expect(REFERENCE, `${option} in docs/lessons.md`).toContain(`\`${option}`);
    for (const code of ["| 0 |", "| 1 |", "| 2 |", "| 3 |", "| 4 |", "| 5 |"]) expect(REFERENCE).toContain(code);
  });
});
