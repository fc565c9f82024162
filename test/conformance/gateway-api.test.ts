// The Gateway API conformance tests for what Istio implements, ported: the mesh
// (GAMMA) profile's HTTPRoute tests (conformance/tests/mesh) through a client's
// sidecar, and HTTPRoute core plus the extended features Istio claims through a
// Gateway of class istio. Each upstream manifest is rewritten as our own
// overlay for the Services of harness.ts; each request and what the client must
// observe come from the upstream test. GATEWAY_API_AT is the commit they were read at.
import { describe, expect, it } from "vitest";
import type { HeaderOperations } from "#lessons/mesh/model.ts";
import { applyHeaderOperations } from "#lessons/mesh/routing.ts";
import {
  CLIENT,
  configOf,
  GATEWAY_API_AT,
  gatewayRole,
  observe,
  send,
  type Observed,
  type Request,
} from "./harness.ts";

/** An HTTPRoute for the echo Service (GAMMA), with `rules` as YAML list items. */
const meshRoute = (name: string, rules: string, parent = "echo") => `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ group: "", kind: Service, name: ${parent}, port: ${parent === "echo" ? 80 : 8080} }]
  rules:
${rules}`;

/** The suite's shared Gateway: one HTTP listener on 80, routes from its namespace. */
const SAME_NAMESPACE = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: same-namespace }
spec:
  gatewayClassName: istio
  listeners: [{ name: http, port: 80, protocol: HTTP, allowedRoutes: { namespaces: { from: Same } } }]
