// Which fields a rule may have: the fields its API's schema has, and the fields the
// preview models. A field outside the schema is a typo the API server would refuse;
// one in the schema but not modelled is refused by name, so a rule is never silently
// previewed as something it is not.
import type { K8sObject } from "../core/kustomize.ts";
import { fail } from "./values.ts";

// A leaf is `true`; `{ "*": x }` is a map with any key; an array holds the shape of its items.
export type Shape = true | { [key: string]: Shape } | Shape[];

/** Lists the paths of fields present in `value` that `shape` does not allow. */
export function fieldsOutside(value: unknown, shape: Shape, path: string): string[] {
  if (shape === true || value === null || value === undefined) return [];
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [];
    return value.flatMap((item, i) => fieldsOutside(item, shape[0]!, `${path}[${i}]`));
  }
  if (typeof value !== "object" || Array.isArray(value)) return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, child]) => {
    const childShape = shape[key] ?? shape["*"];
    if (childShape === undefined) return [`${path}.${key}`];
    return fieldsOutside(child, childShape, `${path}.${key}`);
  });
}

/** Advice for a field Istio renamed (the old one is deprecated or ignored), from its path: `use mirrorPercentage`. */
export function deprecatedField(path: string, value?: unknown): string | undefined {
  const key = path
    .split(".")
    .at(-1)!
    .replace(/\[\d+\]$/, "");
  if (key === "mirrorPercent" || key === "mirror_percent") return "use mirrorPercentage";
  if (key === "consecutiveErrors") return "use consecutive5xxErrors";
  if (key === "percent" && path.includes(".fault.")) return "use percentage";
  if (key === "simple" && value === "LEAST_CONN") return "use LEAST_REQUEST";
  return undefined;
}

/** The fields of one kind: all the API has (`schema`), those the preview models, and where both come from. */
export interface KindFields {
  /** `networking.istio.io/v1 VirtualService` */
  api: string;
  /** Whose field a real but unmodelled one is: `Istio`, `Gateway API`. */
  owner: string;
  /** The document listing what the preview models. */
  docs: string;
  schema: Shape;
  modelled: Shape;
}

/** Refuses an object with a field its API does not have (a typo) or one the preview does not model. */
export function checkFields(obj: K8sObject, fields: KindFields): void {
  const where = `${obj.kind} ${obj.metadata.name}`;
  const unknown = fieldsOutside(obj.spec, fields.schema, "spec");
  if (unknown.length > 0) {
    fail(
      where,
      `${unknown.join(", ")}: no such field in ${fields.api} (check the spelling); a cluster rejects it too: strict decoding error: unknown field "${unknown[0]}"`,
    );
  }
  const unmodelled = fieldsOutside(obj.spec, fields.modelled, "spec");
  const deprecated = unmodelled.flatMap((path) => {
    const advice = deprecatedField(path);
    return advice ? [`${path}: deprecated, ${advice}`] : [];
  });
  if (deprecated.length > 0) fail(where, deprecated.join("; "));
  if (unmodelled.length > 0) {
    fail(
      where,
      `${unmodelled.join(", ")}: a real ${fields.owner} field the mesh preview does not model (${fields.docs} lists what it does); try it on a cluster`,
    );
  }
}
