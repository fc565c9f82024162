// Generates lessons/src/mesh/istio-fields.json: the field names of the
// networking.istio.io/v1 kinds the lessons use, taken from Istio's own CRD
// schemas (istio/api kubernetes/customresourcedefinitions.gen.yaml). The mesh
// preview uses it to tell a typo (a field Istio does not have, which the API
// server rejects) from a real field the preview does not model.
//   node lessons/src/mesh/generate-istio-fields.ts <customresourcedefinitions.gen.yaml> <istio/api commit>
import { readFileSync, writeFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { Shape } from "./fields.ts";

const KINDS = ["VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar"];
const OUT = new URL("./istio-fields.json", import.meta.url);

/** The field tree of an OpenAPI schema: objects by property, maps as "*", arrays as [items]; anything open is a leaf. */
export function shapeOf(schema: any): Shape {
  if (schema?.["x-kubernetes-preserve-unknown-fields"]) return true;
  if (schema?.type === "array") return [shapeOf(schema.items)];
  if (schema?.properties) return Object.fromEntries(Object.entries(schema.properties).map(([k, v]) => [k, shapeOf(v)]));
  if (schema?.additionalProperties && typeof schema.additionalProperties === "object")
    return { "*": shapeOf(schema.additionalProperties) };
  return true;
}

/** The spec field tree of each `kinds` in `group` at API `version`, from a stream of CRDs. */
export function specShapes(
  crdYaml: string,
  group: string,
  version: string,
  kinds: readonly string[],
): Record<string, Shape> {
  const shapes: Record<string, Shape> = {};
  for (const doc of parseAllDocuments(crdYaml)) {
    const crd = doc.toJS();
    const kind = crd?.spec?.names?.kind;
    if (crd?.spec?.group !== group || !kinds.includes(kind)) continue;
    const served = crd.spec.versions.find((v: any) => v.name === version);
    shapes[kind] = shapeOf(served.schema.openAPIV3Schema.properties.spec);
  }
  return shapes;
}

if (import.meta.main) {
  const [file, commit] = process.argv.slice(2);
  if (!file || !commit) {
    console.error(
      "usage: node lessons/src/mesh/generate-istio-fields.ts <customresourcedefinitions.gen.yaml> <istio/api commit>",
    );
    process.exit(2);
  }
  const kinds = specShapes(readFileSync(file, "utf8"), "networking.istio.io", "v1", KINDS);
  writeFileSync(
    OUT,
    `${JSON.stringify({ source: `istio/api ${commit} kubernetes/customresourcedefinitions.gen.yaml`, kinds })}\n`,
  );
  console.error(`wrote ${OUT.pathname}: ${Object.keys(kinds).join(", ")}`);
}