---
`;

/** An HTTPRoute for the shared Gateway. */
const gatewayRoute = (
  name: string,
  rules: string,
  extra = "",
) => `${SAME_NAMESPACE}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ name: same-namespace }]
${extra}  rules:
${rules}`;

type Case = [Request, Observed];

/** Sends each request and compares what the client observes with the upstream expectation (only the fields given). */
function expectAll(config: ReturnType<typeof configOf>, cases: Case[], role = CLIENT): void {
  for (const [request, expected] of cases) {
    const seen = observe(send(config, request, role));
    const compared = Object.fromEntries(Object.keys(expected).map((k) => [k, seen[k as keyof Observed]]));
    if (expected.headers)
      compared.headers = Object.fromEntries(Object.keys(expected.headers).map((h) => [h, seen.headers?.[h]]));
    expect(compared, `${request.host ?? ""}${request.path ?? "/"}`).toEqual(expected);
  }
}

const to = (backend: string): Observed => ({ backend });
const status = (code: number): Observed => ({ status: code });

describe(`mesh profile (${GATEWAY_API_AT} conformance/tests/mesh)`, () => {
  it("MeshHTTPRouteMatching", () => {
    const config = configOf(
      meshRoute(
        "mesh-matching",
        `  - matches: [{ path: { type: PathPrefix, value: / } }, { headers: [{ name: version, value: one }] }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: version, value: two }] }]
    backendRefs: [{ name: echo-v2, port: 8080 }]`,
      ),
    );
    expectAll(config, [
      [{ path: "/" }, to("echo-v1")],
      [{ path: "/example" }, to("echo-v1")],
      [{ path: "/", headers: { Version: "one" } }, to("echo-v1")],
      [{ path: "/v2" }, to("echo-v2")],
      [{ path: "/v2/example" }, to("echo-v2")],
      [{ path: "/", headers: { Version: "two" } }, to("echo-v2")],
      [{ path: "/v2/" }, to("echo-v2")],
      [{ path: "/v2example" }, to("echo-v1")],
      [{ path: "/foo/v2/example" }, to("echo-v1")],
    ]);
  });

  it("MeshHTTPRouteQueryParamMatching", () => {
    const config = configOf(
      meshRoute(
        "mesh-query-param-matching",
        `  - matches: [{ queryParams: [{ name: animal, value: whale }] }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ queryParams: [{ name: animal, value: dolphin }] }]
    backendRefs: [{ name: echo-v2, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /path1 }, queryParams: [{ name: animal, value: whale }] }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ headers: [{ name: version, value: one }], queryParams: [{ name: animal, value: whale }] }]
    backendRefs: [{ name: echo-v2, port: 8080 }]
  - matches:
    - { path: { type: PathPrefix, value: /path3 }, queryParams: [{ name: animal, value: shark }] }
    - { path: { type: PathPrefix, value: /path4 }, headers: [{ name: version, value: three }], queryParams: [{ name: animal, value: kraken }] }
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /path5 } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ queryParams: [{ name: animal, value: hydra }] }]
    backendRefs: [{ name: echo-v2, port: 8080 }]`,
      ),
    );
    expectAll(config, [
      [{ path: "/?animal=whale" }, to("echo-v1")],
      [{ path: "/?animal=dolphin" }, to("echo-v2")],
      [{ path: "/?animal=whale&otherparam=irrelevant" }, to("echo-v1")],
      [{ path: "/?animal=dolphin&color=yellow" }, to("echo-v2")],
      [{ path: "/?color=blue" }, status(404)],
      [{ path: "/?animal=dog" }, status(404)],
      [{ path: "/?animal=whaledolphin" }, status(404)],
      [{ path: "/" }, status(404)],
      [{ path: "/path1?animal=whale" }, to("echo-v1")],
      [{ path: "/?animal=whale", headers: { version: "one" } }, to("echo-v2")],
      [{ path: "/path3?animal=shark" }, to("echo-v1")],
      [{ path: "/path4?animal=kraken", headers: { version: "three" } }, to("echo-v1")],
      [{ path: "/?animal=shark" }, status(404)],
      [{ path: "/path4?animal=kraken" }, status(404)],
      [{ path: "/path5?animal=hydra" }, to("echo-v1")],
    ]);
  });

  it("MeshHTTPRouteSchemeRedirect", () => {
    const redirect = (
      prefix: string,
      settings: string,
    ) => `  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters: [{ type: RequestRedirect, requestRedirect: ${settings} }]`;
    const config = configOf(
      meshRoute(
        "mesh-redirect-scheme",
        [
          redirect("/scheme", "{ scheme: https }"),
          redirect("/scheme-and-host", "{ hostname: example.org, scheme: https }"),
          redirect("/scheme-and-status", "{ scheme: https, statusCode: 301 }"),
          redirect("/scheme-and-host-and-status", "{ scheme: https, statusCode: 302, hostname: example.org }"),
        ].join("\n"),
      ),
    );
    expectAll(config, [
      [{ path: "/scheme" }, { status: 302, location: "https://echo/scheme" }],
      [{ path: "/scheme-and-host" }, { status: 302, location: "https://example.org/scheme-and-host" }],
      [{ path: "/scheme-and-status" }, { status: 301, location: "https://echo/scheme-and-status" }],
      [
        { path: "/scheme-and-host-and-status" },
        { status: 302, location: "https://example.org/scheme-and-host-and-status" },
      ],
    ]);
  });

  it("MeshHTTPRouteRedirectPort", () => {
    const redirect = (
      prefix: string,
      settings: string,
    ) => `  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters: [{ type: RequestRedirect, requestRedirect: ${settings} }]`;
    const config = configOf(
      meshRoute(
        "mesh-redirect-port",
        [
          redirect("/port", "{ port: 8083 }"),
          redirect("/port-and-host", "{ hostname: example.org, port: 8083 }"),
          redirect("/port-and-status", "{ port: 8083, statusCode: 301 }"),
          redirect("/port-and-host-and-status", "{ port: 8083, hostname: example.org, statusCode: 302 }"),
        ].join("\n"),
      ),
    );
    expectAll(config, [
      [{ path: "/port" }, { status: 302, location: "http://echo:8083/port" }],
      [{ path: "/port-and-host" }, { status: 302, location: "http://example.org:8083/port-and-host" }],
      [{ path: "/port-and-status" }, { status: 301, location: "http://echo:8083/port-and-status" }],
      [
        { path: "/port-and-host-and-status" },
        { status: 302, location: "http://example.org:8083/port-and-host-and-status" },
      ],
    ]);
  });

  it("MeshHTTPRouteRedirectHostAndStatus", () => {
    const config = configOf(
      meshRoute(
        "mesh-redirect-host-and-status",
        `  - matches: [{ path: { type: PathPrefix, value: /hostname-redirect } }]
    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org } }]
  - matches: [{ path: { type: PathPrefix, value: /host-and-status } }]
    filters: [{ type: RequestRedirect, requestRedirect: { statusCode: 301, hostname: example.org } }]`,
      ),
    );
    expectAll(config, [
      [{ path: "/hostname-redirect" }, { status: 302, location: "http://example.org/hostname-redirect" }],
      [{ path: "/host-and-status" }, { status: 301, location: "http://example.org/host-and-status" }],
    ]);
  });

  it("MeshHTTPRouteRedirectPath", () => {
    const redirect = (
      prefix: string,
      settings: string,
    ) => `  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters: [{ type: RequestRedirect, requestRedirect: ${settings} }]`;
    const config = configOf(
      meshRoute(
        "mesh-redirect-path",
        [
          redirect(
            "/original-prefix",
            "{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }",
          ),
          redirect("/full", "{ path: { type: ReplaceFullPath, replaceFullPath: /full-path-replacement } }"),
          redirect(
            "/path-and-host",
            "{ hostname: example.org, path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix } }",
          ),
          redirect(
            "/path-and-status",
            "{ path: { type: ReplacePrefixMatch, replacePrefixMatch: /replacement-prefix }, statusCode: 301 }",
          ),
          redirect(
            "/full-path-and-host",
            "{ hostname: example.org, path: { type: ReplaceFullPath, replaceFullPath: /replacement-full } }",
          ),
          redirect(
            "/full-path-and-status",
            "{ path: { type: ReplaceFullPath, replaceFullPath: /replacement-full }, statusCode: 301 }",
          ),
        ].join("\n"),
      ),
    );
    expectAll(config, [
      [{ path: "/original-prefix/lemon" }, { status: 302, location: "http://echo/replacement-prefix/lemon" }],
      [{ path: "/full/path/original" }, { status: 302, location: "http://echo/full-path-replacement" }],
      [{ path: "/path-and-host" }, { status: 302, location: "http://example.org/replacement-prefix" }],
      [{ path: "/path-and-status" }, { status: 301, location: "http://echo/replacement-prefix" }],
      [{ path: "/full-path-and-host" }, { status: 302, location: "http://example.org/replacement-full" }],
      [{ path: "/full-path-and-status" }, { status: 301, location: "http://echo/replacement-full" }],
    ]);
  });

  it.each([
    ["MeshHTTPRoute303Redirect", 303],
    ["MeshHTTPRoute307Redirect", 307],
    ["MeshHTTPRoute308Redirect", 308],
  ])("%s", (_name, code) => {
    const config = configOf(
      meshRoute(
        "mesh-redirect",
        `  - matches: [{ path: { type: PathPrefix, value: /redirect } }]
    filters: [{ type: RequestRedirect, requestRedirect: { hostname: example.org, statusCode: ${code} } }]`,
      ),
    );
    expectAll(config, [[{ path: "/redirect" }, { status: code, location: "http://example.org/redirect" }]]);
  });

  it("MeshHTTPRouteRequestHeaderModifier", () => {
    const config = configOf(
      meshRoute(
        "mesh-request-header-modifier",
        `  - matches: [{ path: { type: PathPrefix, value: /set } }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Header-Set, value: set-overwrites-values }] } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /add } }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { add: [{ name: X-Header-Add, value: add-appends-values }] } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /remove } }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { remove: [X-Header-Remove] } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /case-insensitivity } }]
    filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Header-Set, value: header-set }], add: [{ name: X-Header-Add, value: header-add }], remove: [X-Header-Remove] } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]`,
      ),
    );
    expectAll(config, [
      [
        { path: "/set", headers: { "Some-Other-Header": "val" } },
        { backend: "echo-v1", headers: { "some-other-header": "val", "x-header-set": "set-overwrites-values" } },
      ],
      [
        { path: "/set", headers: { "X-Header-Set": "some-other-value" } },
        { backend: "echo-v1", headers: { "x-header-set": "set-overwrites-values" } },
      ],
      [
        { path: "/add", headers: { "X-Header-Add": "some-other-value" } },
        { backend: "echo-v1", headers: { "x-header-add": "some-other-value, add-appends-values" } },
      ],
      [
        { path: "/remove", headers: { "X-Header-Remove": "val" } },
        { backend: "echo-v1", headers: { "x-header-remove": undefined } },
      ],
      [
        {
          path: "/case-insensitivity",
          headers: { "x-header-set": "original", "x-header-add": "original", "x-header-remove": "original" },
        },
        {
          backend: "echo-v1",
          headers: {
            "x-header-set": "header-set",
            "x-header-add": "original, header-add",
            "x-header-remove": undefined,
          },
        },
      ],
    ]);
  });

  it("MeshHTTPRouteRewritePath", () => {
    const rewrite = (prefix: string, path: string) => `  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: ${path} } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]`;
    const config = configOf(
      meshRoute(
        "mesh-rewrite-path",
        [
          rewrite("/prefix/one", "{ type: ReplacePrefixMatch, replacePrefixMatch: /one }"),
          rewrite("/strip-prefix", "{ type: ReplacePrefixMatch, replacePrefixMatch: / }"),
          rewrite("/full/one", "{ type: ReplaceFullPath, replaceFullPath: /one }"),
        ].join("\n"),
      ),
    );
    expectAll(config, [
      [{ path: "/prefix/one/two" }, { backend: "echo-v1", path: "/one/two" }],
      [{ path: "/strip-prefix/three" }, { backend: "echo-v1", path: "/three" }],
      [{ path: "/strip-prefix" }, { backend: "echo-v1", path: "/" }],
      [{ path: "/full/one/two" }, { backend: "echo-v1", path: "/one" }],
    ]);
  });

  it("MeshHTTPRouteSimpleSameNamespace", () => {
    const config = configOf(meshRoute("mesh-simple", "  - backendRefs: [{ name: echo-v1, port: 8080 }]"));
    expectAll(config, [[{ path: "/" }, to("echo-v1")]]);
  });

  it("MeshHTTPRouteWeight: 70/30, each backend's share of the draws is its weight", () => {
    const config = configOf(
      meshRoute(
        "mesh-weighted-backends",
        "  - backendRefs: [{ name: echo-v1, port: 8080, weight: 70 }, { name: echo-v2, port: 8080, weight: 30 }]",
      ),
    );
    const v1 = Array.from(
      { length: 100 },
      (_, i) => observe(send(config, {}, CLIENT, [(i + 0.5) / 100])).backend,
    ).filter((b) => b === "echo-v1").length;
    expect(v1).toBe(70);
  });

  it("MeshHTTPRouteNamedRule", () => {
    const config = configOf(
      meshRoute(
        "mesh-http-named-rules",
        `  - name: named-rule
    matches: [{ path: { type: PathPrefix, value: /named } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /unnamed } }]
    backendRefs: [{ name: echo-v2, port: 8080 }]`,
      ),
    );
    expectAll(config, [
      [{ path: "/named" }, to("echo-v1")],
      [{ path: "/unnamed" }, to("echo-v2")],
    ]);
  });

  it("MeshSplit", () => {
    const config = configOf(
      meshRoute(
        "mesh-split",
        `  - matches: [{ path: { type: Exact, value: /v1 } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]
  - matches: [{ path: { type: Exact, value: /v2 } }]
    backendRefs: [{ name: echo-v2, port: 8080 }]`,
      ),
    );
    expectAll(config, [
      [{ path: "/v1" }, to("echo-v1")],
      [{ path: "/v2" }, to("echo-v2")],
    ]);
  });

  it("MeshPorts: a route for a Service applies to its own host; response headers from the rule", () => {
    const config = configOf(`${meshRoute(
      "mesh-split-v1",
      `  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: v1 }] } }]
    backendRefs: [{ name: echo-v1, port: 8080 }]`,
      "echo-v1",
    )}
---
${meshRoute(
  "mesh-split-v2",
  `  - filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: v2 }] } }]
    backendRefs: [{ name: echo-v2, port: 8080 }]`,
  "echo-v2",
)}`);
    for (const [host, backend] of [
      ["echo-v1", "echo-v1"],
      ["echo-v2", "echo-v2"],
    ] as const) {
      const plan = send(config, { host });
      expect(
        plan.kind === "forward" && [
          plan.target.host.split(".")[0],
          responseHeaders(plan.responseRules)["x-header-set"],
        ],
      ).toEqual([backend, backend.slice(-2)]);
    }
  });
});

/** The headers a client gets once the rules ran on an answer that had `initial`. */
function responseHeaders(
  rules: Array<HeaderOperations | undefined>,
  initial: Record<string, string> = {},
): Record<string, string> {
  const out = { ...initial };
  for (const ops of rules) applyHeaderOperations(out, ops);
  return out;
}

describe(`HTTPRoute through a Gateway (${GATEWAY_API_AT} conformance/tests)`, () => {
  const through = (yaml: string, cases: Case[], gateway = "same-namespace") => {
    const config = configOf(yaml);
    expectAll(config, cases, gatewayRole(config, gateway));
    return config;
  };

  it("HTTPRouteSimpleSameNamespace", () => {
    through(
      gatewayRoute("gateway-conformance-infra-test", "  - backendRefs: [{ name: infra-backend-v1, port: 8080 }]"),
      [[{ path: "/" }, to("infra-backend-v1")]],
    );
  });

  it("HTTPRouteMatching", () => {
    through(
      gatewayRoute(
        "matching",
        `  - matches: [{ path: { type: PathPrefix, value: / } }, { headers: [{ name: version, value: one }] }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: version, value: two }] }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]`,
      ),
      [
        [{ path: "/" }, to("infra-backend-v1")],
        [{ path: "/example" }, to("infra-backend-v1")],
        [{ path: "/", headers: { Version: "one" } }, to("infra-backend-v1")],
        [{ path: "/v2" }, to("infra-backend-v2")],
        [{ path: "/v2/example" }, to("infra-backend-v2")],
        [{ path: "/", headers: { Version: "two" } }, to("infra-backend-v2")],
        [{ path: "/v2/" }, to("infra-backend-v2")],
        [{ path: "/v2example" }, to("infra-backend-v1")],
        [{ path: "/foo/v2/example" }, to("infra-backend-v1")],
      ],
    );
  });

  it("HTTPRouteMatchingAcrossRoutes: two HTTPRoutes for one host are merged, then sorted by precedence", () => {
    const config = through(
      `${SAME_NAMESPACE}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: matching-part1 }
