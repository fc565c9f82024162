// The Kubernetes Gateway API as Istio implements it: HTTPRoutes for the mesh
// (a Service as parent, GAMMA) and for Gateways of class istio, read into the
// same mesh configuration as Istio's own API, the way istiod converts them into
// VirtualServices and Gateways (istio/istio pilot/pkg/config/kube/gateway:
// route_collections.go HTTPRouteCollection, conversion.go convertHTTPRoute and
// the create*/build* helpers it calls, buildListener) and then builds Envoy routes
// with "gateway semantics" (pilot/pkg/networking/core/route/route.go). The same
// in Istio 1.27 and 1.28; docs/gateway-api.md lists every field with its source.
//
// The API server fills the CRD defaults (a rule without matches matches PathPrefix
// /, weight 1, redirect 302, ...); a render has not been through one, so they are
// applied here. Every field present must be one the preview models: one the API
// does not have (Gateway API v1.6.1, experimental channel: a superset of the
// standard one) is reported as such, a real one the preview does not model as
// "not modelled", as for Istio's API.
import type { K8sObject } from "../core/kustomize.ts";
import { checkFields, type KindFields, type Shape } from "./fields.ts";
import { unknownKind } from "./kinds.ts";
import FIELDS from "./gateway-api-fields.json" with { type: "json" };
import {
  CLUSTER_DOMAIN,
  type GatewayDeployment,
  type HeaderOperations,
  type HeaderRules,
  type HttpRoute,
  type IngressGateway,
  type MeshService,
  type Mirror,
  type Redirect,
  type RequestMatch,
  type StringMatch,
  type UriMatch,
  type VirtualHost,
  type WeightedDestination,
} from "./model.ts";
import type { IstioRelease } from "./releases.ts";
import { fail, fullRegex, intField, objectNamespace, parseIstioDuration, retryPolicy, stringField } from "./values.ts";
import { intersectHost } from "./routing.ts";
import { isWaypointGateway } from "./ambient.ts";

export const GATEWAY_API_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_API_VERSION = `${GATEWAY_API_GROUP}/v1`;

/** The label istiod puts on the pods (and the Service selector) of the Deployment it runs for a Gateway. */
export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

/** The only GatewayClass the preview runs: istiod's own (controller istio.io/gateway-controller). */
export const GATEWAY_CLASS = "istio";

type Kind = "HTTPRoute" | "Gateway";

/** What the Gateway API readers need of the rest of the mesh: the Services backends name, the release's defaults. */
export interface ReaderContext {
  services: ReadonlyMap<string, MeshService>;
  release: IstioRelease;
}

/** What the Gateway API adds to the model. */
export interface GatewayApiPart {
  gateways: IngressGateway[];
  gatewayDeployments: GatewayDeployment[];
  virtualHosts: VirtualHost[];
  /** Route status istiod would report (not Accepted, not ResolvedRefs), the render served regardless. */
  warnings: string[];
}
const KINDS: readonly Kind[] = ["Gateway", "HTTPRoute"];

/** Where the field names come from: `kubernetes-sigs/gateway-api v1.6.1 config/crd/{experimental,standard}`. */
export const GATEWAY_API_FIELDS_SOURCE = FIELDS.source;
/** Every spec field of the experimental channel (which holds the standard one), from the CRDs (generate-gateway-api-fields.ts). */
export const GATEWAY_API_SCHEMA = FIELDS.kinds as unknown as Record<Kind, Shape>;
/** The spec fields of the standard channel alone; anything else needs the experimental CRDs on a cluster. */
export const GATEWAY_API_STANDARD = FIELDS.standard as unknown as Record<Kind, Shape>;

const HEADER_MODIFIER: Shape = {
  set: [{ name: true, value: true }],
  add: [{ name: true, value: true }],
  remove: [true],
};
const OBJECT_REF: Shape = { group: true, kind: true, name: true, namespace: true, port: true };
const PARENT_REF: Shape = { ...OBJECT_REF, sectionName: true };
const PATH_MODIFIER: Shape = { type: true, replaceFullPath: true, replacePrefixMatch: true };

/** The fields the preview implements; anything else present is an error. */
export const GATEWAY_API_MODELLED: Record<Kind, Shape> = {
  HTTPRoute: {
    parentRefs: [PARENT_REF],
    hostnames: [true],
    rules: [
      {
        name: true,
        matches: [
          {
            path: { type: true, value: true },
            headers: [{ type: true, name: true, value: true }],
            queryParams: [{ type: true, name: true, value: true }],
            method: true,
          },
        ],
        filters: [
          {
            type: true,
            requestHeaderModifier: HEADER_MODIFIER,
            responseHeaderModifier: HEADER_MODIFIER,
            requestRedirect: { scheme: true, hostname: true, path: PATH_MODIFIER, port: true, statusCode: true },
            urlRewrite: { hostname: true, path: PATH_MODIFIER },
            requestMirror: { backendRef: OBJECT_REF, percent: true, fraction: { numerator: true, denominator: true } },
          },
        ],
        // Istio accepts only the header modifiers on a backendRef (conversion.go buildHTTPDestination).
        backendRefs: [
          {
            ...OBJECT_REF,
            weight: true,
            filters: [{ type: true, requestHeaderModifier: HEADER_MODIFIER, responseHeaderModifier: HEADER_MODIFIER }],
          },
        ],
        timeouts: { request: true, backendRequest: true },
        retry: { attempts: true, codes: [true] },
      },
    ],
  },
  Gateway: {
    gatewayClassName: true,
    listeners: [
      { name: true, hostname: true, port: true, protocol: true, allowedRoutes: { namespaces: { from: true } } },
    ],
  },
};

