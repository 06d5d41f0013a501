import { isAlreadyExists, isConflict, isNotFound } from "../api/index.js";
import type { Logger, WorkQueue } from "../util/index.js";

/**
 * One controller worker (STYLE.md §6): takes a key, reconciles it, then `forget`s it on
 * success or re-queues it with back-off on error. The queue guarantees that a key is never
 * reconciled by two workers at once. Returns once the queue is shut down or `signal` aborts.
 */
export async function runWorker(
  queue: WorkQueue,
  reconcile: (key: string, signal: AbortSignal) => Promise<void>,
  logger: Logger,
  signal: AbortSignal,
): Promise<void> {
  for (;;) {
    const key = await queue.get(signal);
    if (key === undefined) return;
    try {
      await reconcile(key, signal);
      queue.forget(key);
    } catch (err) {
      if (signal.aborted) return;
      // Conflicts and races with other writers (or an owner going away) are expected; the
      // back-off retry settles them, so only unexpected failures are logged.
      if (!isConflict(err) && !isAlreadyExists(err) && !isNotFound(err)) {
        logger.warn("reconcile failed", { key, err });
      }
      queue.requeueWithBackoff(key, signal);
    } finally {
      queue.done(key);
    }
  }
}
