import { createHash, randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import type { Readable } from "node:stream";
import { nullLogger } from "../../../util/index.js";
import { SpdyConnection } from "../spdy-connection.js";

/** The answer to a SPDY upgrade request: a connection on 101, else the status and body. */
export type SpdyDialResult =
  | { status: 101; headers: Record<string, string>; conn: SpdyConnection; socket: Socket }
  | { status: number; headers: Record<string, string>; body: string };

/**
 * Dials `path` on a plain-HTTP test server the way kubectl's SPDY round tripper does:
 * `Upgrade: SPDY/3.1` with one `X-Stream-Protocol-Version` line per offered protocol. On 101
 * returns a client-role SpdyConnection over the socket. The caller destroys the socket.
 */
export async function dialSpdy(
  port: number,
  path: string,
  protocols: readonly string[],
  method = "POST",
): Promise<SpdyDialResult> {
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(port, "127.0.0.1", () => {
      s.off("error", reject);
      resolve(s);
    });
    s.once("error", reject);
  });
  const lines = [
    `${method} ${path} HTTP/1.1`,
    `Host: 127.0.0.1:${port}`,
    "Content-Length: 0",
    "Connection: Upgrade",
    "Upgrade: SPDY/3.1",
    ...protocols.map((p) => `X-Stream-Protocol-Version: ${p}`),
  ];
  socket.write(lines.join("\r\n") + "\r\n\r\n");
  let buf = Buffer.alloc(0);
  const headEnd = await new Promise<number>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const i = buf.indexOf("\r\n\r\n");
      if (i >= 0) {
        socket.off("data", onData);
        socket.off("close", onClose);
        socket.pause();
        resolve(i);
      }
    };
    const onClose = (): void => {
      reject(new Error("connection closed before the upgrade answer"));
    };
    socket.on("data", onData);
    socket.once("close", onClose);
  });
  const [statusLine = "", ...headerLines] = buf.subarray(0, headEnd).toString().split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers: Record<string, string> = {};
  for (const l of headerLines) {
    const i = l.indexOf(":");
    headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = buf.subarray(headEnd + 4);
  if (status !== 101) {
    const len = Number(headers["content-length"] ?? "0");
    let body = rest;
    socket.resume();
    while (body.length < len) {
      const more = await new Promise<Buffer | undefined>((resolve) => {
        socket.once("data", resolve);
        socket.once("end", () => {
          resolve(undefined);
        });
      });
      if (more === undefined) break;
      body = Buffer.concat([body, more]);
    }
    socket.destroy();
    return { status, headers, body: body.toString() };
  }
  const conn = new SpdyConnection({
    role: "client",
    logger: nullLogger,
    transport: {
      write: (data, cb) => {
        if (socket.destroyed) cb(new Error("socket closed"));
        else socket.write(data, cb);
      },
      end: () => {
        socket.end();
      },
    },
  });
  socket.on("data", (c: Buffer) => {
    conn.receive(c);
  });
  socket.once("close", () => {
    conn.transportClosed();
  });
  socket.on("error", () => undefined);
  if (rest.length > 0) conn.receive(rest);
  socket.resume();
  return { status, headers, conn, socket };
}

/**
 * A minimal websocket client (RFC 6455) as kubectl's tunnelling dialer uses it: the `ws` client
 * refuses `SPDY/3.1+portforward.k8s.io` (not a token), so the handshake and framing are done
 * here. Client frames are masked; messages arrive through `onMessage`.
 */
export class RawWebSocket {
  readonly socket: Socket;
  readonly protocol: string;
  readonly closed: Promise<void>;
  onMessage: (data: Buffer) => void = () => undefined;
  #buf = Buffer.alloc(0);
  #parts: Buffer[] = [];

