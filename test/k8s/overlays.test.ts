// Every lesson overlay (Istio's API and the Gateway API) rendered by the real kustomize in
// kubectl, validated against the Kubernetes, Istio and Gateway API schemas, cross-checked,
// and held to the facts its lesson relies on.
import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { labelsMatch, RenderError, renderKustomization, type K8sObject } from "#lessons/core/kustomize.ts";
import { loadChecks, withLessonVars } from "#lessons/checks/checks.ts";
import { IMAGE_NAMES, IMAGES } from "#lessons/core/images.ts";
import { checkManifests } from "./manifest-checks.ts";
import {
  allLessons,
  sidecarLessons,
  AMBIENT_CANNOT,
  AMBIENT_DIR,
  AMBIENT_LESSONS,
  ambientLessons,
  checksFile,
  GATEWAY_API_DIR,
  GATEWAY_API_LESSONS,
  LESSONS,
  OVERLAYS_DIR,
  overlayDir,
  type Lesson,
} from "#lessons/catalog/lessons.ts";
import { fieldsOutside } from "#lessons/mesh/fields.ts";
import { GATEWAY_API_STANDARD } from "#lessons/mesh/gateway-api.ts";
import { lessonRenders } from "../renders.ts";
import { DEFAULT_NAMESPACE } from "#lessons/core/kubectl.ts";
import { parseConfig } from "#flaskapp/config.ts";
import { probeAnswer } from "#flaskapp/routes/health.ts";
import request from "supertest";
import { makeApp } from "../flaskapp/helpers.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");
const OVERLAYS = OVERLAYS_DIR;

// Rendered by the real kustomize once per test run (test/global-setup.ts), before the tests are
// collected, since some test lists depend on what a render holds.
const renders = lessonRenders();

function render(lesson: Lesson): K8sObject[] {
  const objects = renders.get(lesson);
  if (objects === undefined) throw new Error(`overlay ${lesson} was not rendered`);
  return objects;
}

function the(objects: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  expect(found, `exactly one ${kind}${name ? ` ${name}` : ""}`).toHaveLength(1);
  return found[0]!;
}

function ofKind(objects: K8sObject[], kind: string): K8sObject[] {
  return objects.filter((o) => o.kind === kind);
}

function envOf(deployment: K8sObject): Record<string, unknown> {
  const env = (deployment.spec.template.spec.containers[0].env ?? []) as {
    name: string;
    value?: string;
    valueFrom?: unknown;
  }[];
  return Object.fromEntries(env.map((e) => [e.name, e.value ?? e.valueFrom]));
}

