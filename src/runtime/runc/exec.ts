import { spawn } from "node:child_process";
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
  const res = await new Promise<CommandResult>((resolve, reject) => {
    const child = spawn(cmd, args, {
      stdio: [opts.input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal, killSignal: "SIGKILL" }),
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on("data", (d: Buffer) => out.push(d));
    child.stderr?.on("data", (d: Buffer) => err.push(d));
    child.on("error", (e) => {
      reject(new RuntimeError("Failed", `run ${cmd}`, { cause: e, command }));
    });
    child.on("close", (code, sig) => {
      resolve({
        code: code ?? (sig === null ? -1 : 128),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
  if (res.code !== 0 && opts.check !== false) {
    throw new RuntimeError("Failed", `${cmd} ${args[0] ?? ""} exited with ${res.code}`, {
      command,
      exitCode: res.code,
      stderr: res.stderr.slice(-2000),
    });
  }
  return res;
}
