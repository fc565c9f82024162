// The Debian tools the bench compares against or drives. Installed with apt-get
// when missing and running as root; otherwise the bench says what to install.
import { execFileSync } from "node:child_process";

export const DEBIAN_PACKAGES = ["wrk", "python3-flask", "gunicorn", "httpie"] as const;

function installed(pkg: string): boolean {
  try {
    return execFileSync("dpkg-query", ["-W", "-f=${Status}", pkg], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    }).includes("install ok installed");
  } catch {
    return false;
  }
}

export function missingPackages(): string[] {
  return DEBIAN_PACKAGES.filter((pkg) => !installed(pkg));
}

/** Returns an error message when the tools are missing and cannot be installed here. */
export function ensureTools(log: (line: string) => void): string | undefined {
  const missing = missingPackages();
  if (missing.length === 0) return undefined;
  const install = `apt-get install -y ${missing.join(" ")}`;
  if (process.getuid?.() !== 0) return `bench: missing Debian packages; run as root: ${install}`;
  log(`bench: installing ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  try {
    execFileSync("apt-get", ["update", "-qq"], { stdio: ["ignore", "ignore", "inherit"], env, timeout: 180_000 });
    execFileSync("apt-get", ["install", "-y", "-qq", ...missing], {
      stdio: ["ignore", "ignore", "inherit"],
      env,
      timeout: 300_000,
    });
  } catch (error) {
    return `bench: ${install} failed: ${(error as Error).message}`;
  }
  const still = missingPackages();
  return still.length === 0 ? undefined : `bench: still missing after apt-get: ${still.join(" ")}`;
}
