import type { ContainerId, ExecResult } from "../../../runtime/index.js";
import type { ProbeExec } from "../probes.js";

/** A ProbeExec answering from a script; records every call. */
export class FakeProbeExec implements ProbeExec {
  readonly calls: { id: ContainerId; argv: string[]; timeoutMs: number }[] = [];
  /** Next answers, consumed in order; when empty, `fallback` answers. */
  readonly script: (Partial<ExecResult> | Error)[] = [];
  fallback: Partial<ExecResult> | Error = { exitCode: 0 };

  execSync(id: ContainerId, argv: string[], timeoutMs: number): Promise<ExecResult> {
    this.calls.push({ id, argv, timeoutMs });
    const next = this.script.shift() ?? this.fallback;
    if (next instanceof Error) return Promise.reject(next);
    return Promise.resolve({
      exitCode: next.exitCode ?? 0,
      stdout: next.stdout ?? Buffer.alloc(0),
      stderr: next.stderr ?? Buffer.alloc(0),
      timedOut: next.timedOut ?? false,
    });
  }
}

/** An event recorded by {@link FakeRecorder}. */
export interface RecordedEvent {
  fieldPath: string | undefined;
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** An EventRecorder that keeps events in memory. */
export class FakeRecorder {
  readonly events: RecordedEvent[] = [];
  event(
    _pod: unknown,
    fieldPath: string | undefined,
    type: "Normal" | "Warning",
    reason: string,
    message: string,
  ): void {
    this.events.push({ fieldPath, type, reason, message });
  }
}
