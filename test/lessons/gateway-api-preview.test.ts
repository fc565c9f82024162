// The Gateway API lessons end to end through the real pieces (flaskapp and tally
// bundles, kustomize renders, the mesh preview): a copy of each with one thing broken
// fails exactly the checks that thing is for (preview.test.ts runs the lessons
// themselves under the oldest and the newest Istio the preview models).
import { afterAll, describe, expect, it } from "vitest";
import { renderKustomization } from "../../lessons/src/kustomize.ts";
import { GATEWAY_API_LESSONS, overlayDir } from "../../lessons/src/lessons.ts";
import { meshConfig, RuleError } from "../../lessons/src/mesh/config.ts";
import { Mesh } from "../../lessons/src/mesh/mesh.ts";
import { runningPodCount } from "../../lessons/src/mesh/pods.ts";
import { previewOverlay } from "../../lessons/src/preview.ts";
import { overlayOver, removeOverlays, runNode } from "./preview-helpers.ts";

afterAll(removeOverlays);

// Every Gateway API lesson's checks pass in the preview: test/lessons/preview.test.ts runs them with the others.
describe("every Gateway API lesson's render gives the preview its HTTPRoutes' routes", () => {
  it.each(GATEWAY_API_LESSONS)("gateway-api/%s", async (lesson) => {
    const config = meshConfig(await renderKustomization(overlayDir(`gateway-api/${lesson}`)));
    const expected = lesson === "ingress-gateway" ? { hosts: ["flaskapp.example.com"], gateways: ["istio-lessons/flaskapp-gateway"] } : { hosts: ["flaskapp.istio-lessons.svc.cluster.local"], gateways: ["mesh"] };
    expect(config.virtualHosts).toEqual([expect.objectContaining({ source: expect.stringMatching(/^HTTPRoute /), ...expected })]);
  });
});

/** A JSON patch on the lesson's HTTPRoute. */
const routePatch = (name: string, ops: string) => `  - target: { kind: HTTPRoute, name: ${name} }\n    patch: |-\n${ops.replace(/^/gm, "      ")}\n`;

describe("a broken copy of each Gateway API lesson fails the checks it breaks", () => {
  const cases: Array<[string, string, string, boolean[]]> = [
    ["round-robin", "flaskapp-v2 weighted 9 to 1", routePatch("flaskapp", "- op: add\n  path: /spec/rules/0/backendRefs/1/weight\n  value: 9"), [false]],
    ["v2-default", "the backend flaskapp-v1 instead of flaskapp-v2", routePatch("flaskapp-default-v2", "- op: replace\n  path: /spec/rules/0/backendRefs/0/name\n  value: flaskapp-v1"), [false]],
    [
      "weighted",
      "the weights swapped",
      routePatch("flaskapp", "- op: replace\n  path: /spec/rules/0/backendRefs/0/weight\n  value: 30\n- op: replace\n  path: /spec/rules/0/backendRefs/1/weight\n  value: 70"),
      [false],
    ],
    ["fetch-chain", "no timeout on /delay/2 (the calling pod's sidecar then waits for the app)", routePatch("flaskapp", "- op: remove\n  path: /spec/rules/0/timeouts"), [true, true, true, false, true]],
    ["header-manipulation", "the request modifier without its remove", routePatch("flaskapp", "- op: remove\n  path: /spec/rules/0/filters/0/requestHeaderModifier/remove"), [true, true, false, true, true]],
    ["header-canary", "the header value Canary (matches are exact and case-sensitive)", routePatch("flaskapp", "- op: replace\n  path: /spec/rules/0/matches/0/headers/0/value\n  value: Canary"), [false, true, true]],
    ["rewrite-redirect", "the URLRewrite filter missing", routePatch("flaskapp", "- op: remove\n  path: /spec/rules/0/filters"), [false, true, true]],
    [
      "ingress-gateway",
      "the route attached to the Service flaskapp too (so it applies inside the mesh)",
      routePatch("flaskapp-ingress", '- op: add\n  path: /spec/parentRefs/-\n  value: { group: "", kind: Service, name: flaskapp, port: 80 }'),
      [true, true, true, false],
    ],
    ["timeout", "a request timeout of 400ms (so /delay/0.5 times out too)", routePatch("flaskapp", "- op: replace\n  path: /spec/rules/0/timeouts/request\n  value: 400ms"), [true, true, false]],
    ["retries", "the retry stanza missing (Istio's default retries only connection errors)", routePatch("flaskapp", "- op: remove\n  path: /spec/rules/0/retry"), [false]],
    ["mirror", "the RequestMirror filter missing", routePatch("flaskapp", "- op: remove\n  path: /spec/rules/0/filters"), [false]],
  ];

  it("covers every Gateway API lesson", () => {
    expect(cases.map((c) => c[0]).sort()).toEqual([...GATEWAY_API_LESSONS].sort());
  });

  // Side by side: each copy is its own mesh on its own ports, and no expectation that has to
  // hold in a broken copy sits near a timing threshold, so a loaded machine cannot flip one.
  it.concurrent.for(cases)("gateway-api/%s with %s", { timeout: 60_000 }, async ([lesson, , patches, expected], { expect }) => {
    let report = "";
    const results = await previewOverlay(overlayOver(`gateway-api/${lesson}`, patches), { write: (t) => (report += t) });
    expect(results.map((r) => r.passed), report).toEqual(expected);
    expect(report).toMatch(/^FAIL {2}/m);
  });
});

describe("a Gateway API field the preview does not model", () => {
  it("is an error naming it, before any pod starts", async () => {
    const dir = overlayOver("gateway-api/weighted", routePatch("flaskapp", "- op: add\n  path: /spec/rules/0/sessionPersistence\n  value: { sessionName: lab, type: Cookie }"));
    const objects = await renderKustomization(dir);
    await expect(Mesh.start(objects)).rejects.toThrow(RuleError);
    await expect(Mesh.start(objects)).rejects.toThrow("HTTPRoute flaskapp: spec.rules[0].sessionPersistence: a real Gateway API field the mesh preview does not model (docs/gateway-api.md lists what it does)");
    expect(runningPodCount()).toBe(0);
  });
});

describe("npm run demo -- gateway-api/<lesson>", () => {
  it("runs the lesson from k8s/gateway-api and passes", async () => {
    const { code, stdout } = await runNode(["lessons/src/demo.ts", "gateway-api/v2-default"]);
    expect(stdout).toMatch(/== gateway-api\/v2-default: [\s\S]*kubectl apply -k k8s\/gateway-api\/v2-default [\s\S]*HTTPRoute flaskapp-default-v2 rules\[0\] → flaskapp-v2[\s\S]*PASS {2}only v2 answers/);
    expect(code).toBe(0);
  }, 60_000);

  it("refuses a lesson the Gateway API cannot express, saying why and which lesson to run, exit 2", async () => {
    const { code, stdout, stderr } = await runNode(["lessons/src/demo.ts", "gateway-api/circuit-breaker"]);
    expect(code).toBe(2);
    expect(stdout).toBe("");
    expect(stderr).toContain("demo: gateway-api/circuit-breaker is no lesson: connection-pool limits are no Gateway API field: only a DestinationRule sets them; run circuit-breaker (Istio's API)");
  });
});