function kindFields(kind: Kind): KindFields {
  return {
    api: `${GATEWAY_API_VERSION} ${kind} (Gateway API ${FIELDS.source.split(" ")[1]}, experimental channel)`,
    owner: "Gateway API",
    docs: "docs/gateway-api.md",
    schema: GATEWAY_API_SCHEMA[kind],
    modelled: GATEWAY_API_MODELLED[kind],
  };
}

// ---- values ------------------------------------------------------------------

const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;

/** A Gateway API Duration (GEP-2257: `1s`, `500ms`, `1m30s`), in milliseconds. */
export function gatewayDuration(value: unknown, where: string): number {
  if (typeof value !== "string" || !GATEWAY_DURATION.test(value))
    fail(where, `expected a Gateway API duration such as 1s, 500ms or 1m30s, got ${JSON.stringify(value)}`);
  // GEP-2257's grammar is a part of Go's, which Istio reads it with.
  return parseIstioDuration(value)!;
}

function list(value: unknown, where: string): any[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) fail(where, "expected a list");
  return value;
}

/** `value` when it is one of `allowed`, else an error naming the field; undefined takes `fallback`. */
function oneOf<T extends string>(value: unknown, where: string, allowed: readonly T[], fallback?: T): T {
  if (value === undefined && fallback !== undefined) return fallback;
  if (!allowed.includes(value as T)) fail(where, `expected one of ${allowed.join(", ")}, got ${JSON.stringify(value)}`);
  return value as T;
}

/** Header list to map as Istio's headerListToMap: names lower-cased, the first of equal names wins. */
function headerList(value: unknown, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  list(value, where).forEach((h, i) => {
    const name = stringField(h?.name, `${where}[${i}].name`).toLowerCase();
    const text = stringField(h?.value, `${where}[${i}].value`);
    // istiod rejects control characters from 1.28 (isValidHeaderValue); the preview does for every release.
    if ([...text].some((c) => (c < " " && c !== "\t") || c === "\x7f"))
      fail(`${where}[${i}].value`, "contains a control character");
    out[name] ??= text;
  });
  return out;
}

/** RequestHeaderModifier / ResponseHeaderModifier as Istio's createHeadersFilter. */
function headerModifier(value: any, where: string): HeaderOperations {
  return {
    set: headerList(value.set, `${where}.set`),
    add: headerList(value.add, `${where}.add`),
    remove: list(value.remove, `${where}.remove`).map((h, i) => stringField(h, `${where}.remove[${i}]`).toLowerCase()),
  };
}

const FILTER_FIELDS: Record<string, string> = {
  RequestHeaderModifier: "requestHeaderModifier",
  ResponseHeaderModifier: "responseHeaderModifier",
  RequestRedirect: "requestRedirect",
  URLRewrite: "urlRewrite",
  RequestMirror: "requestMirror",
};

/** The filter's type, checked against the one field of its settings that must accompany it (a CEL rule of the CRD). */
function filterType(filter: any, where: string, allowed: readonly string[], refused: string): string {
  const type = stringField(filter?.type, `${where}.type`);
  if (!allowed.includes(type)) fail(`${where}.type`, `${type}: ${refused} (modelled here: ${allowed.join(", ")})`);
  if (filter[FILTER_FIELDS[type]!] === undefined)
    fail(`${where}.${FILTER_FIELDS[type]}`, `missing: a ${type} filter must set it`);
  const others = Object.values(FILTER_FIELDS).filter((f) => f !== FILTER_FIELDS[type] && filter[f] !== undefined);
  if (others.length > 0)
    fail(
      `${where}.${others[0]}`,
      `set in a ${type} filter; a cluster rejects it (each filter carries only its own type's settings)`,
    );
  return type;
}

// ---- references ----------------------------------------------------------------

