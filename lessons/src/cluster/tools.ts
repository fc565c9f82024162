// The programs the cluster tooling runs, how a learner gets each one, and the
// Istio releases the lessons are checked against.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { knownBadPatch, LESSON_RELEASES, RELEASES } from "../mesh/releases.ts";

/**
 * The Istio minors the lessons are checked with, oldest first (LESSON_RELEASES in
 * lessons/src/mesh/releases.ts: the newest three; upstream supports 1.30 and 1.31 on
 * 2026-11-25, 1.29 ended in October 2026), each with its latest patch known (what CI
 * installs), the Gateway API release it is built against and the Kubernetes minors it
 * supports. All support Kubernetes 1.32 to 1.35.
 */
export const ISTIO_RELEASES = LESSON_RELEASES.map((r) => ({
  minor: r.version,
  patch: r.patch,
  gatewayApi: r.gatewayApi,
  kubernetes: r.kubernetes,
}));

export const SUPPORTED_ISTIO = ISTIO_RELEASES.map((r) => r.minor).join(", ");
/** The lessons' rules use networking.istio.io/v1, served since Istio 1.22. */
export const MIN_ISTIO = "1.22";
const NEWEST = ISTIO_RELEASES.at(-1)!;

/** The Gateway API CRDs `cluster up` installs unless told otherwise: the ones the newest supported Istio is built against. */
export const DEFAULT_GATEWAY_API = NEWEST.gatewayApi;

/**
 * The Gateway API's channels: standard (GA and beta kinds) and experimental (standard plus
 * experimental kinds and fields, e.g. HTTPRoute retry and sessionPersistence, which the
 * standard CRDs silently prune). Experimental is the default: it holds everything a lesson may use.
 */
export const GATEWAY_API_CHANNELS = ["experimental", "standard"] as const;
export type GatewayApiChannel = (typeof GATEWAY_API_CHANNELS)[number];

export function gatewayApiCrdsUrl(version: string, channel: GatewayApiChannel): string {
  return `https://github.com/kubernetes-sigs/gateway-api/releases/download/${version}/${channel}-install.yaml`;
}

/** The command that installs a Gateway API CRD release (server-side: the bundle's largest CRDs exceed client-side apply's annotation limit). */
export function gatewayApiInstallCommand(
  version: string,
  channel: GatewayApiChannel = GATEWAY_API_CHANNELS[0],
): string {
  return `kubectl apply --server-side -f ${gatewayApiCrdsUrl(version, channel)}`;
}

/**
 * The Gateway API release an Istio version is built against (RELEASES; sigs.k8s.io/gateway-api
 * in its go.mod): for a minor we do not know, the nearest one's (older: the oldest modelled,
 * newer: the newest).
 */
export function gatewayApiFor(istioVersion: string): string {
  const minor = minorOf(istioVersion);
  if (!minor) return DEFAULT_GATEWAY_API;
  const known = RELEASES.find((r) => compareMinor(minorOf(r.version)!, minor) === 0);
  if (known) return known.gatewayApi;
  return compareMinor(minor, minorOf(RELEASES[0]!.version)!) < 0
    ? RELEASES[0]!.gatewayApi
    : RELEASES.at(-1)!.gatewayApi;
}

/** What to install when a Gateway API lesson meets a cluster without the CRDs: the exact command for each checked Istio release, the newest first. */
export function gatewayApiInstallHint(): string {
  const [newest, ...older] = [...ISTIO_RELEASES].reverse();
  return `install the Gateway API CRDs paired with your Istio: ${gatewayApiInstallCommand(newest!.gatewayApi)} (Istio ${newest!.minor}; ${older.map((r) => `${r.minor}: ${r.gatewayApi}`).join(", ")} in its place), or use npm run cluster -- up`;
}

/**
 * Since Gateway API v1.5.0 its CRD bundle installs a ValidatingAdmissionPolicy
 * (safe-upgrades.gateway.networking.k8s.io) that refuses CRDs of a release before v1.5.0: on a
 * cluster that once had v1.5+ installed, an older bundle cannot go back (kubernetes-sigs/gateway-api#4165).
 */
export const SAFE_UPGRADES_DENIAL =
  /safe-upgrades\.gateway\.networking\.k8s\.io.*(denied|prohibited)|Installing CRDs with version before/;

