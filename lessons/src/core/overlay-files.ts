// Before kustomize renders a directory someone else wrote (a downloaded playground), every
// kustomization reachable from it is read here: an entry kustomize would fetch from the
// network is refused unless the learner allows it, and every file kustomize would parse as
// YAML is read with a size cap and parsed with YAML aliases limited, so a "billion laughs"
// in a resource is an error naming the file instead of gigabytes in kustomize.
import { open, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { parseAllDocuments } from "yaml";

/** The limits of the pre-read; the render itself is bounded in kustomize.ts (RenderLimits). */
export const OVERLAY_LIMITS = {
  /** Largest file read: a kustomization, a resource, a patch (ours are a few KiB). */
  fileBytes: 1024 * 1024,
  /** Most files read in one overlay, kustomizations included. */
  files: 1000,
  /** yaml's maxAliasCount: alias expansions one document may make (the library's default). */
  yamlAliases: 100,
} as const;

export class OverlayError extends Error {}

export const KUSTOMIZATION_FILES = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/**
 * An entry kustomize would fetch rather than read: a URL (`https://`, `ssh://`, `git::`), a
 * git address (`git@host:org/repo`), the `gh:` shorthand, a hosting site's `host/org/repo`,
 * or a `?ref=`/`?version=` query. An entry that is no local file or directory is refused too
 * (kustomize tries such an entry as a repository), so this only words the message.
 */
export function isRemoteEntry(entry: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\/|^git::|^git@|^gh:|^(github\.com|gitlab\.com|bitbucket\.org)\/|[?&](ref|version|submodules|timeout)=/i.test(
    entry,
  );
}

/** Reads a whole regular file as UTF-8, refusing one over `maxBytes` (checked on what is read, not only on its size). */
export async function readBoundedText(file: string, maxBytes: number): Promise<string> {
  const info = await stat(file).catch((error: NodeJS.ErrnoException) => {
    throw new OverlayError(`${file}: cannot read: ${error.code ?? error.message}`);
  });
  if (!info.isFile()) throw new OverlayError(`${file}: not a regular file`);
  if (info.size > maxBytes) throw new OverlayError(`${file}: ${info.size} bytes, over the limit of ${maxBytes}`);
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(maxBytes + 1);
    let length = 0;
    while (length <= maxBytes) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > maxBytes) throw new OverlayError(`${file}: over the limit of ${maxBytes} bytes`);
    return buffer.toString("utf8", 0, length);
  } finally {
    await handle.close();
  }
}

/** Parses every document of `text` as kustomize would, with YAML aliases limited; `where` names it in errors. */
export function parseBoundedYaml(
  text: string,
  where: string,
  maxAliasCount: number = OVERLAY_LIMITS.yamlAliases,
): unknown[] {
  return parseAllDocuments(text).map((doc) => {
    if (doc.errors.length > 0)
      throw new OverlayError(`${where}: invalid YAML: ${doc.errors[0]!.message.split("\n")[0]}`);
    try {
      return doc.toJS({ maxAliasCount });
    } catch (error) {
      throw new OverlayError(
        `${where}: ${(error as Error).message} (YAML aliases are limited to ${maxAliasCount} expansions)`,
      );
    }
  });
}

export interface OverlayReadOptions {
  /** Let kustomize fetch remote resources, components and bases (`npm run demo -- --allow-remote`). */
  allowRemote?: boolean;
  readLimits?: Partial<Record<keyof typeof OVERLAY_LIMITS, number>>;
}

/** Fields whose entries are kustomizations or files, local or remote. */
const ENTRY_LISTS = ["resources", "components", "bases", "generators", "transformers", "validators"];
/** Fields whose entries are file paths kustomize parses as YAML. */
const YAML_FILE_LISTS = ["crds", "configurations"];

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

async function kind(path: string): Promise<"file" | "dir" | "none"> {
  try {
    const info = await stat(path);
    return info.isDirectory() ? "dir" : "file";
  } catch {
    return "none";
  }
}

/**
 * Reads the kustomization in `dir` and everything it reaches, before kustomize does: throws an
 * OverlayError naming the file and entry for a remote entry (unless allowed), a file over the
 * size cap, too many files, or YAML whose aliases expand too far.
 */
