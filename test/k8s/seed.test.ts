// The book's own manifests (YAML syntax repaired, nothing else) must fail the checks in the
// ways the brief names: the removed Deployment API, the v2 pods labelled v1, the `ssh` port.
import path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { renderKustomization, type K8sObject } from "#lessons/core/kustomize.ts";
import { checkManifests, type Finding } from "./manifest-checks.ts";

const SEED = path.resolve(import.meta.dirname, "fixtures/seed");

let objects: K8sObject[] = [];
let findings: Finding[] = [];

beforeAll(async () => {
  objects = await renderKustomization(SEED);
  findings = checkManifests(objects);
});

function about(rule: Finding["rule"], object: string): Finding[] {
  return findings.filter((f) => f.rule === rule && f.object === object);
}

describe("the seed's manifests", () => {
  it("render: the fixture holds the book's two flaskapp versions, sleep and both rules", () => {
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual([
      "Deployment/flaskapp-v1",
      "Deployment/flaskapp-v2",
      "Deployment/sleep",
      "DestinationRule/flaskapp",
      "Service/flaskapp",
      "Service/sleep",
      "VirtualService/flaskapp-default-v2",
    ]);
  });

  it.each(["flaskapp-v1", "flaskapp-v2", "sleep"])("report Deployment %s's removed API extensions/v1beta1", (name) => {
    const [finding] = about("api-version", `Deployment/${name}`);
    expect(finding?.message).toMatch(/extensions\/v1beta1.*use apps\/v1/);
  });

  it.each(["flaskapp-v1", "flaskapp-v2", "sleep"])("report Deployment %s's missing selector", (name) => {
    expect(about("deployment-selector", `Deployment/${name}`)).toHaveLength(1);
  });

  it("report that subset v2 selects no pods because flaskapp-v2's pods carry version v1", () => {
    const messages = about("subset-pods", "DestinationRule/flaskapp").map((f) => f.message);
    expect(messages).toContainEqual(
      expect.stringMatching(/^subset v2 \{version: v2\} selects no pods.*Deployment\/flaskapp-v2 has \{version: v1\}/),
    );
  });

  it("report that subset v1 selects both Deployments", () => {
    const messages = about("subset-pods", "DestinationRule/flaskapp").map((f) => f.message);
    expect(messages).toContainEqual(
      expect.stringMatching(/^subset v1 .*Deployment\/flaskapp-v1, Deployment\/flaskapp-v2/),
    );
  });

  it("report the sleep Service's port named ssh", () => {
    const [finding] = about("port-name", "Service/sleep");
    expect(finding?.message).toMatch(/"ssh".*opaque TCP/);
    expect(about("port-name", "Service/flaskapp")).toEqual([]);
  });

  it.each(["DestinationRule/flaskapp", "VirtualService/flaskapp-default-v2"])("report %s's v1alpha3 API", (object) => {
    const [finding] = about("api-version", object);
    expect(finding?.message).toMatch(/v1alpha3.*use networking\.istio\.io\/v1/);
  });

  it.each(["flaskapp-v1", "flaskapp-v2", "sleep"])("report that %s runs as root with the book's image", (name) => {
    expect(about("restricted", `Deployment/${name}`)).toHaveLength(1);
    expect(about("image", `Deployment/${name}`)[0]?.message).toMatch(/dustise\//);
  });

  it("route the VirtualService to a host and subset that exist, so that is not what fails", () => {
    expect(findings.filter((f) => f.rule === "route-host" || f.rule === "route-subset")).toEqual([]);
  });
});
