// Every ambient lesson passes its checks in the mesh preview under the oldest and the
// newest release the lessons are checked with, and a copy of each with its key rule (or
// its enrolment) broken on purpose fails at least one check (npm run test:lessons).
import { afterAll, describe, expect, it } from "vitest";
import { ambientLessons, AMBIENT_LESSONS, overlayDir } from "#lessons/catalog/lessons.ts";
import { NEWEST_RELEASE, OLDEST_LESSON_RELEASE } from "#lessons/mesh/releases.ts";
import { previewOverlay } from "#lessons/checks/preview.ts";
import { jsonPatch, overlayOver, removeOverlays } from "../lessons/overlay.ts";

afterAll(removeOverlays);

describe.each([OLDEST_LESSON_RELEASE, NEWEST_RELEASE].map((r) => [r.version, r] as const))(
  "Istio %s, ambient mode",
  (_version, release) => {
    it.each(ambientLessons())(
      "%s passes its checks",
      async (lesson) => {
        let report = "";
        const results = await previewOverlay(overlayDir(lesson), { write: (t) => (report += t), release });
        expect(results.length).toBeGreaterThan(0);
        expect(
          results.filter((r) => !r.passed),
          report,
        ).toEqual([]);
        expect(report).toContain("preview: ambient mode (ztunnel, no sidecars)");
      },
      90_000,
    );
  },
);

const ROUTE = "HTTPRoute";
const DR = "DestinationRule";

/** [lesson, what is broken, patches]. */
const BROKEN: Array<[string, string, string]> = [
  [
    "l4-only",
    "the namespace back in sidecar mode (a sidecar balances requests)",
    jsonPatch("Namespace", "istio-lessons", [
      { op: "remove", path: "/metadata/labels/istio.io~1dataplane-mode" },
      { op: "add", path: "/metadata/labels/istio-injection", value: "enabled" },
    ]),
  ],
  [
    "round-robin",
    "flaskapp-v2 weighted 9 to 1",
    jsonPatch(ROUTE, "flaskapp", [{ op: "add", path: "/spec/rules/0/backendRefs/1/weight", value: 9 }]),
  ],
  [
    "enrol-waypoint",
    "flaskapp enrolled with the waypoint (the route then applies)",
    jsonPatch("Service", "flaskapp", [
      { op: "add", path: "/metadata/labels/istio.io~1use-waypoint", value: "flaskapp-waypoint" },
    ]),
  ],
  // Not "flaskapp not enrolled": with one keep-alive connection (the check's -c 1), ztunnel lands on v2 half the time.
  [
    "v2-default",
    "the backend flaskapp-v1 instead of flaskapp-v2",
    jsonPatch(ROUTE, "flaskapp-default-v2", [
      { op: "replace", path: "/spec/rules/0/backendRefs/0/name", value: "flaskapp-v1" },
    ]),
  ],
  [
    "weighted",
    "the weights swapped",
    jsonPatch(ROUTE, "flaskapp", [
      { op: "replace", path: "/spec/rules/0/backendRefs/0/weight", value: 30 },
      { op: "replace", path: "/spec/rules/0/backendRefs/1/weight", value: 70 },
    ]),
  ],
  [
    "header-canary",
    "the header value Canary",
    jsonPatch(ROUTE, "flaskapp", [{ op: "replace", path: "/spec/rules/0/matches/0/headers/0/value", value: "Canary" }]),
  ],
  [
    "fetch-chain",
    "no timeout on /delay/2 (the pod's call then waits for the app)",
    jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/timeouts" }]),
  ],
  [
    "header-manipulation",
    "the request modifier without its remove",
    jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/filters/0/requestHeaderModifier/remove" }]),
  ],
  [
    "rewrite-redirect",
    "the URLRewrite filter missing",
    jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/filters" }]),
  ],
  [
    "ingress-gateway",
    "the gateway's route attached to the Service flaskapp too",
    jsonPatch(ROUTE, "flaskapp-ingress", [
      { op: "add", path: "/spec/parentRefs/-", value: { group: "", kind: "Service", name: "flaskapp", port: 80 } },
    ]),
  ],
  [
    "ingress-waypoint",
    "no istio.io/ingress-use-waypoint (the gateway bypasses the waypoint)",
    jsonPatch("Service", "flaskapp", [{ op: "remove", path: "/metadata/labels/istio.io~1ingress-use-waypoint" }]),
  ],
  [
    "timeout",
    "a request timeout of 400ms",
    jsonPatch(ROUTE, "flaskapp", [{ op: "replace", path: "/spec/rules/0/timeouts/request", value: "400ms" }]),
  ],
  [
    "retries",
    "the retry stanza missing",
    jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/retry" }]),
  ],
  ["circuit-breaker", "no connection pool", jsonPatch(DR, "flaskapp", [{ op: "remove", path: "/spec/trafficPolicy" }])],
  [
    "outlier-ejection",
    "no outlier detection",
    jsonPatch(DR, "flaskapp-v1", [{ op: "remove", path: "/spec/trafficPolicy" }]),
  ],
  [
    "session-affinity",
    "no consistent hash",
    jsonPatch(DR, "flaskapp", [{ op: "remove", path: "/spec/trafficPolicy" }]),
  ],
  [
    "mirror",
    "the RequestMirror filter missing",
    jsonPatch(ROUTE, "flaskapp", [{ op: "remove", path: "/spec/rules/0/filters" }]),
  ],
];

describe("an ambient lesson with its rule broken fails its checks", () => {
  it("covers every ambient lesson", () => {
    expect(BROKEN.map(([lesson]) => lesson).sort()).toEqual([...AMBIENT_LESSONS].sort());
  });

  it.each(BROKEN)(
    "ambient/%s with %s",
    async (lesson, _what, patches) => {
      let report = "";
      const results = await previewOverlay(overlayOver(`ambient/${lesson}`, patches), { write: (t) => (report += t) });
      expect(results.filter((r) => !r.passed).length, report).toBeGreaterThan(0);
      expect(report).toMatch(/^FAIL {2}/m);
    },
    90_000,
  );
});
