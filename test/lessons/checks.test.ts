// checks.yaml: validation with errors naming file and field, and the one
// translation of a check into tally's command line, read back with tally's own parser.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseCommand } from "#sleep/args.ts";
import {
  ChecksError,
  countMirroredCopies,
  loadChecks,
  mirroredNeeded,
  parseChecks,
  tallyArgs,
  withLessonVars,
  type Check,
} from "#lessons/checks/checks.ts";
import { UsageError } from "#common/usage-error.ts";
import { checksFile, LESSONS, overlayDir, parseLessons } from "#lessons/catalog/lessons.ts";

const FILE = "k8s/overlays/x/checks.yaml";
const good = { name: "only v2", path: "/env/version", requests: 100, expect: ["v2=100"] };
const doc = (...checks: unknown[]) => ({ summary: "only v2 answers", checks });

describe("every lesson has valid checks", () => {
  it.each(LESSONS)("%s", async (lesson) => {
    const file = checksFile(overlayDir(lesson));
    expect(existsSync(file)).toBe(true);
    const { checks } = await loadChecks(file);
    expect(checks.length).toBeGreaterThan(0);
  });
});

describe("parseChecks", () => {
  it("fills defaults", () => {
    expect(parseChecks(doc(good), FILE).checks[0]).toEqual({
      ...good,
      service: "flaskapp",
      headers: {},
      concurrency: 1,
      expectLatency: [],
    });
  });

  it.each([
    ["requests at its lower limit", { requests: 1 }],
    ["requests at its upper limit", { requests: 10_000 }],
    ["concurrency at its upper limit", { concurrency: 100 }],
    ["another Service", { service: "istio-ingressgateway.istio-system" }],
    ["a path with a query", { path: "/fetch?url=http://flaskapp/env/version" }],
    [
      "every optional field",
      {
        method: "POST",
        headers: { lab: "canary" },
        by: "header:x-version",
        timeout: "500ms",
        expectLatency: ["p99<=2s"],
        mirroredTo: { deployment: "flaskapp-v2", atLeastPercent: 100 },
      },
    ],
  ])("accepts %s", (_name, fields) => {
    expect(parseChecks(doc({ ...good, ...fields }), FILE).checks[0]).toMatchObject(fields);
  });

  const bad: Array<[string, unknown, string]> = [
    ["not a mapping", ["x"], `${FILE}: (top level): expected a mapping`],
    ["no summary", { checks: [good] }, `${FILE}: summary:`],
    ["unknown top-level field", { ...doc(good), extra: 1 }, `${FILE}: extra: unknown field`],
    ["empty checks", doc(), `${FILE}: checks: expected a non-empty list`],
    ["no name", doc({ ...good, name: undefined }), `${FILE}: checks[0].name:`],
    ["path without /", doc({ ...good, path: "env/version" }), `${FILE}: checks[0].path:`],
    [
      "path naming another host",
      doc({ ...good, path: "//evil.example/env/version" }),
      `${FILE}: checks[0].path: expected a plain absolute path`,
    ],
    [
      "path with a backslash",
      doc({ ...good, path: "/\\evil.example/x" }),
      `${FILE}: checks[0].path: expected a plain absolute path`,
    ],
    [
      "path with a fragment",
      doc({ ...good, path: "/env/version#x" }),
      `${FILE}: checks[0].path: expected a plain absolute path`,
    ],
    [
      "service with a scheme",
      doc({ ...good, service: "http://flaskapp" }),
      `${FILE}: checks[0].service: expected a Service host name`,
    ],
    [
      "service with a port",
      doc({ ...good, service: "flaskapp:80" }),
      `${FILE}: checks[0].service: expected a Service host name`,
    ],
    ["method tally refuses", doc({ ...good, method: "CONNECT" }), `${FILE}: checks[0].method: CONNECT opens a tunnel`],
    [
      "timeout above tally's limit",
      doc({ ...good, timeout: "11m" }),
      `${FILE}: checks[0].timeout: must be from 1ms to 10m`,
    ],
    [
      "header tally manages",
      doc({ ...good, headers: { connection: "close" } }),
      `${FILE}: checks[0].headers.connection:`,
    ],
    [
      "requests 0",
      doc({ ...good, requests: 0 }),
      `${FILE}: checks[0].requests: expected an integer from 1 to 10000, got 0`,
    ],
    [
      "requests above the limit",
      doc({ ...good, requests: 10_001 }),
      `${FILE}: checks[0].requests: expected an integer from 1 to 10000`,
    ],
    ["requests not a number", doc({ ...good, requests: "200" }), `${FILE}: checks[0].requests:`],
    [
      "concurrency 101",
      doc({ ...good, concurrency: 101 }),
      `${FILE}: checks[0].concurrency: expected an integer from 1 to 100`,
    ],
    ["bad expect", doc({ ...good, expect: ["v2 is 100"] }), `${FILE}: checks[0].expect[0]:`],
    ["expect over 100", doc({ ...good, expect: ["v2=150"] }), `${FILE}: checks[0].expect[0]:`],
    ["tolerance with >=", doc({ ...good, expect: ["v2>=50±5"] }), `${FILE}: checks[0].expect[0]:`],
    ["bad expectLatency", doc({ ...good, expectLatency: ["p75<=1s"] }), `${FILE}: checks[0].expectLatency[0]:`],
    ["nothing expected", doc({ ...good, expect: [] }), `${FILE}: checks[0].expect: a check needs at least one`],
    ["bad by", doc({ ...good, by: "colour" }), `${FILE}: checks[0].by:`],
    [
      "bad header value",
      doc({ ...good, headers: { lab: 1 } }),
      `${FILE}: checks[0].headers.lab: expected a string value`,
    ],
    ["bad header name", doc({ ...good, headers: { "la b": "x" } }), `${FILE}: checks[0].headers.la b:`],
    ["bad method", doc({ ...good, method: "get it" }), `${FILE}: checks[0].method: "get it" is not an HTTP method`],
    ["bad timeout", doc({ ...good, timeout: "5" }), `${FILE}: checks[0].timeout:`],
    ["unknown check field", doc({ ...good, concurency: 2 }), `${FILE}: checks[0].concurency: unknown field`],
    [
      "mirror without deployment",
      doc({ ...good, mirroredTo: { atLeastPercent: 100 } }),
      `${FILE}: checks[0].mirroredTo.deployment:`,
    ],
    [
      "mirror percent 0",
      doc({ ...good, mirroredTo: { deployment: "flaskapp-v2", atLeastPercent: 0 } }),
      `${FILE}: checks[0].mirroredTo.atLeastPercent:`,
    ],
    ["duplicate names", doc(good, good), `${FILE}: checks[1].name: duplicate name`],
  ];
  it.each(bad)("%s", (_name, value, message) => {
    expect(() => parseChecks(value, FILE)).toThrow(ChecksError);
    expect(() => parseChecks(value, FILE)).toThrow(message);
  });

  it("a missing file and invalid YAML name the file", async () => {
    await expect(loadChecks("/nonexistent/checks.yaml")).rejects.toThrow(
      "/nonexistent/checks.yaml: cannot read: ENOENT",
    );
  });
});

