import { describe, expect, it } from "vitest";
import {
  isRejected,
  MAX_STATUS_WEIGHT,
  normalizeHost,
  parseContentLength,
  parseDelay,
  parseFetchUrl,
  parseRedirect,
  parseStatusSpec,
  pickStatus,
} from "#flaskapp/input.ts";

describe("parseStatusSpec", () => {
  it.each([
    ["200", [{ status: 200, weight: 1 }]],
    ["599", [{ status: 599, weight: 1 }]],
    [
      "503:0.5,200:0.5",
      [
        { status: 503, weight: 0.5 },
        { status: 200, weight: 0.5 },
      ],
    ],
    [
      "500:3,200:1",
      [
        { status: 500, weight: 3 },
        { status: 200, weight: 1 },
      ],
    ],
    [
      "503:0,200:.25",
      [
        { status: 503, weight: 0 },
        { status: 200, weight: 0.25 },
      ],
    ],
    // The bound, MAX_STATUS_WEIGHT, and the most digits a weight may have.
    [
      "503:1000000,200:1",
      [
        { status: 503, weight: 1_000_000 },
        { status: 200, weight: 1 },
      ],
    ],
    [
      "503:0000001.000000001,200:.000000001",
      [
        { status: 503, weight: 1.000000001 },
        { status: 200, weight: 1e-9 },
      ],
    ],
  ])("accepts %j", (spec, value) => {
    expect(parseStatusSpec(spec)).toEqual({ value });
  });

  it.each([
    "199",
    "600",
    "100",
    "99",
    "1000",
    "abc",
    "",
    "20x",
    "+200",
    "200.0",
    " 200",
    "503:",
    ":0.5",
    "503:0.5,",
    "503:-1,200:1",
    "503:1e3",
    "503:0.5:1",
    "503:0,200:0",
    "503:x,200:1",
    "503:0.5;200:0.5",
    Array.from({ length: 21 }, () => "200:1").join(","),
    // Weights past the bound: above MAX_STATUS_WEIGHT, too many digits, and 309 digits (Infinity, where the last choice always won).
    "503:1000000.000000001,200:1",
    "503:1000001,200:1",
    "503:10000000,200:1",
    "503:.0000000001,200:1",
    `503:1,200:${"9".repeat(309)}`,
    `503:${"9".repeat(309)},200:${"9".repeat(309)}`,
  ])("rejects %j with 400", (spec) => {
    const parsed = parseStatusSpec(spec);
    expect(isRejected(parsed) && parsed.status).toBe(400);
  });
});

describe("parseStatusSpec and pickStatus at the weight bound", () => {
  it("keeps the weights finite, so the shares hold at MAX_STATUS_WEIGHT", () => {
    const parsed = parseStatusSpec(`503:${MAX_STATUS_WEIGHT},200:${MAX_STATUS_WEIGHT}`);
    if (isRejected(parsed)) throw new Error(parsed.detail);
    expect([pickStatus(parsed.value, 0.4999), pickStatus(parsed.value, 0.5)]).toEqual([503, 200]);
  });
});

describe("pickStatus", () => {
  // The choice itself is services/common's pickWeighted (test/common/weighted.test.ts).
  const choices = [
    { status: 503, weight: 1 },
    { status: 200, weight: 3 },
  ];
  it.each([
    [0.2499, 503],
    [0.25, 200],
  ])("random %d picks %d: weights are relative", (random, status) => {
    expect(pickStatus(choices, random)).toBe(status);
  });
});

describe("parseDelay", () => {
  it.each([
    ["0", 0],
    ["1", 1000],
    ["1.5", 1500],
    [".25", 250],
    ["10", 10_000],
    ["9.9999", 10_000],
    ["0.0004", 0],
  ])("accepts %j as %d ms (MAX_DELAY 10s)", (text, ms) => {
    expect(parseDelay(text, 10_000)).toEqual({ value: ms });
  });

  it.each(["10.001", "11", "-1", "abc", "", "1e1", "Infinity", "NaN", "1.", "0x10", " 1", "1s", "1,5", "9".repeat(20)])(
    "rejects %j with 400",
    (text) => {
      const parsed = parseDelay(text, 10_000);
      expect(isRejected(parsed) && parsed.status).toBe(400);
    },
  );
});

