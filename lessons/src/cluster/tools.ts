// The programs the cluster tooling runs, how a learner gets each one, and the
// Istio releases the lessons are checked against.
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";
import { LESSON_RELEASES } from "../mesh/releases.ts";

/**
 * The Istio minors the lessons are checked with, oldest first (LESSON_RELEASES in
 * lessons/src/mesh/releases.ts: the newest three; upstream supports 1.30 and 1.31 on
 * 2026-11-25, 1.29 ended in October 2026), each with its latest patch known (what CI
 * installs) and the Gateway API release it is built against. All support Kubernetes
 * 1.32 to 1.35 at least.
 */
export const ISTIO_RELEASES = LESSON_RELEASES.map((r) => ({ minor: r.version, patch: r.patch, gatewayApi: r.gatewayApi }));

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

/** kind release the docs and CI use (its default node image is Kubernetes 1.36.1, which both supported Istio minors support). */
export const KIND_VERSION = "v0.32.0";

export type Tool = "kubectl" | "kind" | "istioctl" | "docker";

/** How to get each tool, one line. */
export const INSTALL_HINTS: Record<Tool, string> = {
  kubectl: "install it from https://kubernetes.io/docs/tasks/tools/ (it renders the overlays too)",
  kind: `install it with \`go install sigs.k8s.io/kind@${KIND_VERSION}\` or a release binary from https://kind.sigs.k8s.io/docs/user/quick-start/#installation`,
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
    return { ok: false, message: `istioctl ${version} is too old: the lessons' rules use networking.istio.io/v1, served since Istio ${MIN_ISTIO}; ${INSTALL_HINTS.istioctl}` };
  }
  if (compareMinor(minor, minorOf(ISTIO_RELEASES[0]!.minor)!) < 0) {
    return { ok: true, note: `Istio ${version} is older than the releases these lessons are checked with (${SUPPORTED_ISTIO}) and no longer supported upstream; the lessons should still work, but upgrade when you can` };
  }
  if (compareMinor(minor, minorOf(NEWEST.minor)!) > 0) {
    return { ok: true, note: `Istio ${version} is newer than the releases these lessons were checked with (${SUPPORTED_ISTIO})` };
  }
  return { ok: true };
}
