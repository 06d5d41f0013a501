// A bare HTTPS client on the admin kubeconfig, for e2e drivers that need the raw wire (exact
// status codes and bodies, malformed requests, many requests in flight).
import { readFileSync } from "node:fs";
import { Agent, request } from "node:https";
import { parse as parseYaml } from "yaml";

/** Server URL, a keep-alive agent with the cluster CA and client certificate, and auth headers. */
export interface Conn {
  server: URL;
  agent: Agent;
  headers: Record<string, string>;
}

export interface Reply {
  status: number;
  body: string;
}

/** Size of the pieces a request body is written in (see {@link call}). */
const CHUNK_BYTES = 64 * 1024;

/** Connection details of `kubeconfig`'s first cluster and user (certificate and token). */
export function connect(kubeconfig: string, maxSockets: number): Conn {
  const kc = parseYaml(readFileSync(kubeconfig, "utf8")) as {
    clusters: { cluster: Record<string, string> }[];
    users: { user: Record<string, string> }[];
  };
  const cluster = kc.clusters[0]!.cluster;
  const user = kc.users[0]!.user;
  const b64 = (v: string | undefined): string | undefined =>
    v === undefined ? undefined : Buffer.from(v, "base64").toString();
  const agent = new Agent({
    keepAlive: true,
    maxSockets,
    ca: b64(cluster["certificate-authority-data"]),
    cert: b64(user["client-certificate-data"]),
    key: b64(user["client-key-data"]),
  });
  const headers: Record<string, string> = {};
  if (user["token"] !== undefined) headers["Authorization"] = `Bearer ${user["token"]}`;
  return { server: new URL(cluster["server"]!), agent, headers };
}

/**
 * One request. A server may answer an oversized body before reading all of it (and then close
 * the connection), so an answer that arrived wins over a later write error, and the body is sent
 * in chunks that stop once the answer is in: a write after the server closed would fail
 * (EPIPE) outside any listener once the request is over.
 */
export function call(
  conn: Conn,
  method: string,
  path: string,
  body?: string | Buffer,
  contentType = "application/json",
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const state = { answered: false };
    const req = request(
      new URL(path, conn.server),
      {
        method,
        agent: conn.agent,
        headers: {
          ...conn.headers,
          Accept: "application/json",
          ...(body === undefined ? {} : { "Content-Type": contentType }),
        },
      },
      (res) => {
        state.answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
        res.on("error", reject);
      },
    );
    req.on("error", (err) => {
      if (!state.answered) reject(err);
    });
    void (async () => {
      const bytes = body === undefined ? undefined : Buffer.from(body);
      for (
        let at = 0;
        bytes !== undefined && at < bytes.length && !state.answered;
        at += CHUNK_BYTES
      ) {
        if (!req.write(bytes.subarray(at, at + CHUNK_BYTES))) {
          await new Promise<void>((done) => {
            const go = (): void => {
              req.off("drain", go);
              req.off("close", go);
              done();
            };
            req.on("drain", go);
            req.on("close", go);
          });
        }
        if (req.destroyed) return;
      }
      if (!state.answered) req.end();
    })();
  });
}
