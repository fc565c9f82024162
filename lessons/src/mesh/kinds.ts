// What the API server would refuse before any rule is read: a kind its API group does not
// have (a typo: `VirtualSevice`), and a name its rules for that kind do not allow
// (`Flask_App`). The preview refuses both with the real mistake, not as "not modelled".

/**
 * Every kind of the API groups the lessons use, as the API server serves them: Istio's
 * networking.istio.io CRDs (istio/api, networking/v1alpha3 and v1beta1 protos) and the
 * Gateway API's standard and experimental CRDs (kubernetes-sigs/gateway-api, config/crd).
 */
export const API_GROUP_KINDS: Readonly<Record<string, readonly string[]>> = {
  "networking.istio.io": [
    "DestinationRule",
    "EnvoyFilter",
    "Gateway",
    "ProxyConfig",
    "ServiceEntry",
    "Sidecar",
    "VirtualService",
    "WorkloadEntry",
    "WorkloadGroup",
  ],
  "gateway.networking.k8s.io": [
    "BackendTLSPolicy",
    "GRPCRoute",
    "Gateway",
    "GatewayClass",
    "HTTPRoute",
    "ListenerSet",
    "ReferenceGrant",
    "TCPRoute",
    "TLSRoute",
    "UDPRoute",
  ],
};

/** Edit distance (insertions, deletions, substitutions), case-insensitive. */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++)
      row[j] = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[y.length]!;
}

/** For a kind `group` does not have: one line naming the mistake and the nearest real kind; undefined for a real kind. */
export function unknownKind(kind: string, group: string): string | undefined {
  const kinds = API_GROUP_KINDS[group];
  if (!kinds || kinds.includes(kind)) return undefined;
  const nearest = [...kinds].sort((a, b) => distance(kind, a) - distance(kind, b))[0]!;
  const close = distance(kind, nearest) <= Math.max(2, Math.floor(nearest.length / 3));
  return `${kind} is no kind of ${group}${close ? `: did you mean ${nearest}?` : ""} (its kinds: ${kinds.join(", ")})`;
}

/** RFC 1123 label: what a Namespace's name must be (k8s.io/apimachinery validation.IsDNS1123Label). */
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
/** RFC 1035 label: what a Service's name must be, as it becomes a DNS name (IsDNS1035Label). */
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The API server's rule for a kind's metadata.name: a Service's is an RFC 1035 label and a
 * Namespace's an RFC 1123 label (kubernetes pkg/apis/core/validation: ValidateServiceName,
 * ValidateNamespaceName); every other kind the lessons use, custom resources included
 * (apiextensions-apiserver customresource validator), takes an RFC 1123 subdomain.
 */
export function nameProblem(kind: string, name: unknown): string | undefined {
  if (typeof name !== "string" || name === "") return "metadata.name: expected a name";
  if (kind === "Service") {
    if (name.length > 63 || !DNS1035_LABEL.test(name))
      return `metadata.name "${name}": a Service's name must be an RFC 1035 label (lower-case letters, digits and '-', starting with a letter, at most 63 characters), as it becomes a DNS name`;
    return undefined;
  }
  if (kind === "Namespace") {
    if (name.length > 63 || !DNS1123_LABEL.test(name))
      return `metadata.name "${name}": a Namespace's name must be an RFC 1123 label (lower-case letters, digits and '-', at most 63 characters)`;
    return undefined;
  }
  if (name.length > 253 || !name.split(".").every((label) => DNS1123_LABEL.test(label))) {
    return `metadata.name "${name}": the API server takes only an RFC 1123 subdomain here (lower-case letters, digits, '-' and '.', at most 253 characters)`;
  }
  return undefined;
}
