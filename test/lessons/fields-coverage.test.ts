// Every field Istio's and the Gateway API's schemas allow (the generated
// istio-fields.json and gateway-api-fields.json) is either modelled, and then
// owned by a row of docs/mesh-preview.md that says what the preview does with
// it, or refused by name when a rule sets it. A field cannot be read and then
// ignored unnoticed: adding one to the modelled shapes without a row fails here.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkFields, type Shape } from "#lessons/mesh/fields.ts";
import { GATEWAY_API_MODELLED, GATEWAY_API_SCHEMA } from "#lessons/mesh/gateway-api.ts";
import { ISTIO_SCHEMA, MODELLED_FIELDS } from "#lessons/mesh/istio-api.ts";
import { RuleError } from "#lessons/mesh/model.ts";

const reference = readFileSync(fileURLToPath(new URL("../../docs/mesh-preview.md", import.meta.url)), "utf8");
const rows = new Set([...reference.matchAll(/^\| `([a-z0-9-]+)` \|/gm)].map((m) => m[1]!));

/** The leaf paths of a shape, as segments: `[]` for a list's items, `*` for a map's values. */
function leaves(shape: Shape, path: string[] = []): string[][] {
  if (shape === true) return [path];
  if (Array.isArray(shape)) return leaves(shape[0]!, [...path, "[]"]);
  return Object.entries(shape).flatMap(([key, child]) => leaves(child, [...path, key]));
}

/** Whether `shape` allows the path (a leaf of the shape covers anything below it, as an open field does). */
function allows(shape: Shape, path: string[]): boolean {
  if (shape === true) return true;
  const [head, ...rest] = path;
  // The path names a field whose own shape goes deeper: the field exists.
  if (head === undefined) return true;
  if (Array.isArray(shape)) return head === "[]" && allows(shape[0]!, rest);
  if (head === "[]") return false;
  const child = shape[head] ?? shape["*"];
  return child !== undefined && allows(child, rest);
}

/** `http[].match[].headers.*` */
const dotted = (path: string[]) => path.join(".").replaceAll(".[]", "[]");

/** An object holding only the field at `path` (lists of one item, a map with the key `k`). */
function objectAt(path: string[]): unknown {
  const [head, ...rest] = path;
  if (head === undefined) return "x";
  if (head === "[]") return [objectAt(rest)];
  return { [head === "*" ? "k" : head]: objectAt(rest) };
}

/** The path as a refusal names it: `spec.http[0].corsPolicy`. */
const named = (path: string[]) =>
  `spec.${path
    .map((p) => (p === "*" ? "k" : p))
    .join(".")
    .replaceAll(".[]", "[0]")}`;