export async function preReadOverlay(dir: string, options: OverlayReadOptions = {}): Promise<void> {
  const limits = { ...OVERLAY_LIMITS, ...options.readLimits };
  const seen = new Set<string>();
  const show = (path: string) => {
    const near = relative(process.cwd(), path);
    return near === "" ? "." : near.startsWith("..") ? path : near;
  };

  const readYaml = async (file: string): Promise<unknown[]> => {
    if (seen.has(file)) return [];
    seen.add(file);
    if (seen.size > limits.files) throw new OverlayError(`${show(dir)}: reaches more than ${limits.files} files`);
    return parseBoundedYaml(await readBoundedText(file, limits.fileBytes), show(file), limits.yamlAliases);
  };
  const readData = async (file: string): Promise<void> => {
    if (seen.has(file)) return;
    seen.add(file);
    if (seen.size > limits.files) throw new OverlayError(`${show(dir)}: reaches more than ${limits.files} files`);
    await readBoundedText(file, limits.fileBytes);
  };

  const visit = async (kustomizationDir: string): Promise<void> => {
    let found: string | undefined;
    for (const name of KUSTOMIZATION_FILES)
      if (!found && (await kind(join(kustomizationDir, name))) === "file") found = join(kustomizationDir, name);
    // Nothing to read: kustomize says so in its own words.
    if (!found) return;
    const file = found;
    if (seen.has(file)) return;
    const [k] = await readYaml(file);
    if (!isMapping(k)) return;
    const at = (field: string, i: number) => `${show(file)}: ${field}[${i}]`;
    const local = (entry: string) => resolve(kustomizationDir, entry);

    for (const field of ENTRY_LISTS) {
      const entries = k[field];
      if (!Array.isArray(entries)) continue;
      for (const [i, entry] of entries.entries()) {
        if (typeof entry !== "string") continue;
        // generators and transformers may hold inline YAML (their configuration), parsed as such.
        if (entry.includes("\n")) {
          parseBoundedYaml(entry, at(field, i), limits.yamlAliases);
          continue;
        }
        const path = local(entry);
        const found = isRemoteEntry(entry) ? "none" : await kind(path);
        if (found === "none") {
          if (options.allowRemote) continue;
          throw new OverlayError(
            `${at(field, i)}: ${JSON.stringify(entry)} is ${isRemoteEntry(entry) ? "a remote URL" : "no local file or directory"}: kustomize would fetch it from the network; the preview renders only local files unless you pass --allow-remote`,
          );
        }
        if (found === "dir") await visit(path);
        else await readYaml(path);
      }
    }
    for (const field of YAML_FILE_LISTS) {
      const entries = k[field];
      if (Array.isArray(entries))
        for (const entry of entries) if (typeof entry === "string") await readYaml(local(entry));
    }
    if (isMapping(k.openapi) && typeof k.openapi.path === "string") await readYaml(local(k.openapi.path));
    // Patches: a file, or inline YAML kustomize parses just the same.
    const patches = [
      ...(Array.isArray(k.patches) ? k.patches : []),
      ...(Array.isArray(k.patchesJson6902) ? k.patchesJson6902 : []),
    ];
    for (const [i, patch] of patches.entries()) {
      if (!isMapping(patch)) continue;
      if (typeof patch.path === "string") await readYaml(local(patch.path));
      if (typeof patch.patch === "string") parseBoundedYaml(patch.patch, at("patches", i), limits.yamlAliases);
    }
    if (Array.isArray(k.patchesStrategicMerge)) {
      for (const [i, patch] of k.patchesStrategicMerge.entries()) {
        if (typeof patch !== "string") continue;
        if (patch.includes("\n")) parseBoundedYaml(patch, at("patchesStrategicMerge", i), limits.yamlAliases);
        else await readYaml(local(patch));
      }
    }
    if (Array.isArray(k.replacements))
      for (const r of k.replacements) if (isMapping(r) && typeof r.path === "string") await readYaml(local(r.path));
    // Generators' files are data, not YAML: only their size is bounded.
    for (const generator of [k.configMapGenerator, k.secretGenerator].flatMap((g) => (Array.isArray(g) ? g : []))) {
      if (!isMapping(generator)) continue;
      const files = [
        ...(Array.isArray(generator.files) ? generator.files : []),
        ...(Array.isArray(generator.envs) ? generator.envs : []),
        ...(typeof generator.env === "string" ? [generator.env] : []),
      ];
      for (const f of files) if (typeof f === "string") await readData(local(f.replace(/^[^=]*=/, "")));
    }
  };
  await visit(resolve(dir));
}