describe("normalizeHost", () => {
  it.each([
    ["Example.COM", "example.com"],
    ["[::1]", "::1"],
    ["httpbin.", "httpbin"],
    ["127.0.0.1", "127.0.0.1"],
  ])("%j → %j", (host, expected) => {
    expect(normalizeHost(host)).toBe(expected);
  });
});

describe("parseFetchUrl", () => {
  const allow = new Set(["127.0.0.1", "::1", "httpbin"]);
  it.each([
    ["http://127.0.0.1:8080/get", null, "http://127.0.0.1:8080/get"],
    ["https://example.com/", null, "https://example.com/"],
    ["HTTP://HTTPBIN/x?y=1", allow, "http://httpbin/x?y=1"],
    ["http://[::1]:9/", allow, "http://[::1]:9/"],
    ["http://httpbin./", allow, "http://httpbin./"],
  ])("accepts %j", (raw, allowed, href) => {
    const parsed = parseFetchUrl(raw, allowed);
    expect(isRejected(parsed) ? parsed : parsed.value.href).toBe(href);
  });

  it.each([
    [undefined, null, 400, "missing url"],
    ["", null, 400, "missing url"],
    [["http://a/", "http://b/"], null, 400, "exactly once"],
    [{ a: "b" }, null, 400, "exactly once"],
    ["not a url", null, 400, "invalid url"],
    ["/relative/path", null, 400, "invalid url"],
    ["file:///etc/passwd", null, 400, "scheme"],
    ["data:text/html,<script>alert(1)</script>", null, 400, "scheme"],
    ["javascript:alert(1)", null, 400, "scheme"],
    ["gopher://127.0.0.1:70/", null, 400, "scheme"],
    ["ftp://example.com/", null, 400, "scheme"],
    ["ws://example.com/", null, 400, "scheme"],
    ["http://user:pass@127.0.0.1/", null, 400, "credentials"],
    ["http://user@127.0.0.1/", null, 400, "credentials"],
    ["http://example.com/", allow, 403, "FETCH_ALLOW"],
    ["http://127.0.0.2/", allow, 403, "FETCH_ALLOW"],
    ["http://[::2]/", allow, 403, "FETCH_ALLOW"],
  ])("rejects %j", (raw, allowed, status, detail) => {
    const parsed = parseFetchUrl(raw, allowed);
    expect(isRejected(parsed) && parsed.status).toBe(status);
    expect(isRejected(parsed) && parsed.detail).toContain(detail);
  });
});

describe("parseRedirect", () => {
  const base = new URL("http://127.0.0.1:9/a/b");
  it.each([
    ["/c", "http://127.0.0.1:9/c"],
    ["c", "http://127.0.0.1:9/a/c"],
    ["https://127.0.0.1/", "https://127.0.0.1/"],
  ])("resolves %j against the answering URL", (location, href) => {
    const parsed = parseRedirect(location, base, null);
    expect(isRejected(parsed) ? parsed : parsed.value.href).toBe(href);
  });

  it.each([
    ["file:///etc/passwd", null, 502],
    ["http://u:p@127.0.0.1/", null, 502],
    ["http://[::1", null, 502],
    ["http://example.com/", new Set(["127.0.0.1"]), 403],
  ])("rejects %j", (location, allow, status) => {
    const parsed = parseRedirect(location, base, allow);
    expect(isRejected(parsed) && parsed.status).toBe(status);
  });
});

describe("parseContentLength", () => {
  it.each([
    ["0", 0],
    ["10485760", 10_485_760],
    [undefined, undefined],
    ["", undefined],
    ["-1", undefined],
    ["1e3", undefined],
    [["1", "2"], undefined],
  ])("%j → %j", (header, expected) => {
    expect(parseContentLength(header)).toBe(expected);
  });
});
