/** `podrun image import|ls|rm|prune`. */
export function imageCommand(args: string[]): Promise<number> {
  return Promise.reject(new Error(`image ${args.join(" ")}: being wired`));
}
