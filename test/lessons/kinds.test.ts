// What the API server refuses before a rule is read, named as the real mistake: a kind the
// API group has not (with the nearest real one), a name its rules for that kind do not allow.
import { describe, expect, it } from "vitest";
import { meshConfig } from "#lessons/mesh/config.ts";
import { nameProblem, unknownKind } from "#lessons/mesh/kinds.ts";
import { RuleError } from "#lessons/mesh/model.ts";
import { lessonRender } from "../renders.ts";

describe("unknownKind", () => {
  it.each([
    ["VirtualSevice", "networking.istio.io", "VirtualService"],
    ["DestinatonRule", "networking.istio.io", "DestinationRule"],
    ["virtualservice", "networking.istio.io", "VirtualService"],
    ["HttpRoute", "gateway.networking.k8s.io", "HTTPRoute"],
    ["HTTPRoutes", "gateway.networking.k8s.io", "HTTPRoute"],
  ])("%s in %s: did you mean %s?", (kind, group, nearest) => {
    expect(unknownKind(kind, group)).toMatch(
      new RegExp(`^${kind} is no kind of ${group.replaceAll(".", "\\.")}: did you mean ${nearest}\\? \\(its kinds: `),
    );
  });

  it("a kind far from every real one gets no guess; a real kind, modelled or not, is no typo", () => {
    expect(unknownKind("Canary", "networking.istio.io")).toBe(
      "Canary is no kind of networking.istio.io (its kinds: DestinationRule, EnvoyFilter, Gateway, ProxyConfig, ServiceEntry, Sidecar, VirtualService, WorkloadEntry, WorkloadGroup)",
    );
    expect(unknownKind("EnvoyFilter", "networking.istio.io")).toBeUndefined();
    expect(unknownKind("GRPCRoute", "gateway.networking.k8s.io")).toBeUndefined();
  });

  it("in a render: VirtualSevice is refused as unknown, EnvoyFilter (real) still as not modelled", () => {
    const render = lessonRender("v2-default");
    const vs = render.find((o) => o.kind === "VirtualService")!;
    vs.kind = "VirtualSevice";
    expect(() => meshConfig(render)).toThrow(
      new RuleError(
        "VirtualSevice flaskapp-default-v2: VirtualSevice is no kind of networking.istio.io: did you mean VirtualService? (its kinds: DestinationRule, EnvoyFilter, Gateway, ProxyConfig, ServiceEntry, Sidecar, VirtualService, WorkloadEntry, WorkloadGroup)",
      ),
    );
    vs.kind = "EnvoyFilter";
    expect(() => meshConfig(render)).toThrow(
      "EnvoyFilter flaskapp-default-v2: EnvoyFilter is not modelled by the mesh preview",
    );
  });
});

describe("nameProblem: the API server's rules for metadata.name", () => {
  it.each([
    ["VirtualService", "flaskapp-default-v2", undefined],
    ["VirtualService", "flaskapp.v2", undefined],
    ["Deployment", "a".repeat(253), undefined],
    ["VirtualService", "Flask_App", "RFC 1123 subdomain"],
    ["Deployment", "flaskapp-", "RFC 1123 subdomain"],
    ["Deployment", "a".repeat(254), "RFC 1123 subdomain"],
    ["Service", "flaskapp", undefined],
    ["Service", "flaskapp.v2", "RFC 1035 label"],
    ["Service", "2flaskapp", "RFC 1035 label"],
    ["Service", "a".repeat(64), "RFC 1035 label"],
    ["Namespace", "istio-lessons", undefined],
    ["Namespace", "istio.lessons", "RFC 1123 label"],
  ])("%s %s: %s", (kind, name, rule) => {
    const problem = nameProblem(kind, name);
    if (rule === undefined) expect(problem).toBeUndefined();
    else expect(problem).toContain(rule);
  });

  it("in a render: a VirtualService named Flask_App is refused before its fields are read", () => {
    const render = lessonRender("v2-default");
    render.find((o) => o.kind === "VirtualService")!.metadata.name = "Flask_App";
    expect(() => meshConfig(render)).toThrow(
      'VirtualService Flask_App: metadata.name "Flask_App": the API server takes only an RFC 1123 subdomain here',
    );
  });

  it("every lesson's render passes", () => {
    for (const kind of ["round-robin", "ingress-gateway", "gateway-api/ingress-gateway", "egress-service-entry"])
      expect(() => meshConfig(lessonRender(kind))).not.toThrow();
  });
});
