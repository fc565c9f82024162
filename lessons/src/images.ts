// The two images the manifests run, built from this repository's Dockerfiles. One
// list for everything that needs their names: the cluster tooling (docker build,
// kind load) and the manifest checks (every container must run one of them).
export interface Image {
  /** name:tag, as the Deployments reference it. */
  name: string;
  dockerfile: string;
}

/** The tag of both images (package.json's version). */
export const IMAGE_VERSION = "0.1.0";

export const IMAGES: readonly Image[] = [
  { name: `istio-lessons/flaskapp:${IMAGE_VERSION}`, dockerfile: "Dockerfile.flaskapp" },
  { name: `istio-lessons/sleep:${IMAGE_VERSION}`, dockerfile: "Dockerfile.sleep" },
];

export const IMAGE_NAMES: readonly string[] = IMAGES.map((image) => image.name);

/** `docker build` of one image, run from the repository root. */
export function dockerBuildCommand(image: Image): string[] {
  return ["docker", "build", "-f", image.dockerfile, "-t", image.name, "."];
}
