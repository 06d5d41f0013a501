import { Duplex } from "node:stream";
import type { Logger } from "../../util/index.js";
import {
  encodeDataFrame,
  encodeGoAway,
  encodePing,
  encodeRstStream,
  encodeSynReply,
  encodeSynStream,
  MAX_DATA_FRAME_BYTES,
  RST_STATUS,
  SpdyFrameParser,
  SpdyHeaderCompressor,
  SpdyHeaderDecompressor,
  type SpdyFrame,
  type SpdyHeaders,
} from "./spdy-frames.js";

/**
 * The byte pipe a SPDY connection runs over: the upgraded socket itself, or websocket binary
 * messages (KA-PF-4). `write` calls back once the bytes were handed to the OS (backpressure).
 */
export interface ByteTransport {
  write(data: Buffer, cb: (err?: Error | null) => void): void;
  /** Graceful end: flush what was written, then close. */
  end(): void;
}

/** Options of {@link SpdyConnection}. */
export interface SpdyConnectionOptions {
  transport: ByteTransport;
  /** "server" answers every peer SYN_STREAM with a SYN_REPLY and echoes odd-id pings. */
  role: "client" | "server";
  /** Called for each stream the peer opens, once its headers are decoded. */
  onStream?: (stream: SpdyStream) => void;
  logger: Logger;
}

/**
 * A SPDY/3.1 connection (KA-SPDY-1..4): frames, header compression, streams, PING echo, GOAWAY.
 * No flow control (kubectl sends no WINDOW_UPDATE and needs none, KA-SPDY-4). The owner feeds
 * transport bytes into `receive` and calls `transportClosed` when the transport goes away, which
 * destroys every stream. Not for concurrent use from several transports.
 */
export class SpdyConnection {
  readonly #o: SpdyConnectionOptions;
  readonly #parser = new SpdyFrameParser();
  readonly #compressor = new SpdyHeaderCompressor();
  readonly #decompressor = new SpdyHeaderDecompressor();
  readonly #streams = new Map<number, SpdyStream>();
  readonly #queue: SpdyFrame[] = [];
  #draining = false;
  #nextStreamId: number;
  #closed = false;
  #goAwayReceived = false;
  readonly #closedPromise: Promise<void>;
  #resolveClosed: () => void = () => undefined;

  constructor(opts: SpdyConnectionOptions) {
    this.#o = opts;
    this.#nextStreamId = opts.role === "client" ? 1 : 2;
    this.#closedPromise = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });
  }

  /** Resolves once the transport closed (every stream is destroyed by then). */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  /** True once the transport closed. */
  get isClosed(): boolean {
    return this.#closed;
  }

  /** True once the peer sent GOAWAY. */
  get goAwayReceived(): boolean {
    return this.#goAwayReceived;
  }

  /** Streams not yet fully closed or reset. */
  get openStreams(): number {
    return this.#streams.size;
  }

