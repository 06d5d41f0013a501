import type { Logger } from "./logger.js";

/**
 * Owner of background work: every spawned task is tracked, its failure logged, and
 * `wait()` settles once all of them have settled. Safe to spawn from any task.
 */
export class TaskGroup {
  readonly #logger: Logger;
  readonly #running = new Set<Promise<void>>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Starts `fn` in the background under `name`; a rejection is logged, never thrown. */
  spawn(name: string, fn: () => Promise<void>): void {
    const p: Promise<void> = (async () => {
      try {
        await fn();
      } catch (err) {
        // Background tasks have no caller to report to; the log is where failures surface.
        this.#logger.error("background task failed", { task: name, err });
      }
    })().finally(() => this.#running.delete(p));
    this.#running.add(p);
  }

  /** Number of tasks still running. */
  get size(): number {
    return this.#running.size;
  }

  /** Resolves once every task spawned so far (and any they spawn) has settled. */
  async wait(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }
}

/**
 * Both results once both promises settled, or the first one's error: unlike `Promise.all`,
 * nothing is still running when a failure is thrown, so the caller can clean up safely.
 */
export async function settleBoth<A, B>(a: Promise<A>, b: Promise<B>): Promise<[A, B]> {
  const [ra, rb] = await Promise.allSettled([a, b]);
  if (ra.status === "rejected") throw ra.reason;
  if (rb.status === "rejected") throw rb.reason;
  return [ra.value, rb.value];
}
