// The two images the manifests run, built from this repository's Dockerfiles. One
// list for everything that needs their names: the cluster tooling (docker build,
// kind load), the mesh preview (which Deployments it runs as local pods), and the
// tests (manifest checks, fake cluster, container builds).
export interface Image {
  /** The image without its tag, as kustomize's `images:` and the mesh preview name it. */
  repository: string;
  /** repository:tag, as the Deployments reference it. */
  name: string;
  dockerfile: string;
}

/** The tag of both images (package.json's version). */
export const IMAGE_VERSION = "0.1.0";

function image(app: "flaskapp" | "sleep"): Image {
  return {
    repository: `istio-lessons/${app}`,
    name: `istio-lessons/${app}:${IMAGE_VERSION}`,
    dockerfile: `Dockerfile.${app}`,
  };
}

export const FLASKAPP_IMAGE = image("flaskapp");
export const SLEEP_IMAGE = image("sleep");
export const IMAGES: readonly Image[] = [FLASKAPP_IMAGE, SLEEP_IMAGE];

export const IMAGE_NAMES: readonly string[] = IMAGES.map((image) => image.name);

/** `docker build` of one image, run from the repository root. */
export function dockerBuildCommand(image: Image): string[] {
  return ["docker", "build", "-f", image.dockerfile, "-t", image.name, "."];
}
