import { describe, expect, it } from "vitest";
import { pickWeighted } from "#common/weighted.ts";

describe("pickWeighted", () => {
  const items = [
    { name: "a", weight: 1 },
    { name: "b", weight: 3 },
  ];

  it.each([
    [0, "a"],
    [0.2499, "a"],
    [0.25, "b"],
    [0.9999999, "b"],
  ])("random %d picks %s (weights are relative: 1 of 4, 3 of 4)", (random, name) => {
    expect(pickWeighted(items, random).name).toBe(name);
  });

  it("never picks a weight of 0, even where rounding at the top end runs past every item", () => {
    // Just below 1 times 0.3 + 0.7, less 0.3, is not below 0.7 in floating point: the point runs past every item.
    const rounding = [
      { name: "a", weight: 0.3 },
      { name: "b", weight: 0.7 },
      { name: "c", weight: 0 },
    ];
    expect(pickWeighted(rounding, 1 - Number.EPSILON / 2).name).toBe("b");
    const zeroFirst = [
      { name: "a", weight: 0 },
      { name: "b", weight: 1 },
      { name: "c", weight: 0 },
    ];
    for (const random of [0, 0.5, 1 - Number.EPSILON / 2]) expect(pickWeighted(zeroFirst, random).name).toBe("b");
  });
});
