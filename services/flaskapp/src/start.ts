// dist/flaskapp.js: checks the Node version (the bundle's first line), then
// starts the app bundle beside it from its V8 code cache (code-cache.ts).
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { runApp } from "./code-cache.ts";

runApp(dirname(fileURLToPath(import.meta.url)), createRequire(import.meta.url));