spec:
  parentRefs: [{ name: same-namespace }]
  hostnames: [example.com, example.net]
  rules:
  - matches: [{ path: { type: PathPrefix, value: / } }, { headers: [{ name: version, value: one }] }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: matching-part2 }
spec:
  parentRefs: [{ name: same-namespace }]
  hostnames: [example.com]
  rules:
  - matches: [{ path: { type: PathPrefix, value: /v2 } }, { headers: [{ name: version, value: two }] }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]`,
      [
        [{ host: "example.com", path: "/" }, to("infra-backend-v1")],
        [{ host: "example.com", path: "/example" }, to("infra-backend-v1")],
        [{ host: "example.net", path: "/example" }, to("infra-backend-v1")],
        [{ host: "example.com", path: "/example", headers: { Version: "one" } }, to("infra-backend-v1")],
        [{ host: "example.com", path: "/v2" }, to("infra-backend-v2")],
        [{ host: "example.net", path: "/v2" }, to("infra-backend-v1")],
        [{ host: "example.com", path: "/v2/example" }, to("infra-backend-v2")],
        [{ host: "example.com", path: "/", headers: { Version: "two" } }, to("infra-backend-v2")],
      ],
    );
    expect(config.warnings).toEqual([]);
  });

  it("HTTPRouteHostnameIntersection: every route meeting a listener's host shares its virtual host", () => {
    const listener = (name: string, hostname?: string) =>
      `{ name: ${name}, port: 80, protocol: HTTP${hostname ? `, hostname: "${hostname}"` : ""} }`;
    const route = (
      name: string,
      parent: string,
      hostnames: string[],
      prefix: string | undefined,
      backend: string,
    ) => `---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: ${name} }
