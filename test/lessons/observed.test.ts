// A failing expectation tied to the rules behind what it observed (checks/observed.ts).
import { describe, expect, it } from "vitest";
import { explainFailures, failedExpectations, producedKey } from "#lessons/checks/observed.ts";
import type { Decision } from "#lessons/mesh/proxy.ts";

const decision = (
  destination: string | undefined,
  status: number,
  rule = "VirtualService flaskapp http[0]",
): Decision => ({
  proxy: "sleep",
  rule,
  notes: [],
  status,
  kind: "route",
  at: 0,
  path: "/env/version",
  attempts: [],
  ejected: [],
  ...(destination ? { destination } : {}),
});

describe("failedExpectations", () => {
  it("reads tally's FAIL lines, and skips the passing ones", () => {
    const report =
      "pass  v1=70±10  expected 70% ±10, observed 71.8% (287 of 400)\nFAIL  v2=30±10  expected 30% ±10, observed 0% (0 of 400)\nFAIL  503<=5  expected at most 5%, observed 50% (200 of 400)\n";
    expect(failedExpectations(report)).toEqual([
      { expr: "v2=30±10", key: "v2", observed: "0% (0 of 400)" },
      { expr: "503<=5", key: "503", observed: "50% (200 of 400)" },
    ]);
  });
});

describe("producedKey", () => {
  it.each<[string, Decision, boolean]>([
    ["v2", decision("flaskapp subset v2 (weight 30 of 100)", 200), true],
    ["v2", decision("flaskapp subset v1", 200), false],
    ["v2", decision("flaskapp-v2", 200), true],
    ["v1", decision("flaskapp-v12", 200), false],
    ["503", decision("flaskapp subset v1", 503), true],
    ["503 (empty)", decision("flaskap subset v1", 503), true],
    ["503", decision(undefined, 200), false],
  ])("%s from %j: %s", (key, d, produced) => {
    expect(producedKey(d, key)).toBe(produced);
  });
});

describe("explainFailures", () => {
  it("names the rules behind what a failing expectation counted, or says none produced it", () => {
    const decisions = [...Array(3)]
      .map(() => decision("flaskapp subset v1", 200))
      .concat([decision("flaskapp subset v2", 200)]);
    const report =
      "FAIL  v1=10±5  expected 10% ±5, observed 75% (3 of 4)\nFAIL  v3=100  expected 100%, observed 0% (0 of 4)\n";
    expect(explainFailures(report, decisions)).toBe(
      "why v1=10±5 failed (observed 75% (3 of 4)): came from 3 × VirtualService flaskapp http[0] → flaskapp subset v1 → 200\n" +
        "why v3=100 failed (observed 0% (0 of 4)): no rule produced v3; the answers came from 3 × VirtualService flaskapp http[0] → flaskapp subset v1 → 200; 1 × VirtualService flaskapp http[0] → flaskapp subset v2 → 200\n",
    );
  });

  it("leaves mirrored copies out: their answers never reach the client", () => {
    const mirrored: Decision = { ...decision("flaskapp subset v2", 200), kind: "mirror" };
    const report = "FAIL  v2=100  expected 100%, observed 0% (0 of 1)\n";
    expect(explainFailures(report, [decision("flaskapp subset v1", 200), mirrored])).toContain("no rule produced v2");
  });

  it("says nothing without decisions (a cluster) or without a failing expectation", () => {
    expect(explainFailures("FAIL  v1=100  expected 100%, observed 0% (0 of 1)\n", [])).toBe("");
    expect(
      explainFailures("pass  v1=100  expected 100%, observed 100% (1 of 1)\n", [decision("flaskapp subset v1", 200)]),
    ).toBe("");
  });
});