/**
 * kind release the docs and CI use. Its default node image, Kubernetes 1.35, is one every
 * checked Istio supports (1.29: 1.31 to 1.35; 1.30 and 1.31: 1.32 to 1.36); kind v0.32's
 * default, 1.36, is not supported by Istio 1.29.
 */
export const KIND_VERSION = "v0.31.0";
/** The node image `cluster up` and CI pin, by digest as kind's release notes ask (kind v0.31.0's default, as its `kind version` prints it). */
export const KIND_NODE_IMAGE =
  "kindest/node:v1.35.0@sha256:452d707d4862f52530247495d180205e029056831160e22870e37e3f6c1ac31f";

/** The Kubernetes minor of a kind node image: kindest/node:v1.35.0@sha256:... → "1.35". */
export function nodeImageKubernetes(image: string): string | undefined {
  const m = /:v(\d+)\.(\d+)\.\d+/.exec(image);
  return m ? `${m[1]}.${m[2]}` : undefined;
}

export type Tool = "kubectl" | "kind" | "istioctl" | "docker";

/** How to get each tool, one line. */
export const INSTALL_HINTS: Record<Tool, string> = {
  kubectl: "install it from https://kubernetes.io/docs/tasks/tools/ (it renders the overlays too)",
  kind: `install the ${KIND_VERSION} release binary (https://kind.sigs.k8s.io/docs/user/quick-start/#installing-from-release-binaries), or with Go: \`go install sigs.k8s.io/kind@${KIND_VERSION}\``,
  istioctl: `get it with \`curl -L https://istio.io/downloadIstio | ISTIO_VERSION=${NEWEST.patch} sh -\` and put istio-${NEWEST.patch}/bin on your PATH (the lessons are checked with Istio ${SUPPORTED_ISTIO} and need ${MIN_ISTIO} or newer)`,
  docker: "install Docker Engine (https://docs.docker.com/engine/install/) or Docker Desktop, and start it",
};

export function missingToolMessage(tool: Tool): string {
  return `${tool} is not installed or not on PATH: ${INSTALL_HINTS[tool]}`;
}

export function isTool(name: string): name is Tool {
  return Object.hasOwn(INSTALL_HINTS, name);
}

/** The path of an executable named `name` on `env.PATH`, or undefined. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** "1.31.2", "1.31-dev", "1.31.0-beta.1" → [1, 31]; undefined when it is no version. */
export function minorOf(version: string): [number, number] | undefined {
  const match = /^v?(\d+)\.(\d+)/.exec(version.trim());
  return match ? [Number(match[1]), Number(match[2])] : undefined;
}

function compareMinor(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || a[1] - b[1];
}

export type IstioSupport = { ok: false; message: string } | { ok: true; note?: string };

/** Whether an istioctl of this version can run the lessons, and what to tell the learner. */
export function istioSupport(version: string): IstioSupport {
  const minor = minorOf(version);
  if (!minor) return { ok: false, message: `cannot read istioctl's version from ${JSON.stringify(version)}` };
  if (compareMinor(minor, minorOf(MIN_ISTIO)!) < 0) {
    return {
      ok: false,
      message: `istioctl ${version} is too old: the lessons' rules use networking.istio.io/v1, served since Istio ${MIN_ISTIO}; ${INSTALL_HINTS.istioctl}`,
    };
  }
  if (compareMinor(minor, minorOf(ISTIO_RELEASES[0]!.minor)!) < 0) {
    return {
      ok: true,
      note: `Istio ${version} is older than the releases these lessons are checked with (${SUPPORTED_ISTIO}) and no longer supported upstream; the lessons should still work, but upgrade when you can`,
    };
  }
  if (compareMinor(minor, minorOf(NEWEST.minor)!) > 0) {
    return {
      ok: true,
      note: `Istio ${version} is newer than the releases these lessons were checked with (${SUPPORTED_ISTIO})`,
    };
  }
  const bad = knownBadPatch(version);
  if (bad)
    return {
      ok: true,
      note: `Istio ${bad.patch} is known to fail lesson ${bad.lesson}: ${bad.why} (${bad.source}); upgrade to ${bad.fixedIn} or newer`,
    };
  return { ok: true };
}