describe("tallyArgs", () => {
  const full: Check = {
    name: "canary",
    service: "flaskapp",
    path: "/status/503:0.5,200:0.5?x=1",
    method: "POST",
    headers: { lab: "canary" },
    requests: 200,
    concurrency: 4,
    by: "status",
    timeout: "3s",
    expect: ["200>=85", "503=5±5"],
    expectLatency: ["min>=1s"],
    mirroredTo: { deployment: "flaskapp-v2", atLeastPercent: 100 },
  };

  it("gives tally exactly the check, as tally's own parser reads it", () => {
    const command = parseCommand(tallyArgs(full, "run-1"));
    if (command.kind !== "run") throw new Error("expected a run command");
    const o = command.options;
    expect(o.url.href).toBe("http://flaskapp/status/503:0.5,200:0.5?x=1");
    expect(o.method).toBe("POST");
    expect(o.headers).toEqual([
      ["lab", "canary"],
      ["x-request-id", "run-1"],
    ]);
    expect(o.amount).toEqual({ kind: "requests", count: 200 });
    expect(o.concurrency).toBe(4);
    expect(o.by).toEqual({ kind: "status" });
    expect(o.timeoutMs).toBe(3000);
    expect(o.expectations.map((e) => e.expr)).toEqual(["200>=85", "503=5±5", "min>=1s"]);
  });

  it("the URL, last, is the Service as the sleep pod names it", () => {
    expect(tallyArgs({ ...full, service: "istio-ingressgateway.istio-system", path: "/" }).at(-1)).toBe(
      "http://istio-ingressgateway.istio-system/",
    );
  });

  it("every lesson's checks make a valid tally command line", async () => {
    for (const lesson of LESSONS) {
      for (const check of (await loadChecks(checksFile(overlayDir(lesson)))).checks) {
        expect(parseCommand(tallyArgs(check, "run")).kind).toBe("run");
      }
    }
  });
});

