import { ApiError, badRequest } from "../../api/index.js";
import type { StreamFlags } from "./types.js";

/** The streaming subresources of a pod. */
export type StreamVerb = "exec" | "attach" | "portforward";

/** A parsed `/api/v1/namespaces/<ns>/pods/<name>/<verb>` request. */
export interface StreamTarget extends StreamFlags {
  verb: StreamVerb;
  namespace: string;
  pod: string;
  container?: string;
  /** argv of an exec; empty otherwise. */
  command: string[];
  /** The `ports` of a port-forward URL; empty means any port (kubectl sends none). */
  ports: number[];
}

const PATH = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|attach|portforward)$/;

/** Go's strconv.ParseBool, which upstream's query decoding uses. */
function isTrue(v: string | undefined): boolean {
  return v !== undefined && ["1", "t", "T", "true", "TRUE", "True"].includes(v);
}

/**
 * Parses the request line of a streaming upgrade. Returns undefined when the path is not a
 * streaming subresource; throws ApiError BadRequest for an exec without a command or without
 * any stream, and MethodNotAllowed for methods other than GET and POST.
 */
export function parseStreamRequest(method: string, rawUrl: string): StreamTarget | undefined {
  const url = new URL(rawUrl, "https://localhost");
  const m = PATH.exec(url.pathname);
  if (m === null) return undefined;
  const [, ns, pod, verb] = m as unknown as [string, string, string, StreamVerb];
  if (method !== "GET" && method !== "POST") {
    throw new ApiError(
      "MethodNotAllowed",
      "the server does not allow this method on the requested resource",
    );
  }
  const q = url.searchParams;
  const tty = isTrue(q.get("tty") ?? undefined);
  const target: StreamTarget = {
    verb,
    namespace: decodeURIComponent(ns),
    pod: decodeURIComponent(pod),
    command: q.getAll("command"),
    stdin: isTrue(q.get("stdin") ?? undefined),
    stdout: isTrue(q.get("stdout") ?? undefined),
    // With a TTY, stderr is merged into stdout (kubectl drops stderr=true with -t).
    stderr: !tty && isTrue(q.get("stderr") ?? undefined),
    tty,
    ports: [],
  };
  const container = q.get("container");
  if (container !== null && container !== "") target.container = container;
  if (verb === "portforward") {
    for (const p of q.getAll("ports").flatMap((v) => v.split(","))) {
      const port = Number(p);
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        throw badRequest(`invalid port "${p}"`);
      }
      target.ports.push(port);
    }
    return target;
  }
  if (verb === "exec" && target.command.length === 0) {
    throw badRequest("you must specify at least one command for the container");
  }
  if (!target.stdin && !target.stdout && !target.stderr) {
    throw badRequest("you must specify at least 1 of stdin, stdout, stderr");
  }
  return target;
}
