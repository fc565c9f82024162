// Once before the browser tests: the bundles the served lessons run (flaskapp, tally) and the view's page.
import { buildBundles } from "../../scripts/build.ts";

export default async function setup(): Promise<void> {
  await buildBundles();
}
