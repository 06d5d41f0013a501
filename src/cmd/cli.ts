/** The small kubectl: get, describe, apply, delete, logs. */
export function cliCommand(argv: string[]): Promise<number> {
  return Promise.reject(new Error(`${argv.join(" ")}: being wired`));
}
