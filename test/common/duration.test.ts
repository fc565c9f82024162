import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "#common/duration.ts";

describe("parseDuration", () => {
  it.each([
    ["500ms", 500],
    ["0ms", 0],
    ["1s", 1000],
    ["1.5s", 1500],
    [".5s", 500],
    ["10s", 10_000],
    ["1m", 60_000],
    ["2h", 7_200_000],
    [" 3s ", 3000],
  ])("accepts %j as %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "10", "s", "-1s", "1 s", "1sec", "1d", "1e3s", "NaNs", "1.s", "abc", "1s1"])("rejects %j", (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });
});

describe("formatDuration", () => {
  it.each([
    [250, "250ms"],
    [1000, "1s"],
    [1500, "1.5s"],
    [60_000, "1m"],
    [90_000, "90s"],
  ])("formats %d as %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});