describe("the lesson overlays", () => {
  it.each([
    [OVERLAYS, LESSONS],
    [GATEWAY_API_DIR, GATEWAY_API_LESSONS],
  ])("in %s are exactly the lessons in the contracts, each with a kustomization", async (dir, lessons) => {
    const dirs = (await readdir(dir, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
    expect(dirs.sort()).toEqual([...lessons].sort());
  });

  it("run exactly the images this repository builds, each from a Dockerfile of the repository", async () => {
    const used = new Set(
      LESSONS.flatMap((lesson) =>
        ofKind(render(lesson), "Deployment").flatMap((d) =>
          d.spec.template.spec.containers.map((c: { image: string }) => c.image),
        ),
      ),
    );
    expect([...used].sort()).toEqual([...IMAGE_NAMES].sort());
    for (const image of IMAGES)
      await expect(readFile(path.join(ROOT, image.dockerfile), "utf8")).resolves.toMatch(/^FROM /m);
  });

  it.each(allLessons())("%s passes the schema and cross-checks", (lesson) => {
    expect(checkManifests(render(lesson))).toEqual([]);
  });

  // Any other API version than networking.istio.io/v1 or gateway.networking.k8s.io/v1 is an api-version finding of the checks above.
  it.each(sidecarLessons())(
    "%s puts everything in the namespace the commands use, with sidecar injection on",
    (lesson) => {
      const objects = render(lesson);
      const ns = the(objects, "Namespace");
      expect(ns.metadata.name).toBe(DEFAULT_NAMESPACE);
      expect(ns.metadata.labels?.["istio-injection"]).toBe("enabled");
      for (const obj of objects.filter((o) => o.kind !== "Namespace")) {
        expect(obj.metadata.namespace, `${obj.kind}/${obj.metadata.name}`).toBe(DEFAULT_NAMESPACE);
      }
    },
  );

  it.each(allLessons())("%s deploys both flaskapp versions and sleep", (lesson) => {
    const names = ofKind(render(lesson), "Deployment").map((d) => d.metadata.name);
    expect(names).toEqual(expect.arrayContaining(["flaskapp-v1", "flaskapp-v2", "sleep"]));
  });
});

describe("the workloads", () => {
  const deployments = () => ofKind(render("round-robin"), "Deployment");
  /** flaskapp's configuration as the Deployment's environment gives it (downward-API values left out). */
  const flaskappConfig = (d: K8sObject) => {
    const values = Object.fromEntries(Object.entries(envOf(d)).filter(([, v]) => typeof v === "string")) as Record<
      string,
      string
    >;
    const config = parseConfig(values);
    if (config instanceof Error) throw config;
    return config;
  };

  it("derive flaskapp-v1 and flaskapp-v2 from one definition: they differ only in the version", () => {
    const objects = render("round-robin");
    const v1 = JSON.stringify(the(objects, "Deployment", "flaskapp-v1"));
    const v2 = JSON.stringify(the(objects, "Deployment", "flaskapp-v2"));
    expect(v2).not.toBe(v1);
    expect(v2.replaceAll("v2", "v1")).toBe(v1);
  });

  it("start on a cluster without a registry: no pull policy Always, and no :latest tag (whose default policy is Always)", () => {
    for (const d of deployments()) {
      for (const c of d.spec.template.spec.containers) {
        expect(
          c.imagePullPolicy ?? (c.image.endsWith(":latest") ? "Always" : "IfNotPresent"),
          `${d.metadata.name} ${c.name}`,
        ).not.toBe("Always");
      }
    }
  });

  it("probe flaskapp on its probe listener (PROBE_PORT), on routes it answers there with 200, and listen on every interface", async () => {
    const d = the(render("round-robin"), "Deployment", "flaskapp-v1");
    const c = d.spec.template.spec.containers[0];
    const port = (name: unknown) =>
      typeof name === "number" ? name : c.ports.find((p: { name: string }) => p.name === name)?.containerPort;
    const config = flaskappConfig(d);
    expect(config.probePort).not.toBeNull();
    expect(config.host).toBe("::");
    const { app } = makeApp(
      Object.fromEntries(Object.entries(envOf(d)).filter(([, v]) => typeof v === "string")) as Record<string, string>,
    );
    for (const probe of [c.readinessProbe, c.livenessProbe]) {
      expect(port(probe.httpGet.port)).toBe(config.probePort);
      expect(probeAnswer("GET", probe.httpGet.path, false).status).toBe(200);
      // The app's own port answers them too.
      expect((await request(app).get(probe.httpGet.path)).status).toBe(200);
    }
  });

  it.each(LESSONS.map((l) => [l] as const))(
    "%s: flaskapp, as configured, reveals every /env name and fetches every host its checks use",
    async (lesson) => {
      const paths = withLessonVars((await loadChecks(checksFile(overlayDir(lesson)))).checks, render(lesson)).map(
        (c) => c.path,
      );
      for (const d of ofKind(render(lesson), "Deployment").filter((x) => x.metadata.name.startsWith("flaskapp"))) {
        const config = flaskappConfig(d);
        for (const path of paths) {
          for (const [, name] of path.matchAll(/\/env\/([A-Za-z_][A-Za-z0-9_]*)/g))
            expect(
              config.envAllow === null || config.envAllow.has(name!),
              `${d.metadata.name} ENV_ALLOW lacks ${name}`,
            ).toBe(true);
          const fetched = new URL(path, "http://x").searchParams.get("url");
          if (fetched)
            expect(
              config.fetchAllow === null || config.fetchAllow.has(new URL(fetched).hostname),
              `${d.metadata.name} FETCH_ALLOW lacks ${fetched}`,
            ).toBe(true);
        }
      }
    },
  );

  it("give sleep a writable HOME (httpie keeps its configuration there) on its read-only root", () => {
    const sleep = the(render("round-robin"), "Deployment", "sleep");
    const spec = sleep.spec.template.spec;
    const c = spec.containers[0];
    expect(c.securityContext.readOnlyRootFilesystem).toBe(true);
    const home = String(envOf(sleep).HOME);
    const mount = c.volumeMounts.find(
      (m: { mountPath: string }) => home === m.mountPath || home.startsWith(`${m.mountPath}/`),
    );
    expect(spec.volumes.find((v: { name: string }) => v.name === mount?.name)?.emptyDir).toBeDefined();
  });

  it.each(["flaskapp", "flaskapp-v1", "flaskapp-v2"])(
    "Service %s answers on port 80, where the checks' http://<service>/ URLs go, and targets the port flaskapp listens on",
    (name) => {
      const objects = render("gateway-api/round-robin");
      const svc = the(objects, "Service", name);
      expect(svc.spec.ports.map((p: { port: number }) => p.port)).toEqual([80]);
      const pods = ofKind(objects, "Deployment").filter((d) =>
        labelsMatch(svc.spec.selector, d.spec.template.metadata.labels),
      );
      expect(pods.length).toBeGreaterThan(0);
      for (const d of pods) {
        const target = svc.spec.ports[0].targetPort;
        const port = d.spec.template.spec.containers[0].ports.find(
          (p: { name: string; containerPort: number }) => p.name === target || p.containerPort === target,
        );
        expect(port?.containerPort, `${name} → ${d.metadata.name}`).toBe(flaskappConfig(d).port);
      }
    },
  );
});

describe("each lesson's rules", () => {
  // What each rule does is checked by running every lesson in the mesh preview (test/e2e), and its checks are shown
  // to catch it broken (test/e2e/broken.test.ts). What a single run cannot show stays here.
  it("round-robin has no Istio rules", () => {
    expect(render("round-robin").filter((o) => o.apiVersion.startsWith("networking.istio.io/"))).toEqual([]);
  });

  it("circuit-breaker has no outlier detection: an ejection would fail verify's next pass in a row", () => {
    expect(
      the(render("circuit-breaker"), "DestinationRule", "flaskapp").spec.trafficPolicy.outlierDetection,
    ).toBeUndefined();
  });
});

describe("the Gateway API lessons", () => {
  const twin = (lesson: string) => lesson.replace(/^gateway-api\//, "");
  const gatewayLessons = GATEWAY_API_LESSONS.map((l) => `gateway-api/${l}`);

  it.each(gatewayLessons)(
    "%s has its Istio-API twin's checks (the ingress one through the Gateway's own Service)",
    async (lesson) => {
      const ours = await loadChecks(checksFile(overlayDir(lesson)));
      const theirs = await loadChecks(checksFile(overlayDir(twin(lesson))));
      const service = (s: string) => (s === "istio-ingressgateway.istio-system" ? "flaskapp-gateway-istio" : s);
      const comparable = (checks: typeof ours.checks) => checks.map(({ name: _name, ...check }) => check);
      expect(comparable(ours.checks)).toEqual(
        comparable(theirs.checks.map((c) => ({ ...c, service: service(c.service) }))),
      );
    },
  );

  it.each(gatewayLessons)(
    "%s has no Istio rules, and adds the version Services flaskapp-v1 and flaskapp-v2 to the same workloads",
    (lesson) => {
      const objects = render(lesson);
      expect(objects.filter((o) => o.apiVersion.startsWith("networking.istio.io/"))).toEqual([]);
      const withoutRules = (o: K8sObject[]) =>
        o.filter(
          (x) =>
            !x.apiVersion.startsWith("networking.istio.io/") &&
            !x.apiVersion.startsWith("gateway.networking.k8s.io/") &&
            !["flaskapp-v1", "flaskapp-v2"].includes(x.kind === "Service" ? x.metadata.name : ""),
        );
      expect(withoutRules(objects)).toEqual(withoutRules(render(twin(lesson))));
    },
  );

  it.each(["v1", "v2"])(
    "the Service flaskapp-%s selects the pods of flaskapp-%s only, on the same port as flaskapp",
    (version) => {
      const objects = render("gateway-api/round-robin");
      const svc = the(objects, "Service", `flaskapp-${version}`);
      const selected = ofKind(objects, "Deployment").filter((d) =>
        labelsMatch(svc.spec.selector, d.spec.template.metadata.labels),
      );
      expect(selected.map((d) => d.metadata.name)).toEqual([`flaskapp-${version}`]);
      expect(svc.spec.ports).toEqual(the(objects, "Service", "flaskapp").spec.ports);
    },
  );

  it.each(gatewayLessons)(
    "%s uses the standard channel's fields only, except retry (the experimental channel) in the retries lesson",
    (lesson) => {
      const outside = render(lesson)
        .filter((o) => o.apiVersion.startsWith("gateway.networking.k8s.io/"))
        .flatMap((o) =>
          fieldsOutside(
            o.spec,
            GATEWAY_API_STANDARD[o.kind as "HTTPRoute" | "Gateway"],
            `${o.kind}/${o.metadata.name} spec`,
          ),
        );
      expect(outside).toEqual(lesson === "gateway-api/retries" ? ["HTTPRoute/flaskapp spec.rules[0].retry"] : []);
    },
  );
});

describe("the checks on a real render", () => {
  // The seed's mistakes, made again in our v2-default render, must be caught there too.
  const broken = (change: (objects: K8sObject[]) => void, lesson: Lesson = "v2-default"): string[] => {
    const objects = structuredClone(render(lesson));
    change(objects);
    return checkManifests(objects).map((f) => `${f.rule} ${f.object}`);
  };

  it.each([
    // Subset v1 then selects two Deployments and v2 none; the selector no longer matches.
    [
      "flaskapp-v2's pods labelled version v1",
      (o: K8sObject[]) => (the(o, "Deployment", "flaskapp-v2").spec.template.metadata.labels.version = "v1"),
      [
        "subset-pods DestinationRule/flaskapp",
        "subset-pods DestinationRule/flaskapp",
        "deployment-selector Deployment/flaskapp-v2",
      ],
    ],
    [
      "the sleep port named ssh",
      (o: K8sObject[]) =>
        Object.assign(the(o, "Service", "sleep").spec.ports[0], { name: "ssh", appProtocol: undefined }),
      ["port-name Service/sleep"],
    ],
    [
      "a Deployment on extensions/v1beta1",
      (o: K8sObject[]) => (the(o, "Deployment", "sleep").apiVersion = "extensions/v1beta1"),
      ["api-version Deployment/sleep"],
    ],
    [
      "the route to a subset v3",
      (o: K8sObject[]) => (the(o, "VirtualService").spec.http[0].route[0].destination.subset = "v3"),
      ["route-subset VirtualService/flaskapp-default-v2"],
    ],
    [
      "a root container",
      (o: K8sObject[]) =>
        (the(o, "Deployment", "flaskapp-v1").spec.template.spec.containers[0].securityContext.runAsUser = 0),
      ["restricted Deployment/flaskapp-v1"],
    ],
    [
      "a grace period of 10s",
      (o: K8sObject[]) => (the(o, "Deployment", "flaskapp-v1").spec.template.spec.terminationGracePeriodSeconds = 10),
      ["shutdown-budget Deployment/flaskapp-v1"],
    ],
    [
      "an image tag nobody builds",
      (o: K8sObject[]) =>
        (the(o, "Deployment", "sleep").spec.template.spec.containers[0].image = "istio-lessons/sleep:latest"),
      ["image Deployment/sleep"],
    ],
  ] as [string, (o: K8sObject[]) => void, string[]][])("report %s", (_name, change, expected) => {
    expect(broken(change).sort()).toEqual(expected.sort());
  });

  it.each([
    [
      "a backendRef to a Service that does not exist",
      (o: K8sObject[]) => (the(o, "HTTPRoute").spec.rules[0].backendRefs[0].name = "flaskapp-v3"),
      ["route-host HTTPRoute/flaskapp-default-v2"],
    ],
    [
      "a version Service that selects no pods",
      (o: K8sObject[]) => (the(o, "Service", "flaskapp-v2").spec.selector.version = "v3"),
      ["service-selector Service/flaskapp-v2"],
    ],
    [
      "the parent Service misspelled",
      (o: K8sObject[]) => (the(o, "HTTPRoute").spec.parentRefs[0].name = "flask-app"),
      ["route-parent HTTPRoute/flaskapp-default-v2"],
    ],
    [
      "a weight written as a string",
      (o: K8sObject[]) => (the(o, "HTTPRoute").spec.rules[0].backendRefs[0].weight = "100"),
      ["schema HTTPRoute/flaskapp-default-v2"],
    ],
    [
      "the HTTPRoute on v1alpha2",
      (o: K8sObject[]) => (the(o, "HTTPRoute").apiVersion = "gateway.networking.k8s.io/v1alpha2"),
      ["api-version HTTPRoute/flaskapp-default-v2"],
    ],
  ] as [string, (o: K8sObject[]) => void, string[]][])(
    "report %s in gateway-api/v2-default",
    (_name, change, expected) => {
      expect(broken(change, "gateway-api/v2-default").sort()).toEqual(expected.sort());
    },
  );
});

describe("the registry override documented in the README", () => {
  let dir = "";
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "k8s-images-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("moves both images to the registry with kustomize images:", async () => {
    await writeFile(
      path.join(dir, "kustomization.yaml"),
      [
        "resources:",
        // kustomize takes only relative paths to other kustomizations, as the README shows.
        `  - ${path.relative(dir, path.join(OVERLAYS, "v2-default"))}`,
        "images:",
        "  - name: istio-lessons/flaskapp",
        "    newName: registry.example.com/istio-lessons/flaskapp",
        "  - name: istio-lessons/sleep",
        "    newName: registry.example.com/istio-lessons/sleep",
        "",
      ].join("\n"),
    );
    const images = ofKind(await renderKustomization(dir), "Deployment").map(
      (d) => d.spec.template.spec.containers[0].image,
    );
    expect(images.sort()).toEqual([
      "registry.example.com/istio-lessons/flaskapp:0.1.0",
      "registry.example.com/istio-lessons/flaskapp:0.1.0",
      "registry.example.com/istio-lessons/sleep:0.1.0",
    ]);
  });
});

describe("a render that fails", () => {
  it("is one line with kustomize's own words, without kubectl's log prefix", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "no-kustomization-"));
    try {
      await expect(renderKustomization(dir)).rejects.toThrow(
        new RenderError(
          `kubectl kustomize ${dir} failed: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in directory '${dir}'`,
        ),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("without kubectl", () => {
  it("rendering fails with a message that names kubectl", async () => {
    const saved = process.env.PATH;
    process.env.PATH = path.join(tmpdir(), "no-such-dir");
    try {
      await expect(renderKustomization(path.join(OVERLAYS, "round-robin"))).rejects.toThrow(
        /kubectl is not installed or not on PATH/,
      );
    } finally {
      process.env.PATH = saved;
    }
  });
});

describe("the ambient lessons (k8s/ambient)", () => {
  const ambientRenders = new Map<string, K8sObject[]>();
  beforeAll(async () => {
    for (const lesson of ambientLessons()) ambientRenders.set(lesson, await renderKustomization(overlayDir(lesson)));
  }, 120_000);
  const renderAmbient = (lesson: string) => ambientRenders.get(lesson)!;
  const labelsOf = (obj: K8sObject): Record<string, string> =>
    (obj.metadata as { labels?: Record<string, string> }).labels ?? {};
  const ONLY_AMBIENT = ["l4-only", "enrol-waypoint", "ingress-waypoint"];

  it("are exactly the lessons in the contract, each with a kustomization and checks", async () => {
    const dirs = (await readdir(AMBIENT_DIR, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    expect(dirs.sort()).toEqual([...AMBIENT_LESSONS].sort());
    for (const lesson of ambientLessons())
      await expect(loadChecks(checksFile(overlayDir(lesson)))).resolves.toMatchObject({ checks: expect.any(Array) });
  });

  it("cover every sidecar lesson: each has an ambient lesson of its name or a reason why not, never both", () => {
    for (const lesson of LESSONS)
      expect((AMBIENT_LESSONS as readonly string[]).includes(lesson), lesson).toBe(!(lesson in AMBIENT_CANNOT));
    expect(AMBIENT_LESSONS.filter((l) => !(LESSONS as readonly string[]).includes(l))).toEqual(ONLY_AMBIENT);
  });

  it.each(ambientLessons())("%s passes the schema and cross-checks (ambient ones included)", (lesson) => {
    expect(checkManifests(renderAmbient(lesson))).toEqual([]);
  });

  it.each(ambientLessons())(
    "%s enrols its namespace in ambient mode, without sidecar injection, and puts everything there",
    (lesson) => {
      const objects = renderAmbient(lesson);
      const ns = the(objects, "Namespace");
      expect(ns.metadata.name).toBe(DEFAULT_NAMESPACE);
      expect(labelsOf(ns)["istio.io/dataplane-mode"]).toBe("ambient");
      expect(labelsOf(ns)["istio-injection"]).toBeUndefined();
      for (const obj of objects.filter((o) => o.kind !== "Namespace"))
        expect(obj.metadata.namespace, `${obj.kind}/${obj.metadata.name}`).toBe(DEFAULT_NAMESPACE);
    },
  );

  it.each(ambientLessons())(
    "%s declares the waypoint and enrols flaskapp with it, unless it is about their absence",
    (lesson) => {
      const objects = renderAmbient(lesson);
      const waypoints = objects.filter((o) => o.kind === "Gateway" && o.spec.gatewayClassName === "istio-waypoint");
      const enrolment = labelsOf(the(objects, "Service", "flaskapp"))["istio.io/use-waypoint"];
      if (lesson === "ambient/l4-only") {
        expect(waypoints).toEqual([]);
        return;
      }
      expect(waypoints.map((w) => [w.metadata.name, labelsOf(w)["istio.io/waypoint-for"], w.spec.listeners])).toEqual([
        ["flaskapp-waypoint", "service", [{ name: "mesh", port: 15008, protocol: "HBONE" }]],
      ]);
      expect(enrolment).toBe(lesson === "ambient/enrol-waypoint" ? undefined : "flaskapp-waypoint");
      // Only flaskapp is enrolled: the version Services are the waypoint's backends.
      expect(
        objects.filter((o) => o.kind === "Service" && labelsOf(o)["istio.io/use-waypoint"]).map((s) => s.metadata.name),
      ).toEqual(enrolment ? ["flaskapp"] : []);
    },
  );

  it.each(ambientLessons())(
    "%s writes its routes as HTTPRoutes with a Service parent or a Gateway of class istio, never a VirtualService or Sidecar",
    (lesson) => {
      const objects = renderAmbient(lesson);
      expect(
        objects.filter((o) => ["VirtualService", "Sidecar", "EnvoyFilter"].includes(o.kind)).map((o) => o.kind),
      ).toEqual([]);
      for (const route of ofKind(objects, "HTTPRoute")) {
        for (const parent of route.spec.parentRefs) {
          if (parent.kind === "Service") expect(parent.group).toBe("");
          else expect(the(objects, "Gateway", parent.name).spec.gatewayClassName).toBe("istio");
        }
      }
    },
  );

  it("only ingress-waypoint sends ingress through the waypoint", () => {
    for (const lesson of ambientLessons()) {
      expect(labelsOf(the(renderAmbient(lesson), "Service", "flaskapp"))["istio.io/ingress-use-waypoint"], lesson).toBe(
        lesson === "ambient/ingress-waypoint" ? "true" : undefined,
      );
    }
  });
});
