// The preview's fixes, each tried as a learner would: an overlay of one's own
// (the shared workloads plus one rule), with checks of one's own, run through
// the playground path of npm run demo, under the Istio release it concerns.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { resolveTarget } from "#lessons/catalog/lessons.ts";
import { findRelease, NEWEST_RELEASE } from "#lessons/mesh/releases.ts";
import { previewTarget } from "#lessons/checks/preview.ts";

const K8S = fileURLToPath(new URL("../../k8s/", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const SUBSETS = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: flaskapp }
spec:
  host: flaskapp
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;

/** A playground: k8s/app plus these rules (YAML documents) and checks, in a directory of its own. */
function playground(rules: string, checks: string): string {
  const dir = mkdtempSync(join(tmpdir(), "playground-"));
  dirs.push(dir);
  writeFileSync(join(dir, "rules.yaml"), rules);
  writeFileSync(join(dir, "checks.yaml"), checks);
  writeFileSync(
    join(dir, "kustomization.yaml"),
    `namespace: istio-lessons\nresources:\n  - ${relative(dir, join(K8S, "app"))}\n  - rules.yaml\n`,
  );
  return dir;
}

const vs = (http: string) => `${SUBSETS}---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaskapp }
spec:
  hosts: [flaskapp]
  http:
${http}`;

async function run(dir: string, version = NEWEST_RELEASE.version) {
  let report = "";
  const results = await previewTarget(await resolveTarget(dir, "/"), {
    write: (t) => (report += t),
    release: findRelease(version)!,
  });
  return { passed: results.every((r) => r.passed) && results.length > 0, report };
}

describe("the preview's fixes, tried in a playground", () => {
  it.each([
    ["1.27", "all with Host *-shadow"],
    ["1.31", "Host unchanged"],
  ])("[mirror] Istio %s: the mirrored copies are counted either way (%s)", async (version, hosts) => {
    const dir = playground(
      vs(
        "    - route: [{ destination: { host: flaskapp, subset: v1 } }]\n      mirror: { host: flaskapp, subset: v2 }\n",
      ),
      "summary: mirror\nchecks:\n  - { name: copies, path: /env/version, requests: 20, expect: [v1=100], mirroredTo: { deployment: flaskapp-v2, atLeastPercent: 100 } }\n",
    );
    const { passed, report } = await run(dir, version);
    expect(passed, report).toBe(true);
    expect(report).toContain(hosts);
  });

  it("[default-retry] a route without retries: a 503 is not retried, about half of /status/503:0.5,200:0.5 fails", async () => {
    const dir = playground(
      vs("    - route: [{ destination: { host: flaskapp, subset: v1 } }]\n"),
      "summary: no retries\nchecks:\n  - { name: half, path: '/status/503:0.5,200:0.5', requests: 200, concurrency: 4, by: status, expect: [200=50±15] }\n",
    );
    const { passed, report } = await run(dir);
    expect(passed, report).toBe(true);
  });

  it("[weights-relative] weights 1 and 3: a quarter and three quarters", async () => {
    const dir = playground(
      vs(
        "    - route:\n        - { destination: { host: flaskapp, subset: v1 }, weight: 1 }\n        - { destination: { host: flaskapp, subset: v2 }, weight: 3 }\n",
      ),
      "summary: relative\nchecks:\n  - { name: split, path: /env/version, requests: 400, concurrency: 4, expect: [v1=25±10, v2=75±10] }\n",
    );
    const { passed, report } = await run(dir);
    expect(passed, report).toBe(true);
  });

  it("[circuit-breaker] one connection and one pending: concurrency 3 never overflows (two workers, each may open one connection); concurrency 8 does, with x-envoy-overloaded", async () => {
    const pool = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: flaskapp }
spec:
  host: flaskapp
  trafficPolicy: { connectionPool: { tcp: { maxConnections: 1 }, http: { http1MaxPendingRequests: 1 } } }
`;
    const dir = playground(
      pool,
      `summary: pools
checks:
  - { name: three fit, path: /delay/0.3, requests: 12, concurrency: 3, by: status, expect: [200=100] }
  - { name: eight overflow, path: /delay/0.3, requests: 40, concurrency: 8, by: header:x-envoy-overloaded, expect: [true>=25] }
`,
    );
    const { passed, report } = await run(dir);
    expect(passed, report).toBe(true);
  });

  it("[per-try-timeout] [retry-on] a per-try timeout is not retried under the default retry conditions: 504 after the per-try timeout", async () => {
    const dir = playground(
      vs(
        "    - route: [{ destination: { host: flaskapp, subset: v1 } }]\n      retries: { attempts: 2, perTryTimeout: 300ms }\n",
      ),
      "summary: per try\nchecks:\n  - { name: one try, path: /delay/2, requests: 4, concurrency: 4, expect: [upstream request timeout=100], expectLatency: [max<=1500ms] }\n",
    );
    const { passed, report } = await run(dir);
    expect(passed, report).toBe(true);
  });

  it("[missing-subset] a route to a subset no DestinationRule defines: the lesson starts, those requests get 503", async () => {
    const dir = playground(
      vs("    - route: [{ destination: { host: flaskapp, subset: v3 } }]\n"),
      "summary: no v3\nchecks:\n  - { name: all get 503, path: /env/version, requests: 10, by: status, expect: [503=100] }\n",
    );
    const { passed, report } = await run(dir);
    expect(passed, report).toBe(true);
  });

  it("[unknown-field] a typo (wieght) is an error naming the field as no field of Istio's API, before any pod starts", async () => {
    const dir = playground(
      vs(
        "    - route:\n        - { destination: { host: flaskapp, subset: v1 }, wieght: 70 }\n        - { destination: { host: flaskapp, subset: v2 }, weight: 30 }\n",
      ),
      "summary: typo\nchecks:\n  - { name: split, path: /env/version, requests: 10, expect: [v1=70±10] }\n",
    );
    await expect(run(dir)).rejects.toThrow(
      /spec\.http\[0\]\.route\[0\]\.wieght: no such field in networking\.istio\.io\/v1 VirtualService/,
    );
  });
});
