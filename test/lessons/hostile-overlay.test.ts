// A downloaded playground overlay, written to a temp dir here, as an attacker would write it
// (issue 29): the preview runs none of its code, fetches nothing it names remotely, renders
// it within bounds, refuses replica counts it cannot run, and shows its text on the terminal
// without letting it act there. Each case runs the real pieces: kustomize, the flaskapp and
// tally bundles, npm run demo in this process.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { commandExitCode } from "#lessons/cli/command.ts";
import { demoCommand } from "#lessons/cli/demo.ts";
import {
  CHECKS_SIZE_LIMITS,
  ChecksError,
  envNamesRead,
  loadChecks,
  parseChecks,
  withLessonVars,
} from "#lessons/checks/checks.ts";
import {
  DEFAULT_RENDER_LIMITS,
  renderKustomization,
  renderLimits,
  RENDER_LIMIT_SETTINGS,
} from "#lessons/core/kustomize.ts";
import { OVERLAY_LIMITS, preReadOverlay } from "#lessons/core/overlay-files.ts";
import { Mesh } from "#lessons/mesh/mesh.ts";
import { REPLICA_LIMITS, workloads } from "#lessons/mesh/pods.ts";
import { RuleError } from "#lessons/mesh/model.ts";
import { SETTING_NAMES, parseConfig } from "#flaskapp/config.ts";
import { UsageError } from "#common/usage-error.ts";
import { captureIo } from "./stand-ins/fake-cluster.ts";
import { lessonRender } from "../renders.ts";