  /** Feeds bytes from the transport. A protocol error closes the connection. */
  receive(chunk: Buffer): void {
    if (this.#closed) return;
    try {
      this.#queue.push(...this.#parser.push(chunk));
    } catch (err) {
      this.#o.logger.warn("spdy protocol error", { err });
      this.#o.transport.end();
      this.transportClosed();
      return;
    }
    if (!this.#draining) {
      this.#draining = true;
      // Observed here: #drain handles its own failures by closing the connection.
      void this.#drain();
    }
  }

  /** The transport closed: destroy every stream. Idempotent. */
  transportClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    for (const s of [...this.#streams.values()]) s.destroy();
    this.#streams.clear();
    this.#decompressor.close();
    this.#resolveClosed();
  }

  /** Opens a stream (client role) and resolves with it once the peer replied. */
  async openStream(headers: SpdyHeaders, opts: { fin?: boolean } = {}): Promise<SpdyStream> {
    if (this.#closed) throw new Error("open spdy stream: connection closed");
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const stream = new SpdyStream(this, id, headers);
    this.#streams.set(id, stream);
    const fin = opts.fin ?? false;
    this.writeFrame(encodeSynStream(id, this.#compressor.compress(headers), fin));
    if (fin) stream.markLocalFin();
    await stream.replied;
    return stream;
  }

  /** Sends GOAWAY (status OK) naming the last stream the peer opened. */
  goAway(): void {
    let last = 0;
    for (const id of this.#streams.keys()) if (id % 2 !== this.#nextStreamId % 2) last = id;
    this.writeFrame(encodeGoAway(last, 0));
  }

  /** Sends a PING with `id`. */
  ping(id: number): void {
    this.writeFrame(encodePing(id));
  }

  /** Writes one encoded frame unless the connection closed. @internal */
  writeFrame(frame: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.#closed) {
      cb?.(new Error("spdy connection closed"));
      return;
    }
    this.#o.transport.write(frame, cb ?? noop);
  }

  /** Sends a SYN_REPLY for `stream`. @internal */
  reply(stream: SpdyStream, headers: SpdyHeaders): void {
    this.writeFrame(encodeSynReply(stream.id, this.#compressor.compress(headers), false));
  }

  /** Forgets a stream that is done. @internal */
  forget(id: number): void {
    this.#streams.delete(id);
  }

  async #drain(): Promise<void> {
    try {
      for (let f = this.#queue.shift(); f !== undefined; f = this.#queue.shift()) {
        await this.#handle(f);
        if (this.#closed) return;
      }
    } catch (err) {
      this.#o.logger.warn("spdy connection failed", { err });
      this.#o.transport.end();
      this.transportClosed();
    } finally {
      this.#draining = false;
    }
  }

  async #handle(f: SpdyFrame): Promise<void> {
    switch (f.type) {
      case "data": {
        this.#streams.get(f.streamId)?.receiveData(f.data, f.fin);
        return;
      }
      case "syn_stream": {
        // Header blocks must be inflated in order even for streams we refuse: they share one
        // zlib context.
        const headers = await this.#decompressor.decompress(f.headerBlock);
        if (this.#closed) return;
        if (this.#streams.has(f.streamId) || this.#goAwayReceived) {
          this.writeFrame(encodeRstStream(f.streamId, RST_STATUS.protocolError));
          return;
        }
        const stream = new SpdyStream(this, f.streamId, headers);
        this.#streams.set(f.streamId, stream);
        if (this.#o.role === "server") stream.reply({});
        if (f.fin) stream.receiveData(Buffer.alloc(0), true);
        this.#o.onStream?.(stream);
        return;
      }
      case "syn_reply": {
        await this.#decompressor.decompress(f.headerBlock);
        const s = this.#streams.get(f.streamId);
        s?.markReplied();
        if (f.fin) s?.receiveData(Buffer.alloc(0), true);
        return;
      }
      case "headers": {
        await this.#decompressor.decompress(f.headerBlock);
        if (f.fin) this.#streams.get(f.streamId)?.receiveData(Buffer.alloc(0), true);
        return;
      }
      case "rst_stream": {
        this.#streams.get(f.streamId)?.receiveReset();
        return;
      }
      case "ping": {
        // Pings with the peer's parity are requests (echo them, KA-SPDY-4); ours are answers.
        const isPeerPing = (f.id % 2 === 1) === (this.#o.role === "server");
        if (isPeerPing) this.writeFrame(encodePing(f.id));
        return;
      }
      case "goaway": {
        this.#goAwayReceived = true;
        return;
      }
      case "ignored":
        return;
    }
  }
}

function noop(): void {
  // Frames written without a callback: failures surface as the transport closing.
}

/**
 * One SPDY stream as a Node Duplex: writes become DATA frames, `end()` sends FIN, incoming
 * DATA is readable and a peer FIN ends the readable side. `destroy()` before both sides
 * finished sends RST_STREAM (CANCEL); a peer RST_STREAM destroys the stream without an error.
 * `headers` are the SYN_STREAM headers (names lower-case).
 */
export class SpdyStream extends Duplex {
  readonly id: number;
  readonly headers: SpdyHeaders;
  /** Resolves when the peer's SYN_REPLY arrived (streams we opened). */
  readonly replied: Promise<void>;
  readonly #conn: SpdyConnection;
  #resolveReplied: () => void = () => undefined;
  #localFin = false;
  #remoteFin = false;
  #reset = false;

  /** @internal Created by {@link SpdyConnection}. */
  constructor(conn: SpdyConnection, id: number, headers: SpdyHeaders) {
    super({ allowHalfOpen: true });
    this.#conn = conn;
    this.id = id;
    this.headers = headers;
    this.replied = new Promise((resolve) => {
      this.#resolveReplied = resolve;
    });
    // Stream failures are transport failures (connection gone) and are handled by whoever owns
    // the connection; a stream without its own listener must not crash the process.
    this.on("error", () => undefined);
  }

  /** True once the peer reset the stream or it was destroyed before finishing. */
  get isReset(): boolean {
    return this.#reset;
  }

  /** Sends SYN_REPLY with `headers`. */
  reply(headers: SpdyHeaders): void {
    this.#conn.reply(this, headers);
  }

  /** Sends RST_STREAM with `status` and destroys the stream. */
  reset(status: number = RST_STATUS.cancel): void {
    if (!this.#reset && !(this.#localFin && this.#remoteFin)) {
      this.#reset = true;
      this.#conn.writeFrame(encodeRstStream(this.id, status));
    }
    this.destroy();
  }

  /** @internal */
  markReplied(): void {
    this.#resolveReplied();
  }

  /** @internal */
  markLocalFin(): void {
    this.#localFin = true;
    this.#maybeDone();
  }

  /** @internal */
  receiveData(data: Buffer, fin: boolean): void {
    if (this.#remoteFin || this.destroyed) return;
    if (data.length > 0) this.push(data);
    if (fin) {
      this.#remoteFin = true;
      this.push(null);
      this.#maybeDone();
    }
  }

  /** @internal */
  receiveReset(): void {
    this.#reset = true;
    this.destroy();
  }

  override _read(): void {
    // Data is pushed as frames arrive; there is no flow control to signal.
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.#reset) {
      cb(new Error(`write to reset spdy stream ${this.id}`));
      return;
    }
    for (let off = 0; off < chunk.length; off += MAX_DATA_FRAME_BYTES) {
      const part = chunk.subarray(off, off + MAX_DATA_FRAME_BYTES);
      const isLast = off + MAX_DATA_FRAME_BYTES >= chunk.length;
      this.#conn.writeFrame(encodeDataFrame(this.id, part, false), isLast ? cb : undefined);
    }
    if (chunk.length === 0) cb();
  }

  override _final(cb: (err?: Error | null) => void): void {
    if (this.#reset) {
      cb();
      return;
    }
    this.#localFin = true;
    this.#conn.writeFrame(encodeDataFrame(this.id, Buffer.alloc(0), true));
    cb();
    this.#maybeDone();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.#reset && !(this.#localFin && this.#remoteFin) && !this.#conn.isClosed) {
      this.#reset = true;
      this.#conn.writeFrame(encodeRstStream(this.id, RST_STATUS.cancel));
    }
    this.#conn.forget(this.id);
    this.#resolveReplied();
    cb(err);
  }

  #maybeDone(): void {
    // Both halves closed: the stream is finished and the connection need not track it.
    if (this.#localFin && this.#remoteFin) this.#conn.forget(this.id);
  }
}