spec:
  parentRefs: [{ name: ${parent} }]
  hostnames: [${hostnames.map((h) => `"${h}"`).join(", ")}]
  rules:
  - ${prefix ? `matches: [{ path: { type: PathPrefix, value: ${prefix} } }]\n    ` : ""}backendRefs: [{ name: ${backend}, port: 8080 }]`;
    const yaml = `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: httproute-hostname-intersection }
spec:
  gatewayClassName: istio
  listeners: [${listener("listener-1", "very.specific.com")}, ${listener("listener-2", "*.wildcard.io")}, ${listener("listener-3", "*.anotherwildcard.io")}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: httproute-hostname-intersection-all }
spec:
  gatewayClassName: istio
  listeners: [${listener("listener-1")}]
${route("specific-host-matches-listener-specific-host", "httproute-hostname-intersection", ["non.matching.com", "*.nonmatchingwildcard.io", "very.specific.com"], "/s1", "infra-backend-v1")}
${route("specific-host-matches-listener-wildcard-host", "httproute-hostname-intersection", ["non.matching.com", "wildcard.io", "foo.wildcard.io", "bar.wildcard.io", "foo.bar.wildcard.io"], "/s2", "infra-backend-v2")}
${route("wildcard-host-matches-listener-specific-host", "httproute-hostname-intersection", ["non.matching.com", "*.specific.com"], "/s3", "infra-backend-v3")}
${route("wildcard-host-matches-listener-wildcard-host", "httproute-hostname-intersection", ["*.anotherwildcard.io"], "/s4", "infra-backend-v1")}
${route("no-intersecting-hosts", "httproute-hostname-intersection", ["specific.but.wrong.com", "wildcard.io"], "/s5", "infra-backend-v2")}
${route("httproute-hostname-intersection-all", "httproute-hostname-intersection-all", ["first.com", "sub.first.com", "second.com", "sub.second.com"], undefined, "infra-backend-v2")}`;
    const config = through(
      yaml,
      [
        [{ host: "very.specific.com", path: "/s1" }, to("infra-backend-v1")],
        [{ host: "very.specific.com:1234", path: "/s1" }, to("infra-backend-v1")],
        [{ host: "non.matching.com", path: "/s1" }, status(404)],
        [{ host: "foo.nonmatchingwildcard.io", path: "/s1" }, status(404)],
        [{ host: "foo.wildcard.io", path: "/s1" }, status(404)],
        [{ host: "very.specific.com", path: "/non-matching-prefix" }, status(404)],
        [{ host: "foo.wildcard.io", path: "/s2" }, to("infra-backend-v2")],
        [{ host: "bar.wildcard.io", path: "/s2" }, to("infra-backend-v2")],
        [{ host: "foo.bar.wildcard.io", path: "/s2" }, to("infra-backend-v2")],
        [{ host: "non.matching.com", path: "/s2" }, status(404)],
        [{ host: "wildcard.io", path: "/s2" }, status(404)],
        [{ host: "very.specific.com", path: "/s2" }, status(404)],
        [{ host: "very.specific.com", path: "/s3" }, to("infra-backend-v3")],
        [{ host: "foo.specific.com", path: "/s3" }, status(404)],
        [{ host: "foo.anotherwildcard.io", path: "/s4" }, to("infra-backend-v1")],
        [{ host: "foo.bar.anotherwildcard.io", path: "/s4" }, to("infra-backend-v1")],
        [{ host: "anotherwildcard.io", path: "/s4" }, status(404)],
        [{ host: "specific.but.wrong.com", path: "/s5" }, status(404)],
        [{ host: "wildcard.io", path: "/s5" }, status(404)],
      ],
      "httproute-hostname-intersection",
    );
    expectAll(
      config,
      [
        [{ host: "first.com" }, to("infra-backend-v2")],
        [{ host: "sub.second.com" }, to("infra-backend-v2")],
        [{ host: "third.com" }, status(404)],
      ],
      gatewayRole(config, "httproute-hostname-intersection-all"),
    );
    expect(config.warnings).toEqual([
      expect.stringContaining(
        "HTTPRoute no-intersecting-hosts: spec.hostnames: not Accepted (NoMatchingListenerHostname)",
      ),
    ]);
  });

  it("HTTPRouteListenerHostnameMatching: sectionName picks the listener; the most specific host wins", () => {
    through(
      `apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: httproute-listener-hostname-matching }
