/** Structured fields attached to a log line. */
export type LogFields = Record<string, unknown>;

/** Structured logger: an event phrase plus fields. Safe for concurrent use. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  with(fields: LogFields): Logger;
}

/** Log levels in increasing severity. */
export type LogLevel = "debug" | "info" | "warn" | "error";
const LEVELS: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Options of {@link StreamLogger}. */
export interface StreamLoggerOptions {
  /** Where lines go. @default process.stderr */
  write?: (line: string) => void;
  /** Lowest level written. @default "info" */
  level?: LogLevel;
  /** Fields on every line. @default {} */
  fields?: LogFields;
}

/** A Logger writing one logfmt-like line per call. */
export class StreamLogger implements Logger {
  readonly #write: (line: string) => void;
  readonly #levelName: LogLevel;
  readonly #level: number;
  readonly #fields: LogFields;

  constructor(opts: StreamLoggerOptions = {}) {
    this.#write = opts.write ?? ((line) => process.stderr.write(line));
    this.#levelName = opts.level ?? "info";
    this.#level = LEVELS[this.#levelName];
    this.#fields = opts.fields ?? {};
  }

  debug(msg: string, fields?: LogFields): void {
    this.#log("debug", msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.#log("info", msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.#log("warn", msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.#log("error", msg, fields);
  }
  with(fields: LogFields): Logger {
    return new StreamLogger({
      write: this.#write,
      level: this.#levelName,
      fields: { ...this.#fields, ...fields },
    });
  }

  #log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (LEVELS[level] < this.#level) return;
    const all = { ...this.#fields, ...fields };
    const parts = [new Date().toISOString(), level, JSON.stringify(msg)];
    for (const [k, v] of Object.entries(all)) parts.push(`${k}=${formatValue(v)}`);
    this.#write(parts.join(" ") + "\n");
  }
}

function formatValue(v: unknown): string {
  if (v instanceof Error) {
    const cause = v.cause instanceof Error ? `: ${v.cause.message}` : "";
    return JSON.stringify(v.message + cause);
  }
  if (typeof v === "string") return /^[\w./:@-]+$/.test(v) ? v : JSON.stringify(v);
  return v === undefined ? "undefined" : JSON.stringify(v);
}

/** A Logger that drops everything (unit tests). */
export const nullLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
  with: () => nullLogger,
};
