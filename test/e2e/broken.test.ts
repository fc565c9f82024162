// Each lesson's checks catch the lesson's rule being wrong: a copy of the
// lesson with its key rule broken on purpose fails at least one check in the
// mesh preview.
import { afterAll, describe, expect, it } from "vitest";
import { previewOverlay } from "#lessons/checks/preview.ts";
import { jsonPatch, overlayOver, removeOverlays } from "../lessons/overlay.ts";

afterAll(removeOverlays);

const VS = "VirtualService";
const DR = "DestinationRule";

/** [lesson, what is broken, patches]. */
const BROKEN: Array<[string, string, string]> = [
  ["v2-default", "the v2 pods labelled version: v1 (the seed's bug)", jsonPatch("Deployment", "flaskapp-v2", [{ op: "replace", path: "/spec/template/metadata/labels/version", value: "v1" }])],
  ["weighted", "weights swapped", jsonPatch(VS, "flaskapp", [{ op: "replace", path: "/spec/http/0/route/0/weight", value: 30 }, { op: "replace", path: "/spec/http/0/route/1/weight", value: 70 }])],
  ["header-canary", "matching lab: canry", jsonPatch(VS, "flaskapp", [{ op: "replace", path: "/spec/http/0/match/0/headers/lab/exact", value: "canry" }])],
  ["source-labels", "sourceLabels app: curl", jsonPatch(VS, "flaskapp", [{ op: "replace", path: "/spec/http/0/match/0/sourceLabels/app", value: "curl" }])],
  ["fetch-chain", "no route timeout", jsonPatch(VS, "flaskapp", [{ op: "remove", path: "/spec/http/0/timeout" }])],
  ["header-manipulation", "x-flaskapp-version kept", jsonPatch(VS, "flaskapp", [{ op: "remove", path: "/spec/http/0/headers/response/remove" }])],
  ["rewrite-redirect", "redirect to /env/POD_NAME", jsonPatch(VS, "flaskapp", [{ op: "replace", path: "/spec/http/1/redirect/uri", value: "/env/POD_NAME" }])],
  ["ingress-gateway", "the Gateway accepting another host", jsonPatch("Gateway", "flaskapp-gateway", [{ op: "replace", path: "/spec/servers/0/hosts/0", value: "other.example.com" }])],
  ["egress-service-entry", "a ServiceEntry for httpbin.com", jsonPatch("ServiceEntry", "outside-host", [{ op: "replace", path: "/spec/hosts/0", value: "httpbin.com" }])],
  ["timeout", "a 3s timeout", jsonPatch(VS, "flaskapp", [{ op: "replace", path: "/spec/http/0/timeout", value: "3s" }])],
  ["retries", "no retries", jsonPatch(VS, "flaskapp", [{ op: "remove", path: "/spec/http/0/retries" }])],
  ["fault-delay", "no delay", jsonPatch(VS, "flaskapp", [{ op: "remove", path: "/spec/http/0/fault" }])],
  ["fault-abort", "abort 10%", jsonPatch(VS, "flaskapp", [{ op: "replace", path: "/spec/http/0/fault/abort/percentage/value", value: 10 }])],
  ["circuit-breaker", "no connection pool", jsonPatch(DR, "flaskapp", [{ op: "remove", path: "/spec/trafficPolicy" }])],
  ["outlier-ejection", "no outlier detection", jsonPatch(DR, "flaskapp", [{ op: "remove", path: "/spec/subsets/0/trafficPolicy" }])],
  ["session-affinity", "no consistent hash", jsonPatch(DR, "flaskapp", [{ op: "remove", path: "/spec/trafficPolicy" }])],
  ["mirror", "no mirror", jsonPatch(VS, "flaskapp", [{ op: "remove", path: "/spec/http/0/mirror" }, { op: "remove", path: "/spec/http/0/mirrorPercentage" }])],
];

describe("a lesson with its rule broken fails its checks", () => {
  it.each(BROKEN)("%s with %s", async (lesson, _what, patches) => {
    let report = "";
    const results = await previewOverlay(overlayOver(lesson, patches), { write: (t) => (report += t) });
    expect(results.filter((r) => !r.passed).length, report).toBeGreaterThan(0);
    expect(report).toMatch(/^FAIL {2}/m);
  }, 90_000);
});
