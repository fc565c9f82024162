import { describe, expect, it } from "vitest";
import { terminalJson, visibleLine, visibleText } from "#common/visible-text.ts";

// [input, visibleText, visibleLine]
const CASES: [string, string, string][] = [
  // left alone
  ["v2", "v2", "v2"],
  ["", "", ""],
  ["I am FINE!", "I am FINE!", "I am FINE!"],
  ["ünïcödé 中文 😀 ±", "ünïcödé 中文 😀 ±", "ünïcödé 中文 😀 ±"],
  ["a\\x1b b", "a\\x1b b", "a\\x1b b"], // a backslash is text, not an escape
  ["\u00a0nbsp \u00ff", "\u00a0nbsp \u00ff", "\u00a0nbsp \u00ff"], // the first printable characters after C1
  // layout: kept by visibleText, escaped by visibleLine
  ["line 1\nline 2", "line 1\nline 2", "line 1\\nline 2"],
  ["a\tb", "a\tb", "a\\tb"],
  // hostile answers
  ["\x1b]0;owned\x07", "\\x1b]0;owned\\x07", "\\x1b]0;owned\\x07"], // OSC: set the window title
  ["\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H", "\\x1b[2J\\x1b[H"], // clear the screen, cursor home
  ["\x1b[32mPASS\x1b[0m", "\\x1b[32mPASS\\x1b[0m", "\\x1b[32mPASS\\x1b[0m"], // a fake green PASS
  ["\x9b2J", "\\x9b2J", "\\x9b2J"], // C1 CSI: clear the screen in one character
  ["\x9d0;t\x9c", "\\x9d0;t\\x9c", "\\x9d0;t\\x9c"], // C1 OSC and ST
  ["FAIL\rPASS", "FAIL\\rPASS", "FAIL\\rPASS"], // a carriage return overwrites the line
  ["ab\b\bPA", "ab\\x08\\x08PA", "ab\\x08\\x08PA"], // backspaces
  ["\x00\x01\x0b\x0c\x1f\x7f", "\\x00\\x01\\x0b\\x0c\\x1f\\x7f", "\\x00\\x01\\x0b\\x0c\\x1f\\x7f"],
  ["\x80\x85\x9f", "\\x80\\x85\\x9f", "\\x80\\x85\\x9f"], // C1, NEL (U+0085) among them
  ["user\u202eexe.txt", "user\\u202eexe.txt", "user\\u202eexe.txt"], // a bidi override
  [
    "a\u2066b\u2069\u200e\u200f\u061c",
    "a\\u2066b\\u2069\\u200e\\u200f\\u061c",
    "a\\u2066b\\u2069\\u200e\\u200f\\u061c",
  ],
  ["a\u2028b\u2029c", "a\\u2028b\\u2029c", "a\\u2028b\\u2029c"], // line and paragraph separators
];

describe("visibleText and visibleLine", () => {
  it.each(CASES)("%j → %j, one line %j", (input, text, line) => {
    expect(visibleText(input)).toBe(text);
    expect(visibleLine(input)).toBe(line);
  });

  it("leave no character a terminal acts on, for every code point up to U+FFFF", () => {
    const all = Array.from({ length: 0x10000 }, (_, i) =>
      i >= 0xd800 && i <= 0xdfff ? "" : String.fromCharCode(i),
    ).join("");
    const acting = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
    expect(visibleLine(all)).not.toMatch(acting);
    expect(visibleText(all).replace(/[\t\n]/g, "")).not.toMatch(acting);
  });

  it("returns the same string when there is nothing to escape, and works on repeated calls", () => {
    const text = "v1 ".repeat(1000);
    expect(visibleText(text)).toBe(text);
    for (let i = 0; i < 3; i++) expect(visibleLine("\x1bx")).toBe("\\x1bx");
  });
});

describe("terminalJson", () => {
  it.each<[unknown, string]>([
    [{ key: "v2" }, '{"key":"v2"}'],
    [{ key: "\x1b[2J\x07" }, '{"key":"\\u001b[2J\\u0007"}'], // JSON.stringify's own escapes
    [{ key: "\x9b2J\x7f" }, '{"key":"\\u009b2J\\u007f"}'], // left raw by JSON.stringify
    [["a\u202eb", "\u2028"], '["a\\u202eb","\\u2028"]'],
    [{ "k\x9b": 1 }, '{"k\\u009b":1}'], // keys are strings too
    ["ü 😀", '"ü 😀"'],
  ])("%j → %s, the same value when parsed", (value, json) => {
    expect(terminalJson(value)).toBe(json);
    expect(JSON.parse(terminalJson(value))).toEqual(value);
  });

  it("indents as JSON.stringify does", () => {
    expect(terminalJson({ a: [1] }, 2)).toBe(JSON.stringify({ a: [1] }, null, 2));
  });
});
