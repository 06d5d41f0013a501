/** util: clock, logger, back-off maths, abort helpers, tasks, keyed work queue, process spawner. */
export { SystemClock, abortReason, isAbortError, type Clock } from "./clock.js";
export { FakeClock } from "./fake-clock.js";
export { StreamLogger, nullLogger, type Logger, type LogFields, type LogLevel } from "./logger.js";
export { TaskGroup, settleBoth } from "./tasks.js";
export { BackOff, type BackOffOptions } from "./backoff.js";
export { WorkQueue } from "./work-queue.js";
export {
  Spawner,
  SpawnError,
  SPAWN_HELPER_MARK,
  spawner,
  type ProcessResult,
  type SpawnOptions,
  type SpawnedProcess,
} from "./spawner.js";
