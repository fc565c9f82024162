// What the page may ask the view's server to send: every field bounded, each limit tested at its edge.
import { describe, expect, it } from "vitest";
import { InputError, parseSendRequest, SEND_LIMITS, sendTallyArgs } from "#lessons/view/input.ts";

const SERVICES = ["flaskapp", "istio-ingressgateway.istio-system"];
const valid = { service: "flaskapp", path: "/env/version", headers: [["lab", "canary"]], count: 100, concurrency: 4 };

function parse(fields: Record<string, unknown>) {
  return parseSendRequest({ ...valid, ...fields }, SERVICES);
}

describe("parseSendRequest", () => {
  it("a valid request, header names lower-cased, defaults for concurrency and grouping", () => {
    expect(
      parseSendRequest(
        { service: "flaskapp", path: "/env/version?x=1", headers: [["Lab", " canary "]], count: 1 },
        SERVICES,
      ),
    ).toEqual({
      service: "flaskapp",
      path: "/env/version?x=1",
      headers: [["lab", "canary"]],
      count: 1,
      concurrency: 1,
      by: "body",
    });
  });

  it.each([
    ["count at its maximum", { count: SEND_LIMITS.count.max }],
    ["concurrency at its maximum", { concurrency: SEND_LIMITS.concurrency.max }],
    ["a path at its maximum length", { path: `/${"a".repeat(SEND_LIMITS.pathChars - 1)}` }],
    ["the most headers", { headers: Array.from({ length: SEND_LIMITS.headers }, (_, i) => [`x-h${i}`, "v"]) }],
    ["a header value at its maximum length", { headers: [["x", "v".repeat(SEND_LIMITS.headerValueChars)]] }],
    ["grouping by status", { by: "status" }],
  ])("accepts %s", (_name, fields) => {
    expect(() => parse(fields)).not.toThrow();
  });

  it.each([
    ["count 0", { count: 0 }, "count: expected a whole number from 1 to 2000"],
    ["count over the maximum", { count: SEND_LIMITS.count.max + 1 }, "count: expected a whole number from 1 to 2000"],
    ["count as a string", { count: "100" }, "count: expected a whole number"],
    ["a fractional count", { count: 1.5 }, "count: expected a whole number"],
    [
      "concurrency over the maximum",
      { concurrency: SEND_LIMITS.concurrency.max + 1 },
      "concurrency: expected a whole number from 1 to 32",
    ],
    [
      "an unknown Service",
      { service: "evil.example" },
      "service: expected one of flaskapp, istio-ingressgateway.istio-system",
    ],
    ["a path without its leading /", { path: "env/version" }, "path: expected / followed by"],
    ["a path with a space", { path: "/env/ version" }, "path: expected / followed by"],
    ["a path with a newline", { path: "/env\nHost: x" }, "path: expected / followed by"],
    [
      "a path over its maximum length",
      { path: `/${"a".repeat(SEND_LIMITS.pathChars)}` },
      "path: expected / followed by up to 1023",
    ],
    ["an absolute URL as the path", { path: "http://evil.example/" }, "path: expected / followed by"],
    [
      "too many headers",
      { headers: Array.from({ length: SEND_LIMITS.headers + 1 }, (_, i) => [`x-h${i}`, "v"]) },
      "headers: expected a list of at most 16",
    ],
    ["a header name with a space", { headers: [["x y", "v"]] }, "headers[0]: the name must be"],
    ["an empty header name", { headers: [["", "v"]] }, "headers[0]: the name must be"],
    ["a header value with CR LF", { headers: [["x", "a\r\nHost: evil"]] }, "headers[0]: the value must be"],
    [
      "a header value over its maximum",
      { headers: [["x", "v".repeat(SEND_LIMITS.headerValueChars + 1)]] },
      "headers[0]: the value must be up to 512",
    ],
    ["a header as an object", { headers: [{ name: "x" }] }, "headers[0]: expected [name, value]"],
    ["an unknown grouping", { by: "header:x" }, 'by: expected "body" or "status"'],
  ])("refuses %s", (_name, fields, message) => {
    expect(() => parse(fields)).toThrow(InputError);
    expect(() => parse(fields)).toThrow(message);
  });

  it("refuses anything but an object", () => {
    for (const body of [null, [], "x", 1])
      expect(() => parseSendRequest(body, SERVICES)).toThrow("expected a JSON object");
  });
});

describe("sendTallyArgs", () => {
  it("tally's arguments, the URL last as the sleep pod calls it (never a shell line)", () => {
    expect(
      sendTallyArgs({
        service: "flaskapp",
        path: "/env/version",
        headers: [["lab", "canary; rm -rf /"]],
        count: 10,
        concurrency: 2,
        by: "status",
      }),
    ).toEqual(["-n", "10", "-c", "2", "--by", "status", "-H", "lab: canary; rm -rf /", "http://flaskapp/env/version"]);
  });
});
