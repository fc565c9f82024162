// Each Gateway API lesson's checks catch its HTTPRoute (or Gateway) being wrong: a
// copy with one thing broken on purpose fails exactly the checks that thing is for,
// in the mesh preview (npm run test:lessons).
import { afterAll, describe, expect, it } from "vitest";
import { GATEWAY_API_LESSONS } from "#lessons/catalog/lessons.ts";
import { previewOverlay } from "#lessons/checks/preview.ts";
import { jsonPatch, overlayOver, removeOverlays } from "../lessons/overlay.ts";

afterAll(removeOverlays);

const ROUTE = "HTTPRoute";

/** [lesson, what is broken, patches, which of the lesson's checks pass]. */
const BROKEN: Array<[string, string, string, boolean[]]> = [
  ["round-robin", "flaskapp-v2 weighted 9 to 1", jsonPatch(ROUTE, "flaskapp", [{ op: "add", path: "/spec/rules/0/backendRefs/1/weight", value: 9 }]), [false]],
  ["v2-default", "the backend flaskapp-v1 instead of flaskapp-v2", jsonPatch(ROUTE, "flaskapp-default-v2", [{ op: "replace", path: "/spec/rules/0/backendRefs/0/name", value: "flaskapp-v1" }]), [false]],
  ["weighted", "the weights swapped", jsonPatch(ROUTE, "flaskapp", [{ op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 30 }, { op: "replace", path: "/spec/rules/0/backendRefs/1/weight", value: 70 }]), [false]],
  ["header-canary", "the header value Canary (matches are exact and case-sensitive)", jsonPatch(ROUTE, "flaskapp", [{ op: "replace", path: "/spec/rules/0/matches/0/headers/0/value", value: "Canary" }]), [false, true, true]],
  ["fetch-chain", "no timeout on /delay/2 (the calling pod's sidecar then waits for the app)", jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/timeouts" }]), [true, true, true, false, true]],
  ["header-manipulation", "the request modifier without its remove", jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/filters/0/requestHeaderModifier/remove" }]), [true, true, false, true, true]],
  ["rewrite-redirect", "the URLRewrite filter missing", jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/filters" }]), [false, true, true]],
  [
    "ingress-gateway",
    "the route attached to the Service flaskapp too (so it applies inside the mesh)",
    jsonPatch(ROUTE, "flaskapp-ingress", [{ op: "add", path: "/spec/parentRefs/-", value: { group: "", kind: "Service", name: "flaskapp", port: 80 } }]),
    [true, true, true, false],
  ],
  ["timeout", "a request timeout of 400ms (so /delay/0.5 times out too)", jsonPatch(ROUTE, "flaskapp", [{ op: "replace", path: "/spec/rules/0/timeouts/request", value: "400ms" }]), [true, true, false]],
  ["retries", "the retry stanza missing (Istio's default retries only connection errors)", jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/retry" }]), [false]],
  ["mirror", "the RequestMirror filter missing", jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/filters" }]), [false]],
];

describe("a Gateway API lesson with its rule broken fails the checks it breaks", () => {
  it("covers every Gateway API lesson", () => {
    expect(BROKEN.map(([lesson]) => lesson).sort()).toEqual([...GATEWAY_API_LESSONS].sort());
  });

  it.each(BROKEN)("gateway-api/%s with %s", async (lesson, _what, patches, passed) => {
    let report = "";
    const results = await previewOverlay(overlayOver(`gateway-api/${lesson}`, patches), { write: (t) => (report += t) });
    expect(results.map((r) => r.passed), report).toEqual(passed);
    expect(report).toMatch(/^FAIL {2}/m);
  }, 90_000);
});