/** Which row owns a modelled field: the longest prefix listed. */
const OWNERS: Record<string, Record<string, string>> = {
  VirtualService: {
    hosts: "host-resolution",
    gateways: "gateway",
    "http[].name": "match",
    "http[].match[]": "match",
    "http[].match[].headers": "pseudo-header-match",
    "http[].match[].authority": "pseudo-header-match",
    "http[].match[].scheme": "pseudo-header-match",
    "http[].match[].withoutHeaders": "without-headers",
    "http[].match[].queryParams": "query-params",
    "http[].match[].sourceLabels": "source-labels",
    "http[].route[]": "weights-relative",
    "http[].route[].destination.subset": "missing-subset",
    "http[].route[].headers": "authority-header",
    "http[].redirect": "redirect",
    "http[].rewrite": "rewrite",
    "http[].headers": "authority-header",
    "http[].timeout": "route-timeout",
    "http[].retries": "retry-attempts",
    "http[].retries.retryRemoteLocalities": "retry-remote-localities",
    "http[].fault.delay": "fault-delay",
    "http[].fault.delay.percent": "deprecated-fields",
    "http[].fault.abort": "fault-abort",
    "http[].mirror": "mirror",
    "http[].mirrorPercentage": "mirror",
    "http[].mirrors[]": "mirror",
    "http[].mirrorPercent": "deprecated-fields",
  },
  DestinationRule: {
    host: "host-resolution",
    "subsets[]": "missing-subset",
    "subsets[].labels": "readiness",
    "trafficPolicy.loadBalancer.simple": "lb-simple",
    "trafficPolicy.loadBalancer.consistentHash": "lb-consistent-hash",
    "trafficPolicy.connectionPool": "circuit-breaker",
    "trafficPolicy.outlierDetection": "outlier-detection",
    "subsets[].trafficPolicy.loadBalancer.simple": "lb-simple",
    "subsets[].trafficPolicy.loadBalancer.consistentHash": "lb-consistent-hash",
    "subsets[].trafficPolicy.connectionPool": "circuit-breaker",
    "subsets[].trafficPolicy.outlierDetection": "outlier-detection",
  },
  Gateway: { selector: "gateway", servers: "gateway", gatewayClassName: "gw-gateway", listeners: "gw-gateway" },
  ServiceEntry: {
    hosts: "service-entry",
    ports: "service-entry",
    resolution: "service-entry",
    location: "service-entry",
  },
  Sidecar: { outboundTrafficPolicy: "outbound-policy" },
  HTTPRoute: {
    parentRefs: "gw-parent-service",
    "parentRefs[].sectionName": "gw-section-name",
    hostnames: "gw-merge",
    "rules[].name": "gw-match",
    "rules[].matches": "gw-match",
    "rules[].matches[].queryParams": "query-params",
    "rules[].filters[].type": "gw-headers",
    "rules[].filters[].requestHeaderModifier": "gw-headers",
    "rules[].filters[].responseHeaderModifier": "gw-headers",
    "rules[].filters[].requestRedirect": "gw-redirect",
    "rules[].filters[].urlRewrite": "gw-rewrite",
    "rules[].filters[].requestMirror": "gw-mirror",
    "rules[].backendRefs": "gw-backends",
    "rules[].backendRefs[].filters": "gw-headers",
    "rules[].timeouts": "gw-timeouts",
    "rules[].retry": "gw-retry",
  },
};

function owner(kind: string, path: string): string | undefined {
  const owners = OWNERS[kind] ?? {};
  const prefixes = Object.keys(owners).filter(
    (p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`),
  );
  const longest = prefixes.sort((a, b) => b.length - a.length)[0];
  return longest === undefined ? undefined : owners[longest];
}

const KINDS: Array<[string, string, Shape, Shape]> = [
  ...Object.entries(MODELLED_FIELDS).map(([kind, modelled]): [string, string, Shape, Shape] => [
    "networking.istio.io/v1",
    kind,
    ISTIO_SCHEMA[kind as keyof typeof ISTIO_SCHEMA],
    modelled,
  ]),
  ...Object.entries(GATEWAY_API_MODELLED).map(([kind, modelled]): [string, string, Shape, Shape] => [
    "gateway.networking.k8s.io/v1",
    kind,
    GATEWAY_API_SCHEMA[kind as keyof typeof GATEWAY_API_SCHEMA],
    modelled,
  ]),
];

describe.each(KINDS)(
  "[unknown-field] [gw-unknown-field] %s %s: every field of the schema",
  (api, kind, schema, modelled) => {
    const fields = { api: `${api} ${kind}`, owner: "test", docs: "docs/mesh-preview.md", schema, modelled };

    it("each modelled field is a field of the schema", () => {
      expect(
        leaves(modelled)
          .filter((path) => !allows(schema, path))
          .map(dotted),
      ).toEqual([]);
    });

    it("each modelled field has a row of docs/mesh-preview.md saying what the preview does with it", () => {
      const missing = leaves(modelled).flatMap((path) => {
        const row = owner(kind, dotted(path));
        return row !== undefined && rows.has(row) ? [] : [`${dotted(path)} (${row ?? "no owner"})`];
      });
      expect(missing).toEqual([]);
    });

    it("each field the schema has and the preview does not model is refused by name", () => {
      const silent = leaves(schema).filter((path) => {
        if (allows(modelled, path)) return false;
        const obj = { apiVersion: api, kind, metadata: { name: "walk" }, spec: objectAt(path) };
        try {
          checkFields(obj as never, fields);
          return true;
        } catch (error) {
          // Refused naming the field or the part of it the preview does not model.
          return !(
            error instanceof RuleError &&
            [...error.message.matchAll(/spec[^\s:,]*/g)].some((m) => named(path).startsWith(m[0]))
          );
        }
      });
      expect(silent.map(dotted)).toEqual([]);
    });
  },
);