describe("mirror counting", () => {
  it("counts every request line with the run id, and how many had the -shadow suffix", () => {
    const lines = [
      { msg: "request", requestId: "run", host: "flaskapp-shadow" },
      { msg: "request", requestId: "run", host: "flaskapp-shadow:80" },
      { msg: "request", requestId: "run", host: "flaskapp" },
      { msg: "request", requestId: "other", host: "flaskapp-shadow" },
      { msg: "started", requestId: "run", host: "flaskapp-shadow" },
      { msg: "request", requestId: "run" },
    ];
    expect(countMirroredCopies(lines, "run")).toEqual({ copies: 4, shadowHost: 2 });
  });

  it("needs the share of the requests sent, rounded up", () => {
    const check = { requests: 50, mirroredTo: { deployment: "d", atLeastPercent: 99 } } as Check;
    expect(mirroredNeeded(check)).toBe(50);
  });
});

describe("lesson names", () => {
  it("an unknown lesson is an error listing the lessons", () => {
    expect(() => parseLessons(["round-robin", "canary"])).toThrow(UsageError);
    expect(() => parseLessons(["canary"])).toThrow(`unknown lesson "canary"; lessons: ${LESSONS.join(", ")}`);
  });
});

describe("withLessonVars: ${NAME} in a check, from the render's ConfigMap lesson-vars", () => {
  const check: Check = {
    name: "outside",
    service: "flaskapp",
    path: "/fetch?url=http://${OUTSIDE_HOST}/get",
    headers: { "x-to": "${OUTSIDE_HOST}" },
    requests: 1,
    concurrency: 1,
    expect: ["${OUTSIDE_HOST}=100"],
    expectLatency: [],
  };
  const vars = (data: Record<string, string>) => [{ kind: "ConfigMap", metadata: { name: "lesson-vars" }, data }];

  it("fills the path, header values and expectations", () => {
    const [filled] = withLessonVars([check], vars({ OUTSIDE_HOST: "example.org" }));
    expect(filled).toMatchObject({
      path: "/fetch?url=http://example.org/get",
      headers: { "x-to": "example.org" },
      expect: ["example.org=100"],
    });
  });

  it.each([
    [
      "no ConfigMap",
      [],
      'check "outside": path: ${OUTSIDE_HOST} is not set: the lesson\'s render has no ConfigMap lesson-vars with OUTSIDE_HOST',
    ],
    [
      "a value that breaks the path",
      vars({ OUTSIDE_HOST: "a b" }),
      'check "outside": path "/fetch?url=http://a b/get" is not a plain absolute path once filled',
    ],
  ])("%s is an error naming the check and the field", (_name, objects, message) => {
    expect(() => withLessonVars([check], objects as never)).toThrow(ChecksError);
    expect(() => withLessonVars([check], objects as never)).toThrow(message);
  });

  it("leaves checks without variables as they are", () => {
    const plain = { ...check, path: "/env/version", headers: {}, expect: ["v1=100"] };
    expect(withLessonVars([plain], [])).toEqual([plain]);
  });
});
