import { spawner, type ProcessResult } from "../../util/index.js";
import { RuntimeError } from "../errors.js";

/** Result of one finished command. */
export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  input?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
  /** When false, a non-zero exit resolves instead of throwing. @default true */
  check?: boolean;
}

/**
 * Runs `cmd args` to completion and collects its output. A non-zero exit (with `check`) or a
 * spawn failure throws RuntimeError "Failed" keeping the command, exit code and stderr tail.
 * Aborting the signal kills the process with SIGKILL.
 */
export async function runCommand(
  cmd: string,
  args: string[],
  opts: RunCommandOptions = {},
): Promise<CommandResult> {
  const command = [cmd, ...args];
  let r: ProcessResult;
  try {
    r = await spawner.run(cmd, args, {
      ...(opts.input === undefined ? {} : { input: opts.input }),
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
  } catch (e) {
    throw new RuntimeError("Failed", `run ${cmd}`, { cause: e, command });
  }
  // An aborted command was killed: the abort is what the caller needs to see.
  opts.signal?.throwIfAborted();
  const res: CommandResult = {
    code: r.code ?? (r.signal === null ? -1 : 128),
    stdout: r.stdout.toString(),
    stderr: r.stderr.toString(),
  };
  if (res.code !== 0 && opts.check !== false) {
    throw new RuntimeError("Failed", `${cmd} ${args[0] ?? ""} exited with ${res.code}`, {
      command,
      exitCode: res.code,
      stderr: res.stderr.slice(-2000),
    });
  }
  return res;
}
