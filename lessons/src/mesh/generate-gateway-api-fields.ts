// Generates lessons/src/mesh/gateway-api-fields.json: the spec field names of the
// gateway.networking.k8s.io/v1 kinds the lessons use (HTTPRoute, Gateway), taken from
// the Gateway API's own CRDs, for both release channels: `kinds` from the experimental
// channel (every field a cluster may accept), `standard` from the standard channel. The
// mesh preview uses them to tell a typo (a field the API does not have) from a real
// field it does not model, and the tests to tell which lessons need the experimental CRDs.
//   git -C gateway-api show v1.6.1:config/crd/experimental/gateway.networking.k8s.io_httproutes.yaml > x.yaml ...
//   node lessons/src/mesh/generate-gateway-api-fields.ts <experimental CRDs.yaml> <standard CRDs.yaml> <gateway-api tag>
import { readFileSync, writeFileSync } from "node:fs";
import { specShapes } from "./generate-istio-fields.ts";

const KINDS = ["HTTPRoute", "Gateway"];
const OUT = new URL("./gateway-api-fields.json", import.meta.url);

const [experimental, standard, tag] = process.argv.slice(2);
if (!experimental || !standard || !tag) {
  console.error(
    "usage: node lessons/src/mesh/generate-gateway-api-fields.ts <experimental CRDs.yaml> <standard CRDs.yaml> <gateway-api tag>",
  );
  process.exit(2);
}
const shapes = (file: string) => specShapes(readFileSync(file, "utf8"), "gateway.networking.k8s.io", "v1", KINDS);
const out = {
  source: `kubernetes-sigs/gateway-api ${tag} config/crd/{experimental,standard}`,
  kinds: shapes(experimental),
  standard: shapes(standard),
};
for (const [name, kinds] of Object.entries({ experimental: out.kinds, standard: out.standard })) {
  const missing = KINDS.filter((k) => !(k in kinds));
  if (missing.length > 0) {
    console.error(`the ${name} CRDs have no ${missing.join(", ")} at gateway.networking.k8s.io/v1`);
    process.exit(1);
  }
}
writeFileSync(OUT, `${JSON.stringify(out)}\n`);
console.error(`wrote ${OUT.pathname}: ${KINDS.join(", ")} (${tag})`);