  private constructor(socket: Socket, protocol: string, rest: Buffer) {
    this.socket = socket;
    this.protocol = protocol;
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        resolve();
      }),
    );
    socket.on("data", (c: Buffer) => {
      this.#receive(c);
    });
    socket.on("error", () => undefined);
    if (rest.length > 0)
      queueMicrotask(() => {
        this.#receive(rest);
      });
    socket.resume();
  }

  /** Connects and completes the handshake offering `protocol`; rejects on a non-101 answer. */
  static async dial(port: number, path: string, protocol: string): Promise<RawWebSocket> {
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(port, "127.0.0.1", () => {
        s.off("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
    const key = randomBytes(16).toString("base64");
    socket.write(
      [
        `GET ${path} HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Version: 13",
        `Sec-WebSocket-Key: ${key}`,
        `Sec-WebSocket-Protocol: ${protocol}`,
      ].join("\r\n") + "\r\n\r\n",
    );
    let buf = Buffer.alloc(0);
    const headEnd = await new Promise<number>((resolve, reject) => {
      const onData = (c: Buffer): void => {
        buf = Buffer.concat([buf, c]);
        const i = buf.indexOf("\r\n\r\n");
        if (i >= 0) {
          socket.off("data", onData);
          socket.pause();
          resolve(i);
        }
      };
      socket.on("data", onData);
      socket.once("close", () => {
        reject(new Error("connection closed before the upgrade answer"));
      });
    });
    const head = buf.subarray(0, headEnd).toString();
    const accept = createHash("sha1")
      .update(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
      .digest("base64");
    if (!head.startsWith("HTTP/1.1 101") || !head.includes(`Sec-WebSocket-Accept: ${accept}`)) {
      socket.destroy();
      throw new Error(`websocket upgrade refused: ${head}`);
    }
    const m = /Sec-WebSocket-Protocol: (.*)/i.exec(head);
    return new RawWebSocket(socket, m?.[1]?.trim() ?? "", buf.subarray(headEnd + 4));
  }

  /** Sends one masked binary message. */
  send(data: Buffer, cb?: (err?: Error | null) => void): void {
    this.#sendFrame(0x2, data, cb);
  }

  /** Sends a close frame with `code`; the server answers and closes the TCP connection. */
  close(code: number): void {
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code, 0);
    this.#sendFrame(0x8, p);
  }

  #sendFrame(opcode: number, data: Buffer, cb?: (err?: Error | null) => void): void {
    if (this.socket.destroyed) {
      cb?.(new Error("socket closed"));
      return;
    }
    const len = data.length;
    const head =
      len < 126
        ? Buffer.from([0x80 | opcode, 0x80 | len])
        : len < 65536
          ? Buffer.from([0x80 | opcode, 0x80 | 126, len >> 8, len & 0xff])
          : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), u64(len)]);
    const mask = randomBytes(4);
    const masked = Buffer.alloc(len);
    for (let i = 0; i < len; i++) masked[i] = data.readUInt8(i) ^ mask.readUInt8(i % 4);
    this.socket.write(Buffer.concat([head, mask, masked]), cb);
  }

  #receive(chunk: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, chunk]);
    for (;;) {
      if (this.#buf.length < 2) return;
      const b0 = this.#buf.readUInt8(0);
      let len = this.#buf.readUInt8(1) & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.#buf.length < 4) return;
        len = this.#buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.#buf.length < 10) return;
        len = Number(this.#buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.#buf.length < off + len) return;
      const payload = this.#buf.subarray(off, off + len);
      this.#buf = this.#buf.subarray(off + len);
      const opcode = b0 & 0x0f;
      if (opcode === 0x8) {
        this.socket.end();
        return;
      }
      if (opcode === 0x9) {
        this.#sendFrame(0xa, Buffer.from(payload));
        continue;
      }
      if (opcode === 0x0 || opcode === 0x1 || opcode === 0x2) {
        this.#parts.push(Buffer.from(payload));
        if ((b0 & 0x80) !== 0) this.onMessage(Buffer.concat(this.#parts.splice(0)));
      }
    }
  }
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n), 0);
  return b;
}

/**
 * Opens a websocket with `SPDY/3.1+portforward.k8s.io` (KA-PF-4) and runs a client-role
 * SpdyConnection inside it. Outgoing bytes are cut into messages of `chunkBytes` so that
 * message and frame boundaries differ, as the protocol allows.
 */
export async function dialTunnelledSpdy(
  port: number,
  path: string,
  chunkBytes = 7,
): Promise<{ conn: SpdyConnection; ws: RawWebSocket }> {
  const ws = await RawWebSocket.dial(port, path, "SPDY/3.1+portforward.k8s.io");
  const conn = new SpdyConnection({
    role: "client",
    logger: nullLogger,
    transport: {
      write: (data, cb) => {
        for (let off = 0; off < data.length; off += chunkBytes) {
          const last = off + chunkBytes >= data.length;
          ws.send(data.subarray(off, off + chunkBytes), last ? cb : undefined);
        }
      },
      end: () => {
        ws.close(1000);
      },
    },
  });
  ws.onMessage = (data) => {
    conn.receive(data);
  };
  // `closed` never rejects.
  void ws.closed.then(() => {
    conn.transportClosed();
  });
  return { conn, ws };
}

/** Reads a readable to its end. */
export async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
