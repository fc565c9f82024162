// Child processes a program started and must not leave behind: each is
// tracked until it exits, and a program on its way out kills those still
// running. Used by the mesh preview's pods and by the bench's servers.
import type { ChildProcess } from "node:child_process";

export class Children {
  readonly #running = new Set<ChildProcess>();

  /** Tracks `child` until it exits or fails to start; returns it. */
  track<T extends ChildProcess>(child: T): T {
    this.#running.add(child);
    child.once("exit", () => this.#running.delete(child));
    child.once("error", () => this.#running.delete(child));
    return child;
  }

  /** How many tracked children still run. */
  get count(): number {
    return this.#running.size;
  }

  /** Ends every child still running, with `kill` (SIGKILL to the child by default). */
  killAll(kill: (child: ChildProcess) => void = (child) => child.kill("SIGKILL")): void {
    for (const child of this.#running) kill(child);
  }
}
