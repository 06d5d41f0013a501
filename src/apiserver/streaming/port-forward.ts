import type { Duplex } from "node:stream";
import type { Logger } from "../../util/index.js";
import type { SpdyStream } from "./spdy-connection.js";
import type { StreamBackend } from "./types.js";

/** The error and data streams of one forwarded connection (KA-PF-2). */
interface StreamPair {
  error?: SpdyStream;
  data?: SpdyStream;
  isStarted: boolean;
}

/** Options of {@link PortForwardSession}. */
export interface PortForwardSessionOptions {
  backend: StreamBackend;
  namespace: string;
  pod: string;
  /** Ports the URL allowed; empty allows any. */
  allowedPorts: readonly number[];
  /** Aborts when the client went away. */
  signal: AbortSignal;
  logger: Logger;
}

/**
 * The port-forward side of one SPDY connection (KA-PF-2, KA-PF-3): pairs the client's error and
 * data streams by `requestid`, connects each pair to its `port` inside the pod through the
 * backend and copies bytes both ways. A connect failure is written as text on the pair's error
 * stream. Any number of pairs, ports and concurrent connections. `wait()` resolves once every
 * forward started so far has ended (pod sockets destroyed).
 */
export class PortForwardSession {
  readonly #o: PortForwardSessionOptions;
  readonly #pairs = new Map<string, StreamPair>();
  readonly #running = new Set<Promise<void>>();

  constructor(opts: PortForwardSessionOptions) {
    this.#o = opts;
  }

  /** Forwards still running. */
  get active(): number {
    return this.#running.size;
  }

  /** Takes one stream the client opened. */
  add(stream: SpdyStream): void {
    const type = stream.headers["streamtype"];
    const requestId = stream.headers["requestid"];
    if ((type !== "error" && type !== "data") || requestId === undefined) {
      this.#o.logger.debug("port-forward stream refused", { headers: stream.headers });
      stream.reset();
      return;
    }
    let pair = this.#pairs.get(requestId);
    if (pair === undefined) {
      pair = { isStarted: false };
      this.#pairs.set(requestId, pair);
    }
    if (pair[type] !== undefined) {
      stream.reset();
      return;
    }
    pair[type] = stream;
    if (type === "error") {
      // The client half-closes the error stream at once and never writes to it.
      stream.resume();
    }
    const { error, data } = pair;
    if (error !== undefined && data !== undefined && !pair.isStarted) {
      pair.isStarted = true;
      const p: Promise<void> = this.#forward(requestId, error, data).finally(() => {
        this.#running.delete(p);
        this.#pairs.delete(requestId);
      });
      this.#running.add(p);
    }
  }

  /** Resolves once every forward started so far has ended. */
  async wait(): Promise<void> {
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  async #forward(requestId: string, error: SpdyStream, data: SpdyStream): Promise<void> {
    const { backend, namespace, pod, signal, logger } = this.#o;
    const portText = data.headers["port"] ?? "";
    const port = Number(portText);
    let socket: Duplex;
    try {
      if (!/^\d+$/.test(portText) || port < 1 || port > 65535) {
        throw new Error(`invalid port "${portText}"`);
      }
      if (this.#o.allowedPorts.length > 0 && !this.#o.allowedPorts.includes(port)) {
        throw new Error(`port ${port} was not requested`);
      }
      socket = await backend.portForward({ namespace, pod, port, signal });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      logger.info("port-forward connect failed", { pod: `${namespace}/${pod}`, port, err });
      // KA-PF-3: the text on the error stream is what kubectl prints.
      error.end(Buffer.from(`error forwarding port ${port} to pod ${pod}, uid : ${reason}`));
      data.end();
      return;
    }
    if (data.destroyed) {
      socket.destroy();
      error.end();
      return;
    }
    logger.debug("port-forward connected", { pod: `${namespace}/${pod}`, port, requestId });
    await new Promise<void>((resolve) => {
      let open = 2;
      const done = (): void => {
        if (--open === 0) resolve();
      };
      socket.on("error", (err) => {
        logger.debug("port-forward pod connection error", { port, err });
      });
      // A client FIN half-closes the pod connection; the pod closing sends FIN to the client.
      data.pipe(socket);
      socket.pipe(data);
      data.once("close", () => {
        // RST from the client (its local socket closed) or both halves done.
        socket.destroy();
        done();
      });
      socket.once("close", () => {
        if (!data.writableEnded && !data.destroyed) data.end();
        done();
      });
    });
    if (!error.destroyed && !error.writableEnded) error.end();
  }
}