/** A reference to a Service in the render: group "" and kind Service (the defaults of a backendRef), with its port. */
function serviceRef(
  ref: any,
  where: string,
  routeNamespace: string,
  config: ReaderContext,
  portRequired: boolean,
): { service: MeshService; port?: number } {
  const group = ref?.group ?? "";
  const kind = ref?.kind ?? "Service";
  if (group !== "" || kind !== "Service")
    fail(
      where,
      `group ${JSON.stringify(group)} kind ${JSON.stringify(kind)}: the preview models references to Services (group "", kind Service)`,
    );
  const name = stringField(ref.name, `${where}.name`);
  // buildDestination: "the name of the Service must be used, not the hostname".
  if (name.includes(".")) fail(`${where}.name`, `${name}: the name of a Service, not a host name`);
  const namespace = ref.namespace === undefined ? routeNamespace : stringField(ref.namespace, `${where}.namespace`);
  const service = config.services.get(`${name}.${namespace}.svc.${CLUSTER_DOMAIN}`);
  if (service?.kind !== "kubernetes")
    fail(
      where,
      `Service ${namespace}/${name} is not in the render (on a cluster, istiod reports BackendNotFound and its requests get 500)`,
    );
  if (ref.port === undefined) {
    if (portRequired)
      fail(
        `${where}.port`,
        "missing: a reference to a Service needs its port (istiod: port is required in backendRef)",
      );
    return { service };
  }
  const port = intField(ref.port, `${where}.port`, 1, 65535);
  if (port !== service.port)
    fail(
      `${where}.port`,
      `Service ${namespace}/${name} has port ${service.port}, not ${port} (the preview models a Service's first port)`,
    );
  return { service, port };
}

/**
 * Why istiod could not resolve a backendRef (buildDestination's InvalidDestinationKind and
 * InvalidDestinationNotFound), or undefined when it names a Service of the render.
 */
function unresolvedBackend(ref: any, ctx: RuleContext): string | undefined {
  const group = ref?.group ?? "";
  const kind = ref?.kind ?? "Service";
  // Istio's own kinds (a ServiceEntry's Hostname) are real backends the preview does not model: refused by serviceRef.
  if (group === "networking.istio.io") return undefined;
  if (group !== "" || kind !== "Service")
    return `InvalidKind: group ${JSON.stringify(group)} kind ${JSON.stringify(kind)}`;
  const name = stringField(ref?.name, "backendRef.name");
  const namespace = ref.namespace === undefined ? ctx.namespace : String(ref.namespace);
  if (name.includes(".")) return undefined;
  const service = ctx.config.services.get(`${name}.${namespace}.svc.${CLUSTER_DOMAIN}`);
  return service && service.kind === "kubernetes" ? undefined : `BackendNotFound: Service ${namespace}/${name}`;
}

// ---- rules ---------------------------------------------------------------------

/** A path match as createURIMatch, then route.go's gateway semantics: a prefix other than `/` is path-separated. */
function uriMatch(path: any, where: string): UriMatch {
  const type = oneOf(path?.type, `${where}.type`, ["PathPrefix", "Exact", "RegularExpression"] as const, "PathPrefix");
  const value = path?.value === undefined ? "/" : stringField(path.value, `${where}.value`);
  if (type !== "RegularExpression" && !value.startsWith("/"))
    fail(`${where}.value`, `${JSON.stringify(value)}: a path starts with /`);
  if (type === "Exact") return { exact: value };
  if (type === "RegularExpression") return { regex: fullRegex(value, `${where}.value`) };
  // "When specified, a trailing `/` is ignored."
  const prefix = value === "/" ? value : value.replace(/\/$/, "");
  return prefix === "/" ? { prefix } : { pathSeparatedPrefix: prefix };
}

/** The CRD default of a rule's matches: everything under /. */
const DEFAULT_MATCH = { path: { type: "PathPrefix", value: "/" } };

function requestMatch(m: any, where: string): RequestMatch {
  const result: RequestMatch = { headers: {}, uri: uriMatch(m?.path ?? DEFAULT_MATCH.path, `${where}.path`) };
  list(m?.headers, `${where}.headers`).forEach((h, i) => {
    const at = `${where}.headers[${i}]`;
    const type = oneOf(h?.type, `${at}.type`, ["Exact", "RegularExpression"] as const, "Exact");
    const name = stringField(h?.name, `${at}.name`).toLowerCase();
    if (name in result.headers)
      fail(`${at}.name`, `${name} is matched twice; a cluster rejects it (header names are unique in a match)`);
    const value = stringField(h?.value, `${at}.value`);
    result.headers[name] = type === "Exact" ? { exact: value } : { regex: fullRegex(value, `${at}.value`) };
  });
  if (m?.method !== undefined) result.method = { exact: stringField(m.method, `${where}.method`) };
  const queryParams = list(m?.queryParams, `${where}.queryParams`);
  if (queryParams.length > 0) {
    // createQueryParamsMatch: Exact or RegularExpression on the parameter's value; names are case-sensitive.
    const params: Record<string, StringMatch> = {};
    queryParams.forEach((q, i) => {
      const at = `${where}.queryParams[${i}]`;
      const type = oneOf(q?.type, `${at}.type`, ["Exact", "RegularExpression"] as const, "Exact");
      const name = stringField(q?.name, `${at}.name`);
      if (name in params)
        fail(
          `${at}.name`,
          `${name} is matched twice; a cluster rejects it (query parameter names are unique in a match)`,
        );
      const value = stringField(q?.value, `${at}.value`);
      params[name] = type === "Exact" ? { exact: value } : { regex: fullRegex(value, `${at}.value`) };
    });
    result.queryParams = params;
  }
  return result;
}

