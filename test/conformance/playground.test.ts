// The newly modelled features as a learner meets them: two playgrounds (the
// shared workloads plus rules and checks of one's own), one per API, each run
// once through the playground path of `npm run demo` with real flaskapp pods,
// real proxies and tally. Each check names the feature it shows; the routing
// itself is held to upstream's cases in the other files of this suite.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { resolveTarget } from "#lessons/catalog/lessons.ts";
import { previewTarget } from "#lessons/checks/preview.ts";

const K8S = fileURLToPath(new URL("../../k8s/", import.meta.url));
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A playground directory: k8s/app (and the per-version Services), these rules and checks. */
function playground(rules: string, checks: string): string {
  const dir = mkdtempSync(join(tmpdir(), "conformance-"));
  dirs.push(dir);
  writeFileSync(join(dir, "rules.yaml"), rules);
  writeFileSync(join(dir, "checks.yaml"), checks);
  writeFileSync(
    join(dir, "kustomization.yaml"),
    `namespace: istio-lessons\nresources:\n  - ${relative(dir, join(K8S, "app"))}\n  - rules.yaml\ncomponents:\n  - ${relative(dir, join(K8S, "components/version-services"))}\n`,
  );
  return dir;
}

/** Runs it as `npm run demo -- <dir>` does: the warnings printed first, then each check. */
async function demo(dir: string): Promise<{ passed: boolean; report: string }> {
  let report = "";
  const write = (t: string) => {
    report += t;
  };
  const results = await previewTarget(await resolveTarget(dir, "/"), { write });
  return { passed: results.length > 0 && results.every((r) => r.passed), report };
}

describe("the newly modelled features in a playground", () => {
  it("Istio API: queryParams, a :path match, withoutHeaders, a :authority set, timeout 0s, retryRemoteLocalities, fault.delay.percent", async () => {
    const dir = playground(
      `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: flaskapp }
spec:
  host: flaskapp
  subsets: [{ name: v1, labels: { version: v1 } }, { name: v2, labels: { version: v2 } }]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: { name: flaskapp }
spec:
  hosts: [flaskapp]
  http:
  - match: [{ queryParams: { canary: { exact: "yes" } } }]
    route: [{ destination: { host: flaskapp, subset: v2 } }]
  - match: [{ headers: { ":path": { prefix: "/env/version?pseudo" } } }]
    route: [{ destination: { host: flaskapp, subset: v2 } }]
  - match: [{ withoutHeaders: { lab: { regex: "*" } } }]
    route: [{ destination: { host: flaskapp, subset: v1 } }]
    headers: { request: { set: { ":authority": "flaskapp.example.com" } } }
    timeout: 0s
    fault: { delay: { fixedDelay: 1ms, percent: 100 } }
  - route: [{ destination: { host: flaskapp, subset: v2 } }]
    retries: { attempts: 2, retryOn: 5xx, retryRemoteLocalities: true }
`,
      `summary: the Istio API's newly modelled fields
checks:
  - { name: "[query-params] ?canary=yes goes to v2", path: "/env/version?canary=yes", requests: 20, expect: [v2=100] }
  - { name: "[pseudo-header-match] a :path match", path: "/env/version?pseudo=1", requests: 20, expect: [v2=100] }
  - { name: "[without-headers] [authority-header] no lab header: v1, its Host rewritten (no 503)", path: /env/version, requests: 20, expect: [v1=100] }
  - { name: "[route-timeout] timeout 0s is none: a 0.3s request succeeds", path: /delay/0.3, requests: 4, concurrency: 4, by: status, expect: [200=100] }
  - { name: "[retry-remote-localities] with a lab header: v2", path: /env/version, headers: { lab: any }, requests: 20, expect: [v2=100] }
`,
    );
    const { passed, report } = await demo(dir);
    expect(passed, report).toBe(true);
    expect(report).toContain(
      "warning: VirtualService flaskapp: spec.http[2].fault.delay.percent: deprecated, use percentage (honoured as Istio does)",
    );
  });

  it("Gateway API: queryParams, a rule without backends (500), a redirect's scheme, two mirrors, an unattached route's status", async () => {
    const dir = playground(
      `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: flaskapp }
spec:
  parentRefs: [{ group: "", kind: Service, name: flaskapp, port: 80, sectionName: http }]
  rules:
  - matches: [{ queryParams: [{ name: animal, value: whale }] }]
    backendRefs: [{ name: flaskapp-v2, port: 80 }]
  - matches: [{ path: { type: PathPrefix, value: /nothing } }]
  - matches: [{ path: { type: PathPrefix, value: /secure } }]
    filters: [{ type: RequestRedirect, requestRedirect: { scheme: https } }]
  - filters:
    - { type: RequestMirror, requestMirror: { backendRef: { name: flaskapp-v2, port: 80 } } }
    - { type: RequestMirror, requestMirror: { backendRef: { name: flaskapp-v2, port: 80 }, percent: 0 } }
    backendRefs: [{ name: flaskapp-v1, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: elsewhere }
spec:
  parentRefs: [{ group: "", kind: Service, name: flaskapp-v1, port: 80, sectionName: grpc }]
  rules: [{ backendRefs: [{ name: flaskapp-v2, port: 80 }] }]
`,
      `summary: the Gateway API's newly modelled fields
checks:
  - { name: "[query-params] ?animal=whale goes to flaskapp-v2", path: "/env/version?animal=whale", requests: 20, expect: [v2=100] }
  - { name: "[gw-no-backends] a rule without backends answers 500", path: /nothing, requests: 4, by: status, expect: [500=100] }
  - { name: "[gw-redirect] a redirect's scheme", path: /secure, requests: 4, by: status, expect: [302=100] }
  - { name: "[gw-mirror] two mirrors: the client sees v1 only", path: /env/version, requests: 20, expect: [v1=100], mirroredTo: { deployment: flaskapp-v2, atLeastPercent: 100 } }
`,
    );
    const { passed, report } = await demo(dir);
    expect(passed, report).toBe(true);
    expect(report).toContain(
      "warning: HTTPRoute elsewhere: spec.parentRefs[0]: not Accepted (NoMatchingParent): Service istio-lessons/flaskapp-v1 has no port named grpc",
    );
  });
});
