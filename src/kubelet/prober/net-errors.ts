/**
 * Go-style texts for Node socket errors, so probe and hook messages read like upstream's
 * (`dial tcp 10.1.0.7:8080: connect: connection refused`).
 */

const SYSCALL_TEXT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  EHOSTUNREACH: "no route to host",
  ENETUNREACH: "network is unreachable",
  ECONNRESET: "connection reset by peer",
  ETIMEDOUT: "connection timed out",
  EADDRNOTAVAIL: "cannot assign requested address",
  EPIPE: "broken pipe",
};

/** `host:port` with IPv6 hosts bracketed (Go's net.JoinHostPort). */
export function joinHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The code of a Node system error, if any. */
export function errCode(err: unknown): string | undefined {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === "string" ? code : undefined;
  }
  return undefined;
}

/** A dial failure as Go prints it: `dial tcp <addr>: connect: <text>`. */
export function dialErrorText(addr: string, err: unknown): string {
  const code = errCode(err);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN") {
    const host = addr.replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
    return `dial tcp: lookup ${host}: no such host`;
  }
  const text = code === undefined ? undefined : SYSCALL_TEXT[code];
  if (text !== undefined) return `dial tcp ${addr}: connect: ${text}`;
  const msg = err instanceof Error ? err.message : String(err);
  return `dial tcp ${addr}: ${msg}`;
}

/** A read failure on an established connection, as Go prints it. */
export function readErrorText(local: string, remote: string, err: unknown): string {
  const code = errCode(err);
  const text = code === undefined ? undefined : SYSCALL_TEXT[code];
  if (text !== undefined) return `read tcp ${local}->${remote}: read: ${text}`;
  return err instanceof Error ? err.message : String(err);
}