spec:
  gatewayClassName: istio
  listeners:
  - { name: listener-1, port: 80, protocol: HTTP, hostname: bar.com }
  - { name: listener-2, port: 80, protocol: HTTP, hostname: foo.bar.com }
  - { name: listener-3, port: 80, protocol: HTTP, hostname: "*.bar.com" }
  - { name: listener-4, port: 80, protocol: HTTP, hostname: "*.foo.com" }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v1 }
spec:
  parentRefs: [{ name: httproute-listener-hostname-matching, sectionName: listener-1 }]
  rules: [{ backendRefs: [{ name: infra-backend-v1, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v2 }
spec:
  parentRefs: [{ name: httproute-listener-hostname-matching, sectionName: listener-2 }]
  rules: [{ backendRefs: [{ name: infra-backend-v2, port: 8080 }] }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: backend-v3 }
spec:
  parentRefs: [{ name: httproute-listener-hostname-matching, sectionName: listener-3 }, { name: httproute-listener-hostname-matching, sectionName: listener-4 }]
  rules: [{ backendRefs: [{ name: infra-backend-v3, port: 8080 }] }]`,
      [
        [{ host: "bar.com" }, to("infra-backend-v1")],
        [{ host: "foo.bar.com" }, to("infra-backend-v2")],
        [{ host: "baz.bar.com" }, to("infra-backend-v3")],
        [{ host: "boo.bar.com" }, to("infra-backend-v3")],
        [{ host: "multiple.prefixes.bar.com" }, to("infra-backend-v3")],
        [{ host: "multiple.prefixes.foo.com" }, to("infra-backend-v3")],
        [{ host: "foo.com" }, status(404)],
        [{ host: "no.matching.host" }, status(404)],
      ],
      "httproute-listener-hostname-matching",
    );
  });

  it("HTTPRouteHeaderMatching", () => {
    through(
      gatewayRoute(
        "header-matching",
        `  - matches: [{ headers: [{ name: version, value: one }] }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ headers: [{ name: version, value: two }] }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]
  - matches: [{ headers: [{ name: version, value: two }, { name: color, value: orange }] }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ headers: [{ name: color, value: blue }] }, { headers: [{ name: color, value: green }] }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ headers: [{ name: color, value: red }] }, { headers: [{ name: color, value: yellow }] }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]`,
      ),
      [
        [{ headers: { Version: "one" } }, to("infra-backend-v1")],
        [{ headers: { Version: "two" } }, to("infra-backend-v2")],
        [{ headers: { Version: "two", Color: "orange" } }, to("infra-backend-v1")],
        [{ headers: { Version: "two", Color: "blue" } }, to("infra-backend-v2")],
        [{ headers: { Color: "orange" } }, status(404)],
        [{ headers: { "Some-Other-Header": "one" } }, status(404)],
        [{ headers: { Color: "blue" } }, to("infra-backend-v1")],
        [{ headers: { Color: "green" } }, to("infra-backend-v1")],
        [{ headers: { Color: "red" } }, to("infra-backend-v2")],
        [{ headers: { Color: "yellow" } }, to("infra-backend-v2")],
        [{ headers: { Color: "purple" } }, status(404)],
      ],
    );
  });

  it("HTTPRouteExactPathMatching", () => {
    through(
      gatewayRoute(
        "exact-matching",
        `  - matches: [{ path: { type: Exact, value: /one } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ path: { type: Exact, value: /two } }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]`,
      ),
      [
        [{ path: "/one" }, to("infra-backend-v1")],
        [{ path: "/two" }, to("infra-backend-v2")],
        [{ path: "/" }, status(404)],
        [{ path: "/one/example" }, status(404)],
        [{ path: "/two/" }, status(404)],
        [{ path: "/Two" }, status(404)],
      ],
    );
  });

  it("HTTPRoutePathMatchOrder", () => {
    const rule = (
      type: string,
      value: string,
      backend: string,
    ) => `  - matches: [{ path: { type: ${type}, value: ${value} } }]
    backendRefs: [{ name: ${backend}, port: 8080 }]`;
    through(
      gatewayRoute(
        "path-matching-order",
        [
          rule("Exact", "/match", "infra-backend-v1"),
          rule("Exact", "/match/exact", "infra-backend-v2"),
          rule("Exact", "/match/exact/one", "infra-backend-v3"),
          rule("PathPrefix", "/match/", "infra-backend-v3"),
          rule("PathPrefix", "/match/prefix/", "infra-backend-v1"),
          rule("PathPrefix", "/match/prefix/one", "infra-backend-v2"),
        ].join("\n"),
      ),
      [
        [{ path: "/match/exact/one" }, to("infra-backend-v3")],
        [{ path: "/match/exact" }, to("infra-backend-v2")],
        [{ path: "/match" }, to("infra-backend-v1")],
        [{ path: "/match/prefix/one/any" }, to("infra-backend-v2")],
        [{ path: "/match/prefix/any" }, to("infra-backend-v1")],
        [{ path: "/match/any" }, to("infra-backend-v3")],
      ],
    );
  });

  it("HTTPRouteMethodMatching", () => {
    through(
      gatewayRoute(
        "method-matching",
        `  - matches: [{ method: POST }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ method: GET }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]`,
      ),
      [
        [{ method: "POST" }, to("infra-backend-v1")],
        [{ method: "GET" }, to("infra-backend-v2")],
        [{ method: "HEAD" }, status(404)],
      ],
    );
  });

  it("HTTPRouteQueryParamMatching", () => {
    through(
      gatewayRoute(
        "query-param-matching",
        `  - matches: [{ queryParams: [{ name: animal, value: whale }] }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ queryParams: [{ name: animal, value: dolphin }] }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]
  - matches: [{ queryParams: [{ name: animal, value: dolphin }, { name: color, value: blue }] }, { queryParams: [{ name: ANIMAL, value: Whale }] }]
    backendRefs: [{ name: infra-backend-v3, port: 8080 }]`,
      ),
      [
        [{ path: "/?animal=whale" }, to("infra-backend-v1")],
        [{ path: "/?animal=dolphin" }, to("infra-backend-v2")],
        [{ path: "/?animal=dolphin&color=blue" }, to("infra-backend-v3")],
        [{ path: "/?ANIMAL=Whale" }, to("infra-backend-v3")],
        [{ path: "/?animal=whale&otherparam=irrelevant" }, to("infra-backend-v1")],
        [{ path: "/?animal=dolphin&color=yellow" }, to("infra-backend-v2")],
        [{ path: "/?color=blue" }, status(404)],
        [{ path: "/?animal=dog" }, status(404)],
        [{ path: "/?animal=whaledolphin" }, status(404)],
        [{ path: "/" }, status(404)],
      ],
    );
  });

  it("HTTPRouteRequestMultipleMirrors", () => {
    const config = configOf(
      gatewayRoute(
        "request-multiple-mirrors",
        `  - matches: [{ path: { type: PathPrefix, value: /multi-mirror } }]
    filters:
    - { type: RequestMirror, requestMirror: { backendRef: { name: infra-backend-v2, port: 8080 } } }
    - { type: RequestMirror, requestMirror: { backendRef: { name: infra-backend-v3, port: 8080 } } }
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]`,
      ),
    );
    const plan = send(config, { path: "/multi-mirror" }, gatewayRole(config, "same-namespace"));
    expect(observe(plan).backend).toBe("infra-backend-v1");
    expect(plan.mirrors.map((m) => m.destination.host.split(".")[0])).toEqual(["infra-backend-v2", "infra-backend-v3"]);
  });

  it("HTTPRouteRequestPercentageMirror: percent 20 and fraction 25/50", () => {
    const config = configOf(
      gatewayRoute(
        "request-percentage-mirror",
        `  - matches: [{ path: { type: PathPrefix, value: /percent-mirror } }]
    filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: infra-backend-v2, port: 8080 }, percent: 20 } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /percent-mirror-fraction } }]
    filters: [{ type: RequestMirror, requestMirror: { backendRef: { name: infra-backend-v2, port: 8080 }, fraction: { numerator: 25, denominator: 50 } } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]`,
      ),
    );
    const role = gatewayRole(config, "same-namespace");
    const copies = (path: string) =>
      Array.from({ length: 100 }, (_, i) => send(config, { path }, role, [0, (i + 0.5) / 100]).mirrors.length).reduce(
        (a, b) => a + b,
        0,
      );
    expect([copies("/percent-mirror"), copies("/percent-mirror-fraction")]).toEqual([20, 50]);
  });

  it("HTTPRouteInvalidNonExistentBackendRef: 500, ResolvedRefs false (BackendNotFound)", () => {
    const config = through(
      gatewayRoute("invalid-nonexistent-backend-ref", "  - backendRefs: [{ name: nonexistent, port: 8080 }]"),
      [[{ path: "/" }, status(500)]],
    );
    expect(config.warnings).toEqual([
      expect.stringContaining("not ResolvedRefs (BackendNotFound: Service istio-lessons/nonexistent)"),
    ]);
  });

  it("HTTPRouteInvalidBackendRefUnknownKind: 500, ResolvedRefs false (InvalidKind)", () => {
    const config = through(
      gatewayRoute(
        "invalid-backend-ref-unknown-kind",
        "  - backendRefs: [{ group: unknownkind.example.com, kind: NonExistent, name: infra-backend-v1, port: 8080 }]",
      ),
      [[{ path: "/v2" }, status(500)]],
    );
    expect(config.warnings).toEqual([expect.stringContaining("not ResolvedRefs (InvalidKind")]);
  });

  it("HTTPRouteInvalidParentRefNotMatchingSectionName: not Accepted (NoMatchingParent), the render served", () => {
    const config = configOf(`${SAME_NAMESPACE}apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: httproute-listener-not-matching-section-name }