const K8S = fileURLToPath(new URL("../../k8s/", import.meta.url));
const temps: string[] = [];
afterAll(() => {
  for (const dir of temps) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  temps.push(dir);
  return dir;
}

/** A playground: k8s/app and `resources`, the given extra kustomization text and files, and a checks.yaml. */
function playground(
  options: { resources?: string[]; kustomization?: string; files?: Record<string, string>; checks?: string } = {},
): string {
  const dir = tempDir("hostile-");
  for (const [name, text] of Object.entries(options.files ?? {})) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  writeFileSync(
    join(dir, "kustomization.yaml"),
    `namespace: istio-lessons\nresources:\n${[relative(dir, join(K8S, "app")), ...(options.resources ?? [])].map((r) => `  - ${r}\n`).join("")}${options.kustomization ?? ""}`,
  );
  writeFileSync(
    join(dir, "checks.yaml"),
    options.checks ??
      "summary: both versions answer\nchecks:\n  - { name: answers, path: /env/version, requests: 10, by: status, expect: [200=100] }\n",
  );
  return dir;
}

/** A patch of both flaskapp Deployments' container (a strategic merge on the flaskapp container). */
function flaskappPatch(container: string, spec = ""): string {
  return `patches:
  - target: { kind: Deployment, labelSelector: app=flaskapp }
    patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: { name: flaskapp }
      spec:
${spec}        template:
          spec:
            containers:
              - name: flaskapp
${container}`;
}

const env = (vars: Record<string, string>) =>
  `                env:\n${Object.entries(vars)
    .map(([name, value]) => `                  - { name: ${JSON.stringify(name)}, value: ${JSON.stringify(value)} }\n`)
    .join("")}`;

/** npm run demo in this process, with its exit code as the command reports it. */
async function demo(args: string[], environment: NodeJS.ProcessEnv = process.env) {
  const run = captureIo(environment);
  const code = await commandExitCode(
    "demo",
    "usage",
    (argv) => demoCommand(argv, run.io, async () => undefined),
    args,
    run.io.err,
  );
  return { code, stdout: run.stdout(), stderr: run.stderr() };
}

describe("the preview runs only our code", () => {
  it("NODE_OPTIONS=--import=data:… in the overlay: exit 1, one line naming it, and the code never runs", async () => {
    const marker = join(tempDir("marker-"), "ran");
    const code = `import{writeFileSync}from"node:fs";writeFileSync(${JSON.stringify(marker)},"pwned")`;
    const dir = playground({
      kustomization: flaskappPatch(env({ NODE_OPTIONS: `--import=data:text/javascript,${encodeURIComponent(code)}` })),
    });
    const { code: exit, stdout, stderr } = await demo([dir]);
    expect(stderr).toMatch(
      /^demo: Deployment flaskapp-v[12]: env NODE_OPTIONS would change how Node or the loader runs, not flaskapp: .*\n$/,
    );
    expect(exit).toBe(1);
    expect(stdout).not.toContain("all checks passed");
    expect(existsSync(marker)).toBe(false);
  }, 60_000);

  it.each([
    ["NODE_OPTIONS", "--inspect=0.0.0.0:0"],
    ["LD_PRELOAD", "/tmp/evil.so"],
    ["LD_LIBRARY_PATH", "/tmp"],
    ["GLIBC_TUNABLES", "glibc.malloc.check=3"],
    ["OPENSSL_CONF", "/tmp/evil.cnf"],
    ["UV_THREADPOOL_SIZE", "1024"],
    ["MALLOC_ARENA_MAX", "1"],
    ["GCONV_PATH", "/tmp"],
    ["SSLKEYLOGFILE", "/tmp/keys"],
    ["http_proxy", "http://127.0.0.1:1"],
    ["PATH", "/tmp"],
  ])("%s is refused with an error naming it, even when ENV_ALLOW or a check names it", (name, value) => {
    const objects = lessonRender("v2-default");
    const deployment = objects.find((o) => o.kind === "Deployment" && o.metadata.name === "flaskapp-v1")!;
    const container = deployment.spec.template.spec.containers[0];
    container.env.push({ name, value });
    container.env.find((e: { name: string }) => e.name === "ENV_ALLOW").value += `,${name}`;
    expect(() => workloads(objects, [name])).toThrow(
      new RuleError(
        `Deployment flaskapp-v1: env ${name} would change how Node or the loader runs, not flaskapp: the mesh preview gives its pods only flaskapp's own settings and the variables the checks read`,
      ),
    );
  });

  it("the local pods get flaskapp's settings, what ENV_ALLOW lists and what the checks read through /env; anything else is left out with a note", async () => {
    const dir = playground({
      kustomization: flaskappPatch(
        env({ FETCH_TIMEOUT: "3s", TOKEN: "secret", READ_BY_CHECK: "yes", IN_FETCHED_URL: "yes" }),
      ),
      checks: `summary: env
checks:
  - { name: read directly, path: /env/version, requests: 2, by: status, expect: [200=100] }
  - { name: read by a check, path: /env/READ_BY_CHECK, requests: 2, by: status, expect: [404=100] }
  - { name: read through fetch, path: '/fetch?url=http://flaskapp/env/IN_FETCHED_URL', requests: 2, by: status, expect: [200>=0] }
`,
    });
    const checks = await loadChecks(join(dir, "checks.yaml"));
    const mesh = await Mesh.start(await renderKustomization(dir), { checkEnvNames: envNamesRead(checks.checks) });
    // The pods' environment as the kernel holds it.
    const environments = mesh.pods.map((pod) =>
      readFileSync(`/proc/${pod.process.pid}/environ`, "utf8")
        .split("\0")
        .filter(Boolean)
        .map((kv) => kv.replace(/=.*$/s, "")),
    );
    const notes = mesh.notes;
    await mesh.stop();
    expect(environments.length).toBe(2);
    for (const names of environments) {
      expect(names).toEqual(
        expect.arrayContaining([
          "FETCH_TIMEOUT",
          "READ_BY_CHECK",
          "IN_FETCHED_URL",
          "version",
          "POD_NAME",
          "POD_NAMESPACE",
          "POD_IP",
          "ENV_ALLOW",
          "FETCH_ALLOW",
        ]),
      );
      expect(names).not.toContain("TOKEN");
      expect(names.filter((n) => !(SETTING_NAMES as readonly string[]).includes(n)).sort()).toEqual([
        "HOSTNAME",
        "IN_FETCHED_URL",
        "PATH",
        "POD_IP",
        "POD_NAMESPACE",
        "READ_BY_CHECK",
      ]);
    }
    expect(notes).toContain(
      "Deployment flaskapp-v1: env TOKEN left out of the local pods (not a flaskapp setting, not in ENV_ALLOW, not read by a check)",
    );
  }, 60_000);

  it("SETTING_NAMES is exactly what flaskapp's parseConfig reads, so the list cannot drift from the config", () => {
    const read = new Set<string>();
    const spy = new Proxy({} as Record<string, string | undefined>, {
      get: (_, name) => {
        if (typeof name === "string") read.add(name);
        return undefined;
      },
    });
    parseConfig(spy);
    expect([...read].sort()).toEqual([...SETTING_NAMES].sort());
  });
});

describe("remote resources, components and bases", () => {
  it.each([
    ["resources", "https://raw.githubusercontent.com/attacker/x/main/env.yaml", "a remote URL"],
    ["resources", "http://example.com/env.yaml", "a remote URL"],
    ["components", "github.com/attacker/x//component?ref=v1", "a remote URL"],
    ["bases", "git@github.com:attacker/x.git", "a remote URL"],
    ["resources", "example.org/attacker/x", "no local file or directory"],
  ])("%s: %s is refused before kustomize runs, naming the file and entry", async (field, entry, what) => {
    const dir =
      field === "resources"
        ? playground({ resources: [entry] })
        : playground({ kustomization: `${field}:\n  - ${entry}\n` });
    await expect(renderKustomization(dir)).rejects.toThrow(
      `${dir}/kustomization.yaml: ${field}[${field === "resources" ? 1 : 0}]: ${JSON.stringify(entry)} is ${what}: kustomize would fetch it from the network; the preview renders only local files unless you pass --allow-remote`,
    );
  });

  it("in a local base's kustomization too, found by reading every kustomization reachable", async () => {
    const dir = playground({
      kustomization: "components:\n  - nested\n",
      files: {
        "nested/kustomization.yaml":
          "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - https://example.com/env.yaml\n",
      },
    });
    await expect(renderKustomization(dir)).rejects.toThrow(
      `${dir}/nested/kustomization.yaml: resources[0]: "https://example.com/env.yaml" is a remote URL`,
    );
  });

  it("--allow-remote lets the entry through to kustomize (its own error here, with no network)", async () => {
    const dir = playground({ resources: ["https://127.0.0.1:9/env.yaml"] });
    await expect(preReadOverlay(dir, { allowRemote: true })).resolves.toBeUndefined();
    const refused = await demo([dir]);
    expect(refused.stderr).toContain("unless you pass --allow-remote");
    const allowed = await demo(["--allow-remote", dir]);
    expect(allowed.code).toBe(1);
    expect(allowed.stderr).toMatch(/^demo: kubectl kustomize .* failed: /);
    expect(allowed.stderr).not.toContain("--allow-remote");
  }, 60_000);
});

const BOMB = `apiVersion: v1
kind: ConfigMap
metadata: {name: lol}
data:
  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
  c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
  d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
  e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
  f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
  g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
  h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
  i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`;

describe("a render is bounded in memory and time", () => {
  it("a 420-byte billion laughs in a resource is refused by the pre-read, naming the file", async () => {
    expect(BOMB.length).toBeLessThan(430);
    const dir = playground({ resources: ["bomb.yaml"], files: { "bomb.yaml": BOMB } });
    await expect(renderKustomization(dir)).rejects.toThrow(
      `${dir}/bomb.yaml: Excessive alias count indicates a resource exhaustion attack (YAML aliases are limited to ${OVERLAY_LIMITS.yamlAliases} expansions)`,
    );
  });

  it("the same bomb inline in a patch is refused too", async () => {
    const inline = BOMB.replace(/^/gm, "      ");
    const dir = playground({ kustomization: `patches:\n  - patch: |-\n${inline}` });
    await expect(renderKustomization(dir)).rejects.toThrow(
      `${dir}/kustomization.yaml: patches[0]: Excessive alias count`,
    );
  });

  it("YAML aliases at the edge: 99 references to one anchor are read, 100 are refused", async () => {
    const refs = (n: number) =>
      `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: refs }\ndata: { a: &a x }\nx: [${Array(n).fill("*a").join(",")}]\n`;
    const ok = playground({ resources: ["refs.yaml"], files: { "refs.yaml": refs(OVERLAY_LIMITS.yamlAliases - 1) } });
    await expect(preReadOverlay(ok)).resolves.toBeUndefined();
    const over = playground({ resources: ["refs.yaml"], files: { "refs.yaml": refs(OVERLAY_LIMITS.yamlAliases) } });
    await expect(preReadOverlay(over)).rejects.toThrow("Excessive alias count");
  });

  it("kustomize itself runs under the memory limit: the bomb, past the pre-read, is stopped in seconds with an error naming the setting", async () => {
    const dir = playground({ resources: ["bomb.yaml"], files: { "bomb.yaml": BOMB } });
    const started = Date.now();
    await expect(renderKustomization(dir, { readLimits: { yamlAliases: -1 } })).rejects.toThrow(
      `kubectl kustomize ${dir}: out of memory under the render's limit of ${RENDER_LIMIT_SETTINGS.memory.fallback} MiB (RENDER_MAX_MEMORY_MIB): an overlay this large, or a YAML alias bomb, is not rendered`,
    );
    expect(Date.now() - started).toBeLessThan(20_000);
  }, 60_000);

  it("a normal render works under the default limit; one too small for kubectl to start says so", async () => {
    const dir = join(K8S, "overlays/egress-service-entry");
    expect((await renderKustomization(dir)).length).toBeGreaterThan(5);
    await expect(renderKustomization(dir, { render: { ...DEFAULT_RENDER_LIMITS, memoryMiB: 256 } })).rejects.toThrow(
      `out of memory under the render's limit of 256 MiB (RENDER_MAX_MEMORY_MIB)`,
    );
  });

  it("the time limit: a render past it is stopped with an error naming the setting", async () => {
    await expect(
      renderKustomization(join(K8S, "overlays/weighted"), { render: { ...DEFAULT_RENDER_LIMITS, timeoutMs: 1 } }),
    ).rejects.toThrow(/: stopped after 1ms, the render's time limit \(RENDER_TIMEOUT\)$/);
  });

  it("without prlimit the render still runs (time limit only)", async () => {
    expect(
      (
        await renderKustomization(join(K8S, "overlays/weighted"), {
          render: { ...DEFAULT_RENDER_LIMITS, prlimit: "/nonexistent/prlimit" },
        })
      ).length,
    ).toBeGreaterThan(3);
  });

  it.each([
    [{}, { memoryMiB: 1024, timeoutMs: 60_000 }],
    [
      { RENDER_MAX_MEMORY_MIB: "64", RENDER_TIMEOUT: "1s" },
      { memoryMiB: 64, timeoutMs: 1_000 },
    ],
    [
      { RENDER_MAX_MEMORY_MIB: "65536", RENDER_TIMEOUT: "10m" },
      { memoryMiB: 65_536, timeoutMs: 600_000 },
    ],
  ])("the limits from the environment, at their edges: %j", (environment, expected) => {
    expect(renderLimits(environment)).toEqual({ ...expected, prlimit: "prlimit" });
  });

  it.each([
    [{ RENDER_MAX_MEMORY_MIB: "63" }, 'RENDER_MAX_MEMORY_MIB="63": expected a whole number of MiB from 64 to 65536'],
    [
      { RENDER_MAX_MEMORY_MIB: "65537" },
      'RENDER_MAX_MEMORY_MIB="65537": expected a whole number of MiB from 64 to 65536',
    ],
    [{ RENDER_MAX_MEMORY_MIB: "1g" }, 'RENDER_MAX_MEMORY_MIB="1g": expected a whole number of MiB from 64 to 65536'],
    [{ RENDER_TIMEOUT: "999ms" }, 'RENDER_TIMEOUT="999ms": expected a number with a unit'],
    [{ RENDER_TIMEOUT: "601s" }, 'RENDER_TIMEOUT="601s": expected a number with a unit'],
  ])("a bad limit is a usage error naming the variable: %j", (environment, message) => {
    expect(() => renderLimits(environment)).toThrow(UsageError);
    expect(() => renderLimits(environment)).toThrow(message);
  });

  it("demo reads them: RENDER_MAX_MEMORY_MIB=63 is exit 2", async () => {
    const { code, stderr } = await demo(["weighted"], { ...process.env, RENDER_MAX_MEMORY_MIB: "63" });
    expect(code).toBe(2);
    expect(stderr).toMatch(/^demo: RENDER_MAX_MEMORY_MIB="63"/);
  });
});

describe("the overlay's files are read with a size cap", () => {
  it(`a resource of ${OVERLAY_LIMITS.fileBytes} bytes is read, one byte more is refused naming the file`, async () => {
    const pad = (size: number) => {
      const head = 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: big }\ndata: { x: "';
      const tail = '" }\n';
      return `${head}${"x".repeat(size - head.length - tail.length)}${tail}`;
    };
    const ok = playground({ resources: ["big.yaml"], files: { "big.yaml": pad(OVERLAY_LIMITS.fileBytes) } });
    await expect(preReadOverlay(ok)).resolves.toBeUndefined();
    const over = playground({ resources: ["big.yaml"], files: { "big.yaml": pad(OVERLAY_LIMITS.fileBytes + 1) } });
    await expect(preReadOverlay(over)).rejects.toThrow(
      `${over}/big.yaml: ${OVERLAY_LIMITS.fileBytes + 1} bytes, over the limit of ${OVERLAY_LIMITS.fileBytes}`,
    );
  });

  it("a kustomization too large is refused the same way", async () => {
    const dir = playground({ kustomization: `# ${"x".repeat(OVERLAY_LIMITS.fileBytes)}\n` });
    await expect(preReadOverlay(dir)).rejects.toThrow(`${dir}/kustomization.yaml: `);
  });

  it("the number of files an overlay reaches is capped (here at 3)", async () => {
    const cm = (n: number) => `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: c${n} }\n`;
    const dir = playground({ resources: ["a.yaml", "b.yaml"], files: { "a.yaml": cm(1), "b.yaml": cm(2) } });
    // The overlay's kustomization, k8s/app's and its files are more than 3.
    await expect(preReadOverlay(dir, { readLimits: { files: 3 } })).rejects.toThrow("reaches more than 3 files");
  });

  it("a device or a FIFO named as a resource is refused, never opened", async () => {
    const dir = playground({ resources: ["/dev/zero"] });
    await expect(preReadOverlay(dir)).rejects.toThrow("/dev/zero: not a regular file");
  });
});

describe("replicas", () => {
  const withReplicas = (replicas: unknown, deployment = "flaskapp-v1") => {
    const objects = lessonRender("v2-default");
    objects.find((o) => o.kind === "Deployment" && o.metadata.name === deployment)!.spec.replicas = replicas;
    return objects;
  };

  it.each([[-1], ["abc"], [REPLICA_LIMITS.perDeployment + 1], [20], [1.5]])(
    "spec.replicas %j is an error naming the Deployment and field",
    (replicas) => {
      expect(() => workloads(withReplicas(replicas))).toThrow(
        new RuleError(
          `Deployment flaskapp-v1: spec.replicas: expected an integer from 0 to ${REPLICA_LIMITS.perDeployment} (the mesh preview's cap per Deployment), got ${JSON.stringify(replicas)}`,
        ),
      );
    },
  );

  it(`0 to ${REPLICA_LIMITS.perDeployment} per Deployment are run; the total is capped at ${REPLICA_LIMITS.total}`, () => {
    expect(workloads(withReplicas(0)).find((w) => w.deployment === "flaskapp-v1")!.replicas).toBe(0);
    expect(
      workloads(withReplicas(REPLICA_LIMITS.perDeployment)).find((w) => w.deployment === "flaskapp-v1")!.replicas,
    ).toBe(REPLICA_LIMITS.perDeployment);
    const objects = withReplicas(REPLICA_LIMITS.perDeployment);
    objects.find((o) => o.metadata.name === "flaskapp-v2")!.spec.replicas = REPLICA_LIMITS.perDeployment;
    expect(workloads(objects).reduce((n, w) => n + (w.role === "flaskapp" ? w.replicas : 0), 0)).toBe(
      REPLICA_LIMITS.total,
    );
    const third = structuredClone(objects.find((o) => o.metadata.name === "flaskapp-v2")!);
    third.metadata.name = "flaskapp-v3";
    third.spec.replicas = 1;
    expect(() => workloads([...objects, third])).toThrow(
      new RuleError(
        `spec.replicas: the flaskapp Deployments ask for ${REPLICA_LIMITS.total + 1} pods in all; the mesh preview runs at most ${REPLICA_LIMITS.total}`,
      ),
    );
  });

  it("an overlay with no flaskapp pod never passes, even with checks that expect the sidecars' 503", async () => {
    const dir = playground({
      kustomization:
        'patches:\n  - target: { kind: Deployment, labelSelector: app=flaskapp }\n    patch: \'[{"op": "replace", "path": "/spec/replicas", "value": 0}]\'\n',
      checks:
        "summary: nothing answers\nchecks:\n  - { name: all 503, path: /env/version, requests: 5, by: status, expect: [503=100] }\n",
    });
    const { code, stdout, stderr } = await demo([dir]);
    expect(stdout).not.toContain("all checks passed");
    expect(stderr).toBe(
      "demo: the overlay runs no flaskapp pod (spec.replicas 0 in Deployment flaskapp-v1, Deployment flaskapp-v2): no pod would serve a check\n",
    );
    expect(code).toBe(1);
  }, 60_000);
});

describe("text from the overlay reaches the terminal with control characters made visible", () => {
  it("a summary setting the window title, a check name clearing the screen and drawing a fake green PASS", async () => {
    const dir = playground({
      checks: `summary: "title \\e]0;pwned\\a here"\nchecks:\n  - { name: "\\e[2J\\e[32mPASS\\e[0m fake", path: /env/version, requests: 4, by: status, expect: [200=100] }\n`,
    });
    const { code, stdout } = await demo([dir]);
    expect(stdout).not.toContain("\x1b");
    expect(stdout).not.toContain("\x07");
    expect(stdout).toContain("title \\x1b]0;pwned\\x07 here");
    expect(stdout).toContain("PASS  \\x1b[2J\\x1b[32mPASS\\x1b[0m fake");
    expect(code).toBe(0);
  }, 60_000);

  it("tally's report, as the demo relays it: an answer that would clear the screen and draw a fake green PASS", async () => {
    const evil = "\u001b]0;pwned\u0007\u001b[2J\u001b[32mPASS\u001b[0m";
    const dir = playground({
      kustomization: flaskappPatch(env({ EVIL: evil, ENV_ALLOW: "version,EVIL" })),
      checks:
        "summary: an answer with escapes\nchecks:\n  - { name: body, path: /env/EVIL, requests: 4, expectDistinct: '=1' }\n",
    });
    const { code, stdout } = await demo([dir]);
    expect(stdout).not.toMatch(/[\u001b\u0007]/);
    expect(stdout).toContain("\\x1b]0;pwned\\x07\\x1b[2J\\x1b[32mPASS\\x1b[0m");
    expect(code).toBe(0);
  }, 60_000);

  it("an error quoting the overlay (an env name) shows its escapes too, on one line", async () => {
    const dir = playground({ kustomization: flaskappPatch(env({ "NODE_\u001b[2JOPTIONS": "x" })) });
    const { code, stderr } = await demo([dir]);
    expect(code).toBe(1);
    expect(stderr).not.toContain("\x1b");
    expect(stderr).toContain("env NODE_\\x1b[2JOPTIONS would change");
  }, 60_000);
});

describe("lesson-vars values are checked again where they land", () => {
  const check = {
    name: "c",
    service: "flaskapp",
    path: "/headers/x-lesson",
    headers: { "x-lesson": "${V}" },
    requests: 1,
    concurrency: 1,
    expect: ["a=100"],
    expectLatency: [],
  };
  const vars = (V: string) => [{ kind: "ConfigMap", metadata: { name: "lesson-vars" }, data: { V } }];

  it("a value that is a valid header value is filled", () => {
    expect(withLessonVars([check], vars("canary"))[0]!.headers).toEqual({ "x-lesson": "canary" });
  });

  it.each([["a\r\nx-injected: 1"], ["a\nb"], ["\u0000"]])(
    "a value that is no header value (%j) is an error naming the check and header",
    (value) => {
      expect(() => withLessonVars([check], vars(value))).toThrow(ChecksError);
      expect(() => withLessonVars([check], vars(value))).toThrow(
        /^ConfigMap lesson-vars filled into check "c": headers\.x-lesson: /,
      );
    },
  );
});

describe("checks.yaml sizes", () => {
  const base = { summary: "s", checks: [{ name: "n", path: "/env/version", requests: 1, expect: ["v1=100"] }] };
  const edit = (change: (value: any) => void) => {
    const value = structuredClone(base) as any;
    change(value);
    return value;
  };

  it.each([
    ["summary", (v: any, n: number) => (v.summary = "s".repeat(n)), CHECKS_SIZE_LIMITS.summary, "summary"],
    [
      "a check's name",
      (v: any, n: number) => (v.checks[0].name = "n".repeat(n)),
      CHECKS_SIZE_LIMITS.name,
      "checks[0].name",
    ],
    [
      "a path",
      (v: any, n: number) => (v.checks[0].path = `/${"p".repeat(n - 1)}`),
      CHECKS_SIZE_LIMITS.path,
      "checks[0].path",
    ],
    [
      "a header value",
      (v: any, n: number) => (v.checks[0].headers = { "x-a": "h".repeat(n) }),
      CHECKS_SIZE_LIMITS.text,
      "checks[0].headers.x-a",
    ],
    [
      "an expectation",
      (v: any, n: number) => (v.checks[0].expect = [`${"k".repeat(n - 4)}=100`]),
      CHECKS_SIZE_LIMITS.text,
      "checks[0].expect[0]",
    ],
  ])("%s: at its limit read, one character more refused", (_, set, limit, field) => {
    expect(() =>
      parseChecks(
        edit((v) => set(v, limit)),
        "c.yaml",
      ),
    ).not.toThrow();
    expect(() =>
      parseChecks(
        edit((v) => set(v, limit + 1)),
        "c.yaml",
      ),
    ).toThrow(new ChecksError(`c.yaml: ${field}: longer than ${limit} characters (${limit + 1})`));
  });

  it.each([
    [
      "checks",
      (v: any, n: number) => (v.checks = Array.from({ length: n }, (_, i) => ({ ...base.checks[0], name: `n${i}` }))),
      CHECKS_SIZE_LIMITS.checks,
      `c.yaml: checks: more than ${CHECKS_SIZE_LIMITS.checks} checks`,
    ],
    [
      "headers",
      (v: any, n: number) =>
        (v.checks[0].headers = Object.fromEntries(Array.from({ length: n }, (_, i) => [`x-h${i}`, "v"]))),
      CHECKS_SIZE_LIMITS.entries,
      `c.yaml: checks[0].headers: more than ${CHECKS_SIZE_LIMITS.entries} headers`,
    ],
    [
      "expectations",
      (v: any, n: number) => (v.checks[0].expect = Array.from({ length: n }, (_, i) => `k${i}>=0`)),
      CHECKS_SIZE_LIMITS.entries,
      `c.yaml: checks[0].expect: more than ${CHECKS_SIZE_LIMITS.entries} entries`,
    ],
  ])("the number of %s: at its limit read, one more refused", (_, set, limit, message) => {
    expect(() =>
      parseChecks(
        edit((v) => set(v, limit)),
        "c.yaml",
      ),
    ).not.toThrow();
    expect(() =>
      parseChecks(
        edit((v) => set(v, limit + 1)),
        "c.yaml",
      ),
    ).toThrow(new ChecksError(message));
  });

  it.each([["\n"], ["\r"], ["\u2028"]])(
    "a summary or name with a line break (%j) is refused: each is one line",
    (brk) => {
      expect(() =>
        parseChecks(
          edit((v) => (v.summary = `a${brk}PASS`)),
          "c.yaml",
        ),
      ).toThrow(new ChecksError("c.yaml: summary: expected one line"));
      expect(() =>
        parseChecks(
          edit((v) => (v.checks[0].name = `a${brk}PASS`)),
          "c.yaml",
        ),
      ).toThrow(new ChecksError("c.yaml: checks[0].name: expected one line"));
    },
  );

  it(`a checks.yaml of ${CHECKS_SIZE_LIMITS.fileBytes} bytes is read, one byte more is refused unread (a 50 MB summary never reaches the terminal)`, async () => {
    const dir = tempDir("checks-size-");
    const text = (size: number) => {
      const body = "checks:\n  - { name: n, path: /env/version, requests: 1, expect: [v1=100] }\nsummary: s\n";
      return `${body}#${"x".repeat(size - body.length - 2)}\n`;
    };
    writeFileSync(join(dir, "ok.yaml"), text(CHECKS_SIZE_LIMITS.fileBytes));
    expect((await loadChecks(join(dir, "ok.yaml"))).summary).toBe("s");
    writeFileSync(join(dir, "big.yaml"), text(CHECKS_SIZE_LIMITS.fileBytes + 1));
    await expect(loadChecks(join(dir, "big.yaml"))).rejects.toThrow(
      new ChecksError(
        `${join(dir, "big.yaml")}: ${CHECKS_SIZE_LIMITS.fileBytes + 1} bytes, over the limit of ${CHECKS_SIZE_LIMITS.fileBytes}`,
      ),
    );
  });
});
