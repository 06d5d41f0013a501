import { runCli } from "../cli/index.js";

/** The small kubectl: get, describe, apply, delete, logs. */
export function cliCommand(argv: string[]): Promise<number> {
  return runCli(argv, { stdout: process.stdout, stderr: process.stderr, env: process.env });
}