spec:
  parentRefs: [{ name: same-namespace, port: 80, sectionName: http1 }]
  rules: [{ backendRefs: [{ name: infra-backend-v1, kind: Service, port: 8080 }] }]`);
    expect(config.virtualHosts).toEqual([]);
    expect(config.warnings).toEqual([
      expect.stringContaining(
        "not Accepted (NoMatchingParent): Gateway istio-lessons/same-namespace has no listener named http1",
      ),
    ]);
  });

  it("HTTPRouteRedirectScheme and HTTPRouteRedirectPortAndScheme (listener on 80)", () => {
    const redirect = (
      prefix: string,
      settings: string,
    ) => `  - matches: [{ path: { type: PathPrefix, value: ${prefix} } }]
    filters: [{ type: RequestRedirect, requestRedirect: ${settings} }]`;
    through(
      gatewayRoute(
        "http-route-for-listener-on-port-80",
        [
          redirect("/scheme-nil-and-port-nil", "{ hostname: example.org }"),
          redirect("/scheme-nil-and-port-80", "{ hostname: example.org, port: 80 }"),
          redirect("/scheme-nil-and-port-8080", "{ port: 8080, hostname: example.org }"),
          redirect("/scheme-https-and-port-nil", "{ scheme: https, hostname: example.org }"),
          redirect("/scheme-https-and-port-443", "{ scheme: https, port: 443, hostname: example.org }"),
          redirect("/scheme-https-and-port-8443", "{ scheme: https, port: 8443, hostname: example.org }"),
        ].join("\n"),
      ),
      [
        [{ path: "/scheme-nil-and-port-nil" }, { status: 302, location: "http://example.org/scheme-nil-and-port-nil" }],
        [{ path: "/scheme-nil-and-port-80" }, { status: 302, location: "http://example.org/scheme-nil-and-port-80" }],
        [
          { path: "/scheme-nil-and-port-8080" },
          { status: 302, location: "http://example.org:8080/scheme-nil-and-port-8080" },
        ],
        [
          { path: "/scheme-https-and-port-nil" },
          { status: 302, location: "https://example.org/scheme-https-and-port-nil" },
        ],
        [
          { path: "/scheme-https-and-port-443" },
          { status: 302, location: "https://example.org/scheme-https-and-port-443" },
        ],
        [
          { path: "/scheme-https-and-port-8443" },
          { status: 302, location: "https://example.org:8443/scheme-https-and-port-8443" },
        ],
      ],
    );
  });

  it("HTTPRouteRewriteHost", () => {
    through(
      gatewayRoute(
        "rewrite-host",
        `  - matches: [{ path: { type: PathPrefix, value: /one } }]
    filters: [{ type: URLRewrite, urlRewrite: { hostname: one.example.org } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - filters: [{ type: URLRewrite, urlRewrite: { hostname: example.org } }]
    backendRefs: [{ name: infra-backend-v2, port: 8080 }]`,
        "  hostnames: [rewrite.example]\n",
      ),
      [
        [
          { host: "rewrite.example", path: "/one" },
          { backend: "infra-backend-v1", host: "one.example.org", path: "/one" },
        ],
        [
          { host: "rewrite.example", path: "/two" },
          { backend: "infra-backend-v2", host: "example.org", path: "/two" },
        ],
      ],
    );
  });

  it("HTTPRouteRewritePath", () => {
    through(
      gatewayRoute(
        "rewrite-path",
        `  - matches: [{ path: { type: PathPrefix, value: /prefix/one } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplacePrefixMatch, replacePrefixMatch: /one } } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /full/one } }]
    filters: [{ type: URLRewrite, urlRewrite: { path: { type: ReplaceFullPath, replaceFullPath: /one } } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]`,
      ),
      [
        [{ path: "/prefix/one/two" }, { backend: "infra-backend-v1", path: "/one/two" }],
        [{ path: "/full/one/two" }, { backend: "infra-backend-v1", path: "/one" }],
        [{ path: "/full/one/two?a=1" }, { backend: "infra-backend-v1", path: "/one?a=1" }],
      ],
    );
  });

  it("HTTPRouteResponseHeaderModifier", () => {
    const config = configOf(
      gatewayRoute(
        "response-header-modifier",
        `  - matches: [{ path: { type: PathPrefix, value: /set } }]
    filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { set: [{ name: X-Header-Set, value: set-overwrites-values }] } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /add } }]
    filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { add: [{ name: X-Header-Add, value: add-appends-values }] } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
  - matches: [{ path: { type: PathPrefix, value: /remove } }]
    filters: [{ type: ResponseHeaderModifier, responseHeaderModifier: { remove: [X-Header-Remove] } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]`,
      ),
    );
    const role = gatewayRole(config, "same-namespace");
    const answered = (path: string, fromBackend: Record<string, string>) => {
      const plan = send(config, { path }, role);
      return plan.kind === "forward" ? responseHeaders(plan.responseRules, fromBackend) : undefined;
    };
    expect(answered("/set", { "x-header-set": "some-other-value" })).toEqual({
      "x-header-set": "set-overwrites-values",
    });
    expect(answered("/add", { "x-header-add": "something" })).toEqual({
      "x-header-add": "something, add-appends-values",
    });
    expect(answered("/remove", { "x-header-remove": "val" })).toEqual({});
  });

  it("HTTPRouteRequestHeaderModifierBackendWeights: the rule's header operations reach every backend", () => {
    const config = configOf(
      gatewayRoute(
        "request-header-modifier-backend-weights",
        `  - filters: [{ type: RequestHeaderModifier, requestHeaderModifier: { set: [{ name: X-Header-Set, value: set-value }] } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080, weight: 50 }, { name: infra-backend-v2, port: 8080, weight: 50 }]`,
      ),
    );
    const role = gatewayRole(config, "same-namespace");
    for (const draw of [0.1, 0.9])
      expect(observe(send(config, {}, role, [draw])).headers?.["x-header-set"]).toBe("set-value");
  });

  it("HTTPRouteTimeoutRequest: 500ms, and 0s disables the timeout", () => {
    const config = configOf(
      gatewayRoute(
        "request-timeout",
        `  - matches: [{ path: { type: PathPrefix, value: /request-timeout } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    timeouts: { request: 500ms }
  - matches: [{ path: { type: PathPrefix, value: /disable-request-timeout } }]
    backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    timeouts: { request: "0s" }`,
      ),
    );
    const role = gatewayRole(config, "same-namespace");
    const timeout = (path: string) => {
      const plan = send(config, { path }, role);
      return plan.kind === "forward" ? plan.timeoutMs : "reply";
    };
    expect([timeout("/request-timeout"), timeout("/disable-request-timeout")]).toEqual([500, undefined]);
  });

  it("HTTPRouteTimeoutBackendRequest: backendRequest is the per-try timeout beside retry, the route timeout without", () => {
    const config = configOf(
      gatewayRoute(
        "backend-request-timeout",
        `  - backendRefs: [{ name: infra-backend-v1, port: 8080 }]
    timeouts: { request: 2s, backendRequest: 500ms }`,
      ),
    );
    const plan = send(config, {}, gatewayRole(config, "same-namespace"));
    expect(plan.kind === "forward" && plan.timeoutMs).toBe(500);
  });

  it("HTTPRouteOmittedBackendRefs / a rule without backends: 500", () => {
    through(gatewayRoute("omitted-backend-refs", "  - matches: [{ path: { type: PathPrefix, value: / } }]"), [
      [{ path: "/" }, status(500)],
    ]);
  });
});
