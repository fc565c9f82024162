import { describe, expect, it } from "vitest";
import { checkDuration, checkWholeNumber, isIntegerIn, parseWholeNumber, rangeText } from "#common/bounded.ts";

describe("parseWholeNumber", () => {
  it.each([
    ["0", 0],
    ["10", 10],
    ["007", 7],
    ["9007199254740991", Number.MAX_SAFE_INTEGER],
  ])("reads %j as %d", (text, n) => {
    expect(parseWholeNumber(text)).toBe(n);
  });

  it.each(["", " 1", "1 ", "+1", "-1", "1.0", "1e3", "0x10", "ten", "9007199254740992", "1".repeat(400)])(
    "refuses %j",
    (text) => {
      expect(parseWholeNumber(text)).toBeUndefined();
    },
  );
});

describe("checkWholeNumber", () => {
  const range = { min: 1, max: 10 };
  it.each([
    ["0", { ok: false, problem: "range" }],
    ["1", { ok: true, value: 1 }],
    ["10", { ok: true, value: 10 }],
    ["11", { ok: false, problem: "range" }],
    ["1.5", { ok: false, problem: "form" }],
  ])("%j in 1..10: %j", (text, checked) => {
    expect(checkWholeNumber(text, range)).toEqual(checked);
  });
});

describe("checkDuration", () => {
  const range = { min: 1, max: 60_000 };
  it.each([
    ["0ms", { ok: false, problem: "range" }],
    ["1ms", { ok: true, value: 1 }],
    ["1m", { ok: true, value: 60_000 }],
    ["60001ms", { ok: false, problem: "range" }],
    ["60", { ok: false, problem: "form" }],
  ])("%j in 1ms..1m: %j", (text, checked) => {
    expect(checkDuration(text, range)).toEqual(checked);
  });
});

describe("isIntegerIn", () => {
  it.each([
    [0, true],
    [100, true],
    [-1, false],
    [101, false],
    [1.5, false],
    ["5", false],
    [Number.NaN, false],
    [Number.POSITIVE_INFINITY, false],
    [null, false],
    [undefined, false],
  ])("%j in 0..100: %s", (value, inside) => {
    expect(isIntegerIn(value, { min: 0, max: 100 })).toBe(inside);
  });
});

describe("rangeText", () => {
  it("writes counts as numbers and durations as a person does", () => {
    expect(rangeText({ min: 1, max: 10 })).toBe("from 1 to 10");
    expect(rangeText({ min: 0, max: 1_800_000 }, true)).toBe("from 0ms to 30m");
  });
});