function redirect(value: any, where: string, listenerPort: number): Redirect {
  // The CRD defaults statusCode to 302 (a VirtualService's redirect defaults to 301); Istio maps 301, 302, 303, 307, 308.
  const status = value.statusCode === undefined ? 302 : intField(value.statusCode, `${where}.statusCode`, 301, 308);
  if (![301, 302, 303, 307, 308].includes(status))
    fail(`${where}.statusCode`, `expected 301, 302, 303, 307 or 308, got ${status}`);
  // createRedirectFilter with no port: FROM_PROTOCOL_DEFAULT with a scheme, else FROM_REQUEST_PORT, which
  // ApplyRedirect sets to the port the route serves (the scheme's default port is then left out).
  const result: Redirect = { status };
  if (value.port !== undefined) result.port = intField(value.port, `${where}.port`, 1, 65535);
  else if (value.scheme === undefined) result.port = listenerPort;
  if (value.scheme !== undefined) result.scheme = oneOf(value.scheme, `${where}.scheme`, ["http", "https"] as const);
  if (value.hostname !== undefined) result.authority = stringField(value.hostname, `${where}.hostname`).toLowerCase();
  if (value.path !== undefined) {
    const type = oneOf(value.path.type, `${where}.path.type`, ["ReplaceFullPath", "ReplacePrefixMatch"] as const);
    // ReplacePrefixMatch: the magic %PREFIX()% uri Istio turns into Envoy's prefix_rewrite.
    if (type === "ReplaceFullPath")
      result.uri = stringField(value.path.replaceFullPath, `${where}.path.replaceFullPath`);
    else result.prefixRewrite = stringField(value.path.replacePrefixMatch, `${where}.path.replacePrefixMatch`);
  }
  return result;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** URLRewrite as createRewriteFilter, with applyHTTPRouteDestination's gateway-semantics case for a prefix replaced by `/`. */
function rewrite(value: any, where: string, match: RequestMatch | undefined): NonNullable<HttpRoute["rewrite"]> {
  const result: NonNullable<HttpRoute["rewrite"]> = {};
  if (value.hostname !== undefined) result.authority = stringField(value.hostname, `${where}.hostname`).toLowerCase();
  if (value.path !== undefined) {
    const type = oneOf(value.path.type, `${where}.path.type`, ["ReplaceFullPath", "ReplacePrefixMatch"] as const);
    if (type === "ReplaceFullPath") {
      result.uriRegex = {
        match: /\/.*/,
        rewrite: stringField(value.path.replaceFullPath, `${where}.path.replaceFullPath`),
      };
    } else {
      const uri = match?.uri;
      if (!uri || !("pathSeparatedPrefix" in uri || "prefix" in uri)) {
        fail(`${where}.path.replacePrefixMatch`, "needs a PathPrefix match in the same rule; a cluster rejects it");
      }
      const replacement =
        stringField(value.path.replacePrefixMatch, `${where}.path.replacePrefixMatch`).replace(/\/$/, "") || "/";
      if (replacement === "/") {
        const prefix = "pathSeparatedPrefix" in uri ? uri.pathSeparatedPrefix : "";
        result.uriRegex = { match: new RegExp(`^${escapeRegex(prefix)}(/?)(.*)`), rewrite: "/\\2" };
      } else {
        result.uri = replacement;
      }
    }
  }
  return result;
}

function mirror(value: any, where: string, namespace: string, config: ReaderContext): Mirror {
  const { service } = serviceRef(value.backendRef, `${where}.backendRef`, namespace, config, true);
  if (value.percent !== undefined && value.fraction !== undefined)
    fail(where, "set percent or fraction, not both; a cluster rejects both");
  let percent = 100;
  if (value.percent !== undefined) percent = intField(value.percent, `${where}.percent`, 0, 100);
  if (value.fraction !== undefined) {
    const numerator = intField(value.fraction.numerator, `${where}.fraction.numerator`, 0, 2 ** 31 - 1);
    const denominator =
      value.fraction.denominator === undefined
        ? 100
        : intField(value.fraction.denominator, `${where}.fraction.denominator`, 1, 2 ** 31 - 1);
    if (numerator > denominator)
      fail(`${where}.fraction`, `numerator ${numerator} is above denominator ${denominator}`);
    percent = (100 * numerator) / denominator;
  }
  return { destination: { host: service.host }, percent };
}

interface RuleContext {
  routeName: string;
  where: string;
  namespace: string;
  config: ReaderContext;
  /** The port the route serves: the parent Service's, or the Gateway's listeners'. */
  port: number;
  /** Where route status (a backend not resolved) is reported. */
  warnings: string[];
}

/** The retry policy: Istio's mesh default without `retry`; with it, istiod's conversion (always-on conditions plus the codes). */
function retries(
  rule: any,
  where: string,
  config: ReaderContext,
  backendRequestMs: number | undefined,
): HttpRoute["retries"] {
  if (rule.retry === undefined) return config.release.defaultRetry;
  const at = `${where}.retry`;
  const attempts =
    rule.retry.attempts === undefined ? 2 : intField(rule.retry.attempts, `${at}.attempts`, 0, 2 ** 31 - 1);
  // "Invalid to set this when there are no attempts": retryOn is emptied.
  if (attempts === 0) return { attempts: 0, retryOn: [], retriableStatusCodes: [] };
  const codes = list(rule.retry.codes, `${at}.codes`).map((c, i) => intField(c, `${at}.codes[${i}]`, 400, 599));
  const policy = retryPolicy({ attempts, retryOn: [...ISTIO_RETRY_ON, ...codes].join(",") }, at, config.release);
  if (backendRequestMs !== undefined) policy.perTryTimeoutMs = backendRequestMs;
  return policy;
}

/** What istiod always retries on once an HTTPRoute rule has `retry` ("Implementations SHOULD retry on connection errors"). */
export const ISTIO_RETRY_ON = ["connect-failure", "refused-stream", "unavailable", "cancelled"] as const;

/**
 * One HTTPRoute rule as convertHTTPRoute turns it into VirtualService routes: one
 * route per match (HTTPRouteCollection splits the rule), each with the rule's
 * filters, backends, timeouts and retries.
 */
function convertRule(rule: any, index: number, ctx: RuleContext): HttpRoute[] {
  const where = `${ctx.where}.rules[${index}]`;
  const matches: any[] = rule.matches === undefined ? [DEFAULT_MATCH] : list(rule.matches, `${where}.matches`);
  const requestMatches: Array<RequestMatch | undefined> =
    matches.length === 0 ? [undefined] : matches.map((m, i) => requestMatch(m, `${where}.matches[${i}]`));

  const seen = new Set<string>();
  const filters = list(rule.filters, `${where}.filters`).map((f, i) => {
    const at = `${where}.filters[${i}]`;
    const type = filterType(
      f,
      at,
      Object.keys(FILTER_FIELDS),
      "not modelled by the mesh preview (or no such filter type)",
    );
    if (type !== "RequestMirror" && seen.has(type)) fail(`${at}.type`, `a second ${type} filter; a cluster rejects it`);
    seen.add(type);
    return { type, at, settings: f[FILTER_FIELDS[type]!] };
  });
  if (seen.has("RequestRedirect") && seen.has("URLRewrite"))
    fail(`${where}.filters`, "RequestRedirect and URLRewrite in one rule; a cluster rejects it");

  const backends = list(rule.backendRefs, `${where}.backendRefs`);
  const route: WeightedDestination[] = backends.flatMap((b, i) => {
    const at = `${where}.backendRefs[${i}]`;
    const weight = b.weight === undefined ? 1 : intField(b.weight, `${at}.weight`, 0, 1_000_000);
    // buildHTTPDestination drops backends of weight 0.
    if (weight === 0) return [];
    const missing = unresolvedBackend(b, ctx);
    if (missing !== undefined) {
      // ResolvedRefs false: istiod keeps the backend's weight and its share of requests gets 500.
      ctx.warnings.push(`${at}: not ResolvedRefs (${missing}); its share of requests gets 500`);
      return [{ destination: { host: "" }, weight, unresolved: `backend not resolved: ${missing}` }];
    }
    const { service } = serviceRef(b, at, ctx.namespace, ctx.config, true);
    const destination: WeightedDestination = { destination: { host: service.host }, weight };
    const headers: HeaderRules = {};
    list(b.filters, `${at}.filters`).forEach((f, j) => {
      const fat = `${at}.filters[${j}]`;
      const type = filterType(
        f,
        fat,
        ["RequestHeaderModifier", "ResponseHeaderModifier"],
        "istiod accepts only the header modifiers on a backendRef (unsupported filter type)",
      );
      headers[type === "RequestHeaderModifier" ? "request" : "response"] = headerModifier(
        f[FILTER_FIELDS[type]!],
        `${fat}.${FILTER_FIELDS[type]}`,
      );
    });
    if (headers.request || headers.response) destination.headers = headers;
    return [destination];
  });
  const redirectFilter = filters.find((f) => f.type === "RequestRedirect");
  // convertHTTPRoute: no backend with a weight above 0 and no redirect is a direct response 500 (the spec's rule).
  const directResponse =
    route.length === 0 && !redirectFilter
      ? { status: 500, reason: "no backend with a weight above 0: 500" }
      : undefined;

  const timeouts = rule.timeouts ?? {};
  const requestMs = timeouts.request === undefined ? 0 : gatewayDuration(timeouts.request, `${where}.timeouts.request`);
  const backendMs =
    timeouts.backendRequest === undefined
      ? 0
      : gatewayDuration(timeouts.backendRequest, `${where}.timeouts.backendRequest`);
  // backendRequest is the per-try timeout with retry, else it replaces the route timeout; 0 means none.
  const timeoutMs = backendMs > 0 && rule.retry === undefined ? backendMs : requestMs;
  const retryPolicyOf = retries(rule, where, ctx.config, backendMs > 0 ? backendMs : undefined);

  const name = rule.name === undefined ? undefined : stringField(rule.name, `${where}.name`);
  return requestMatches.map((match, m) => {
    const result: HttpRoute = {
      source: `HTTPRoute ${ctx.routeName} rules[${index}]${matches.length > 1 ? ` matches[${m}]` : ""}${name ? ` "${name}"` : ""}`,
      match: match ? [match] : [],
      route,
      retries: retryPolicyOf,
    };
    if (name !== undefined) result.name = name;
    if (timeoutMs > 0) result.timeoutMs = timeoutMs;
    if (directResponse) result.directResponse = directResponse;
    for (const f of filters) {
      const at = `${f.at}.${FILTER_FIELDS[f.type]}`;
      switch (f.type) {
        case "RequestHeaderModifier":
        case "ResponseHeaderModifier":
          result.headers = {
            ...result.headers,
            [f.type === "RequestHeaderModifier" ? "request" : "response"]: headerModifier(f.settings, at),
          };
          break;
        case "RequestRedirect":
          result.redirect = redirect(f.settings, at, ctx.port);
          break;
        case "URLRewrite":
          result.rewrite = rewrite(f.settings, at, match);
          break;
        case "RequestMirror":
          // Each RequestMirror filter is one entry of the VirtualService's mirrors, in order.
          result.mirrors = [...(result.mirrors ?? []), mirror(f.settings, at, ctx.namespace, ctx.config)];
          break;
      }
    }
    return result;
  });
}

function uriRank(uri: UriMatch | undefined): number {
  if (!uri) return -1;
  if ("exact" in uri) return 3;
  if ("regex" in uri) return 1;
  return 2;
}

function uriLength(uri: UriMatch | undefined): number {
  if (!uri) return 0;
  if ("exact" in uri) return uri.exact.length;
  if ("prefix" in uri) return uri.prefix.length;
  if ("pathSeparatedPrefix" in uri) return uri.pathSeparatedPrefix.length;
  // The expression as written: fullRegex wrapped it in ^(?:...)$.
  return "regex" in uri ? uri.regex.source.length - "^(?:)$".length : 0;
}

/**
 * Istio's sortHTTPRoutes: the Gateway API's precedence instead of the order written.
 * A route with no match goes last; then Exact before prefix before regex, the longer
 * path first, a method match first, more header matches first, then more query
 * parameter matches first (stable otherwise).
 */
export function sortGatewayRoutes(routes: HttpRoute[]): HttpRoute[] {
  const before = (a: HttpRoute, b: HttpRoute): boolean => {
    if (a.match.length === 0) return false;
    if (b.match.length === 0) return true;
    const m1 = a.match[0]!;
    const m2 = b.match[0]!;
    if (uriRank(m1.uri) !== uriRank(m2.uri)) return uriRank(m1.uri) > uriRank(m2.uri);
    if (uriLength(m1.uri) !== uriLength(m2.uri)) return uriLength(m1.uri) > uriLength(m2.uri);
    if ((m1.method === undefined) !== (m2.method === undefined)) return m1.method !== undefined;
    const headers1 = Object.keys(m1.headers).length;
    const headers2 = Object.keys(m2.headers).length;
    if (headers1 !== headers2) return headers1 > headers2;
    return Object.keys(m1.queryParams ?? {}).length > Object.keys(m2.queryParams ?? {}).length;
  };
  return [...routes].sort((a, b) => (before(a, b) ? -1 : before(b, a) ? 1 : 0));
}

// ---- Gateways ------------------------------------------------------------------

interface Listener {
  name: string;
  port: number;
  hostname?: string;
  allowAllNamespaces: boolean;
}

interface GatewayInfo {
  /** `namespace/name`, as VirtualHost.gateways names it. */
  id: string;
  namespace: string;
  listeners: Listener[];
  /** The Istio Gateway it becomes (buildListener). */
  gateway: IngressGateway;
  /** The Deployment and Service istiod runs for it. */
  deployment: GatewayDeployment;
}

/** A Gateway of class istio: an Istio Gateway for its listeners (buildListener) and the `<name>-istio` Deployment and Service istiod runs for it. */
function gateway(obj: K8sObject): GatewayInfo {
  const where = `Gateway ${obj.metadata.name}: spec`;
  const namespace = objectNamespace(obj);
  const className = stringField(obj.spec?.gatewayClassName, `${where}.gatewayClassName`);
  if (className !== GATEWAY_CLASS)
    fail(
      `${where}.gatewayClassName`,
      `${className}: the preview runs only class ${GATEWAY_CLASS} (istiod's gateway controller)`,
    );
  const listeners: Listener[] = list(obj.spec?.listeners, `${where}.listeners`).map((l, i) => {
    const at = `${where}.listeners[${i}]`;
    const protocol = stringField(l?.protocol, `${at}.protocol`);
    if (protocol !== "HTTP") fail(`${at}.protocol`, `${protocol}: only HTTP listeners are modelled`);
    const from = oneOf(
      l.allowedRoutes?.namespaces?.from,
      `${at}.allowedRoutes.namespaces.from`,
      ["Same", "All"] as const,
      "Same",
    );
    const listener: Listener = {
      name: stringField(l.name, `${at}.name`),
      port: intField(l.port, `${at}.port`, 1, 65535),
      allowAllNamespaces: from === "All",
    };
    if (l.hostname !== undefined) listener.hostname = stringField(l.hostname, `${at}.hostname`).toLowerCase();
    return listener;
  });
  if (listeners.length === 0) fail(`${where}.listeners`, "expected at least one listener");
  const ports = [...new Set(listeners.map((l) => l.port))];
  if (ports.length > 1)
    fail(
      `${where}.listeners`,
      `ports ${ports.join(", ")}: the preview models a Gateway whose listeners share one port`,
    );
  const labels = { [GATEWAY_NAME_LABEL]: obj.metadata.name };
  const id = `${namespace}/${obj.metadata.name}`;
  return {
    id,
    namespace,
    listeners,
    gateway: {
      name: id,
      selector: labels,
      servers: listeners.map((l) => ({ port: l.port, hosts: [l.hostname ?? "*"] })),
    },
    deployment: { name: `${obj.metadata.name}-${GATEWAY_CLASS}`, namespace, labels, port: ports[0]! },
  };
}

// ---- HTTPRoutes ----------------------------------------------------------------

interface Attachment {
  key: string;
  routeName: string;
  virtualHost: Omit<VirtualHost, "source" | "routes">;
  routes: HttpRoute[];
}

/**
 * The parents of an HTTPRoute and the rules converted for each (the port they serve
 * differs), one attachment per parent and host, as istiod merges routes per host. A
 * parent the route cannot attach to is left out with its status in `warnings`, as
 * istiod leaves it unattached and serves everything else.
 */
function httpRoute(
  obj: K8sObject,
  config: ReaderContext,
  gateways: Map<string, GatewayInfo>,
  waypointNames: ReadonlySet<string>,
  warnings: string[],
): Attachment[] {
  const name = obj.metadata.name;
  const where = `HTTPRoute ${name}: spec`;
  const namespace = objectNamespace(obj);
  const hostnames = list(obj.spec?.hostnames, `${where}.hostnames`).map((h, i) =>
    stringField(h, `${where}.hostnames[${i}]`).toLowerCase(),
  );
  const parents = list(obj.spec?.parentRefs, `${where}.parentRefs`);
  if (parents.length === 0) fail(`${where}.parentRefs`, "expected at least one parent: a Service (mesh) or a Gateway");
  // The CRD's default for rules: one rule matching everything, with no backend (so Istio answers 500).
  const rules = obj.spec?.rules === undefined ? [{}] : list(obj.spec.rules, `${where}.rules`);
  const convert = (port: number) =>
    rules.flatMap((r, i) => convertRule(r ?? {}, i, { routeName: name, where, namespace, config, port, warnings }));
  const unattached = (at: string, reason: string, message: string): [] => {
    warnings.push(`${at}: not Accepted (${reason}): ${message}; istiod leaves the route unattached to this parent`);
    return [];
  };

  return parents.flatMap((p, i): Attachment[] => {
    const at = `${where}.parentRefs[${i}]`;
    const group = p?.group ?? GATEWAY_API_GROUP;
    const kind = p?.kind ?? "Gateway";
    const sectionName = p?.sectionName === undefined ? undefined : stringField(p.sectionName, `${at}.sectionName`);
    if (group === "" && kind === "Service") {
      // GAMMA: the route applies to every request for the Service, whatever the route's hostnames.
      const { service, port } = serviceRef(p, at, namespace, config, false);
      // A route in another namespace than its Service is a consumer route, for that namespace's clients only.
      if (service.namespace !== namespace)
        fail(
          `${at}.namespace`,
          `${service.namespace}: a consumer route (for the clients of namespace ${namespace} only) is not modelled; put the route in the Service's namespace`,
        );
      // A Service's sectionName names its port.
      if (sectionName !== undefined && sectionName !== service.portName)
        return unattached(
          at,
          "NoMatchingParent",
          `Service ${service.namespace}/${service.name} has no port named ${sectionName}`,
        );
      return [
        {
          key: `mesh ${service.host}`,
          routeName: name,
          virtualHost: { namespace, hosts: [service.host], gateways: ["mesh"] },
          routes: convert(port ?? service.port),
        },
      ];
    }
    if (group !== GATEWAY_API_GROUP || kind !== "Gateway")
      fail(
        at,
        `group ${JSON.stringify(group)} kind ${JSON.stringify(kind)}: the preview models a Service (group "") or a Gateway as parent`,
      );
    const gwNamespace = p.namespace === undefined ? namespace : stringField(p.namespace, `${at}.namespace`);
    const gw = gateways.get(`${gwNamespace}/${stringField(p.name, `${at}.name`)}`);
    if (!gw && waypointNames.has(`${gwNamespace}/${p.name}`))
      fail(
        `${at}.name`,
        `${p.name} is a waypoint: a route for every Service using it is not modelled; make the Service the parent (group "", kind Service)`,
      );
    if (!gw) fail(`${at}.name`, `Gateway ${gwNamespace}/${p.name} is not in the render`);
    const named = sectionName === undefined ? gw.listeners : gw.listeners.filter((l) => l.name === sectionName);
    if (named.length === 0)
      return unattached(at, "NoMatchingParent", `Gateway ${gw.id} has no listener named ${sectionName}`);
    const listeners = named.filter((l) => l.allowAllNamespaces || gw.namespace === namespace);
    if (listeners.length === 0)
      return unattached(
        at,
        "NotAllowedByListeners",
        `no listener of Gateway ${gw.id} allows routes from namespace ${namespace} (allowedRoutes.namespaces.from is Same)`,
      );
    const hosts = hostnames.length === 0 ? ["*"] : hostnames;
    // The hosts the route serves on this parent: each of its hostnames that meets a listener's, the more specific of the two.
    const served = [
      ...new Set(listeners.flatMap((l) => hosts.flatMap((h) => intersectHost(h, l.hostname ?? "*") ?? []))),
    ];
    if (served.length === 0) {
      return unattached(
        `${where}.hostnames`,
        "NoMatchingListenerHostname",
        `${hosts.join(", ")}: no listener of Gateway ${gw.id} accepts them (${listeners.map((l) => l.hostname ?? "*").join(", ")})`,
      );
    }
    for (const [j, rule] of rules.entries()) {
      for (const [k, b] of list(rule?.backendRefs, `${where}.rules[${j}].backendRefs`).entries()) {
        if (b?.namespace !== undefined && b.namespace !== namespace)
          fail(
            `${where}.rules[${j}].backendRefs[${k}].namespace`,
            "a backend in another namespace needs a ReferenceGrant, which the preview does not model",
          );
      }
    }
    const routes = convert(listeners[0]!.port);
    return served.map((host) => ({
      key: `${gw.id} ${host}`,
      routeName: name,
      virtualHost: { namespace, hosts: [host], gateways: [gw.id] },
      routes,
    }));
  });
}

/**
 * Adds the render's Gateway API objects to `config`: Gateways of class istio as
 * Istio Gateways with the Deployment istiod runs for each, HTTPRoutes as virtual
 * hosts with gateway semantics. HTTPRoutes for the same parent and hosts are
 * merged as mergeHTTPRoutes does (in the order istiod sorts them when they were
 * created together: by namespace and name), then sorted by precedence.
 */
export function gatewayApiConfig(objects: readonly K8sObject[], config: ReaderContext): GatewayApiPart {
  const ours = objects.filter((o) => o.apiVersion.startsWith(`${GATEWAY_API_GROUP}/`));
  for (const obj of ours) {
    const where = `${obj.kind} ${obj.metadata.name}`;
    const typo = unknownKind(obj.kind, GATEWAY_API_GROUP);
    if (typo) fail(where, typo);
    if (!KINDS.includes(obj.kind as Kind))
      fail(where, `${obj.kind} is not modelled by the mesh preview (it models ${KINDS.join(" and ")})`);
    if (obj.apiVersion !== GATEWAY_API_VERSION) fail(where, `apiVersion ${obj.apiVersion}: use ${GATEWAY_API_VERSION}`);
    checkFields(obj, kindFields(obj.kind as Kind));
  }
  const byName = (a: K8sObject, b: K8sObject) =>
    objectNamespace(a).localeCompare(objectNamespace(b)) || a.metadata.name.localeCompare(b.metadata.name);
  const gateways = new Map<string, GatewayInfo>();
  // Waypoints (class istio-waypoint) are read by ambient.ts: they run no listener of their own here.
  for (const obj of ours.filter((o) => o.kind === "Gateway" && !isWaypointGateway(o)).sort(byName)) {
    const gw = gateway(obj);
    gateways.set(gw.id, gw);
  }
  const waypointNames = new Set(ours.filter(isWaypointGateway).map((o) => `${objectNamespace(o)}/${o.metadata.name}`));
  const merged = new Map<string, Attachment[]>();
  const warnings: string[] = [];
  for (const obj of ours.filter((o) => o.kind === "HTTPRoute").sort(byName)) {
    for (const attachment of httpRoute(obj, config, gateways, waypointNames, warnings))
      merged.set(attachment.key, [...(merged.get(attachment.key) ?? []), attachment]);
  }
  return {
    warnings,
    gateways: [...gateways.values()].map((g) => g.gateway),
    gatewayDeployments: [...gateways.values()].map((g) => g.deployment),
    virtualHosts: [...merged.values()].map((attachments) => ({
      ...attachments[0]!.virtualHost,
      source: [...new Set(attachments.map((a) => `HTTPRoute ${a.routeName}`))].join(", "),
      routes: sortGatewayRoutes(attachments.flatMap((a) => a.routes)),
    })),
  };
}
