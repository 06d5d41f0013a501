import { constants as zlibConstants, createInflate, type Inflate } from "node:zlib";
import { SPDY3_DICTIONARY } from "./spdy-dictionary.js";

/** A decoded SPDY/3 frame (KA-SPDY-2). Header blocks stay compressed until the connection reads them. */
export type SpdyFrame =
  | { type: "data"; streamId: number; fin: boolean; data: Buffer }
  | {
      type: "syn_stream";
      streamId: number;
      associatedId: number;
      fin: boolean;
      headerBlock: Buffer;
    }
  | { type: "syn_reply"; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: "headers"; streamId: number; fin: boolean; headerBlock: Buffer }
  | { type: "rst_stream"; streamId: number; status: number }
  | { type: "ping"; id: number }
  | { type: "goaway"; lastStreamId: number; status: number }
  | { type: "ignored"; controlType: number };

/** SPDY control frame types. */
const CONTROL = {
  synStream: 1,
  synReply: 2,
  rstStream: 3,
  settings: 4,
  ping: 6,
  goAway: 7,
  headers: 8,
  windowUpdate: 9,
} as const;

/** FLAG_FIN on data, SYN_STREAM, SYN_REPLY and HEADERS frames. */
const FLAG_FIN = 0x01;
const SPDY_VERSION = 3;
const FRAME_HEADER_BYTES = 8;
/** Largest payload a frame can carry (24-bit length). */
const MAX_FRAME_PAYLOAD_BYTES = 0xffffff;
/** Data frames are cut at this size so one big write does not hold up other streams. */
export const MAX_DATA_FRAME_BYTES = 64 * 1024;
const STREAM_ID_MASK = 0x7fffffff;

/** RST_STREAM status codes (SPDY/3 §2.6.3). */
export const RST_STATUS = {
  protocolError: 1,
  invalidStream: 2,
  refusedStream: 3,
  cancel: 5,
  internalError: 6,
  streamAlreadyClosed: 9,
} as const;

/**
 * Incremental SPDY/3 frame parser: feed it bytes as they arrive, in any split, and it returns
 * every complete frame. Throws RangeError on a frame that is not SPDY version 3. Not for
 * concurrent use; one per connection direction.
 */
export class SpdyFrameParser {
  #buf: Buffer = Buffer.alloc(0);

  /** Appends `chunk` and returns the frames completed by it, in order. */
  push(chunk: Buffer): SpdyFrame[] {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    const frames: SpdyFrame[] = [];
    while (this.#buf.length >= FRAME_HEADER_BYTES) {
      const length = this.#buf.readUIntBE(5, 3);
      if (this.#buf.length < FRAME_HEADER_BYTES + length) break;
      const head = this.#buf.subarray(0, FRAME_HEADER_BYTES);
      const payload = this.#buf.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
      this.#buf = this.#buf.subarray(FRAME_HEADER_BYTES + length);
      frames.push(decodeFrame(head, Buffer.from(payload)));
    }
    return frames;
  }
}

function decodeFrame(head: Buffer, payload: Buffer): SpdyFrame {
  const flags = head.readUInt8(4);
  const fin = (flags & FLAG_FIN) !== 0;
  if ((head.readUInt8(0) & 0x80) === 0) {
    return { type: "data", streamId: head.readUInt32BE(0) & STREAM_ID_MASK, fin, data: payload };
  }
  const version = head.readUInt16BE(0) & 0x7fff;
  if (version !== SPDY_VERSION) throw new RangeError(`unsupported spdy version ${version}`);
  const type = head.readUInt16BE(2);
  const need = (n: number): void => {
    if (payload.length < n) throw new RangeError(`spdy control frame ${type} too short`);
  };
  switch (type) {
    case CONTROL.synStream:
      need(10);
      return {
        type: "syn_stream",
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        associatedId: payload.readUInt32BE(4) & STREAM_ID_MASK,
        fin,
        headerBlock: payload.subarray(10),
      };
    case CONTROL.synReply:
      need(4);
      return {
        type: "syn_reply",
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        fin,
        headerBlock: payload.subarray(4),
      };
    case CONTROL.headers:
      need(4);
      return {
        type: "headers",
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        fin,
        headerBlock: payload.subarray(4),
      };
    case CONTROL.rstStream:
      need(8);
      return {
        type: "rst_stream",
        streamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        status: payload.readUInt32BE(4),
      };
    case CONTROL.ping:
      need(4);
      return { type: "ping", id: payload.readUInt32BE(0) };
    case CONTROL.goAway:
      need(8);
      return {
        type: "goaway",
        lastStreamId: payload.readUInt32BE(0) & STREAM_ID_MASK,
        status: payload.readUInt32BE(4),
      };
    default:
      // SETTINGS, WINDOW_UPDATE and unknown types: kubectl does not rely on flow control
      // (KA-SPDY-4), and SPDY/3 says to ignore unknown control frames.
      return { type: "ignored", controlType: type };
  }
}

function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD_BYTES) {
    throw new RangeError(`spdy control frame of ${payload.length} bytes is too large`);
  }
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt16BE(0x8000 | SPDY_VERSION, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt8(flags, 4);
  head.writeUIntBE(payload.length, 5, 3);
  return Buffer.concat([head, payload]);
}

/** One DATA frame; callers split payloads larger than {@link MAX_DATA_FRAME_BYTES}. */
export function encodeDataFrame(streamId: number, data: Buffer, fin: boolean): Buffer {
  if (data.length > MAX_FRAME_PAYLOAD_BYTES) {
    throw new RangeError(`spdy data frame of ${data.length} bytes is too large`);
  }
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  head.writeUInt8(fin ? FLAG_FIN : 0, 4);
  head.writeUIntBE(data.length, 5, 3);
  return Buffer.concat([head, data]);
}

/** A SYN_STREAM frame with priority 0 and no associated stream. */
export function encodeSynStream(streamId: number, headerBlock: Buffer, fin: boolean): Buffer {
  const p = Buffer.alloc(10);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  return controlFrame(CONTROL.synStream, fin ? FLAG_FIN : 0, Buffer.concat([p, headerBlock]));
}

/** A SYN_REPLY frame. */
export function encodeSynReply(streamId: number, headerBlock: Buffer, fin: boolean): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  return controlFrame(CONTROL.synReply, fin ? FLAG_FIN : 0, Buffer.concat([p, headerBlock]));
}

/** A RST_STREAM frame. */
export function encodeRstStream(streamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(streamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(CONTROL.rstStream, 0, p);
}

/** A PING frame (the answer to a ping repeats its id, KA-SPDY-4). */
export function encodePing(id: number): Buffer {
  const p = Buffer.alloc(4);
  p.writeUInt32BE(id >>> 0, 0);
  return controlFrame(CONTROL.ping, 0, p);
}

/** A GOAWAY frame (status 0 = OK). */
export function encodeGoAway(lastStreamId: number, status: number): Buffer {
  const p = Buffer.alloc(8);
  p.writeUInt32BE(lastStreamId & STREAM_ID_MASK, 0);
  p.writeUInt32BE(status, 4);
  return controlFrame(CONTROL.goAway, 0, p);
}

/** Header name → value; a name with several values joins them with NUL, as SPDY/3 does. */
export type SpdyHeaders = Record<string, string>;

/** The uncompressed name/value block: 32-bit count, then 32-bit length-prefixed names and values. */
export function encodeHeaderPairs(headers: SpdyHeaders): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n, 0);
    return b;
  };
  const entries = Object.entries(headers);
  parts.push(u32(entries.length));
  for (const [name, value] of entries) {
    const n = Buffer.from(name.toLowerCase());
    const v = Buffer.from(value);
    parts.push(u32(n.length), n, u32(v.length), v);
  }
  return Buffer.concat(parts);
}

/** Parses an uncompressed name/value block; names are lower-cased. RangeError if truncated. */
export function decodeHeaderPairs(block: Buffer): SpdyHeaders {
  let off = 0;
  const u32 = (): number => {
    if (off + 4 > block.length) throw new RangeError("truncated spdy header block");
    const v = block.readUInt32BE(off);
    off += 4;
    return v;
  };
  const str = (): string => {
    const n = u32();
    if (off + n > block.length) throw new RangeError("truncated spdy header block");
    const s = block.toString("utf8", off, off + n);
    off += n;
    return s;
  };
  const out: SpdyHeaders = {};
  const count = u32();
  for (let i = 0; i < count; i++) {
    const name = str().toLowerCase();
    out[name] = str();
  }
  return out;
}

/** Adler-32 of `data` (RFC 1950), the dictionary id in a zlib header. */
function adler32(data: Buffer): number {
  let a = 1;
  let b = 0;
  for (const byte of data) {
    a = (a + byte) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const STORED_BLOCK_MAX_BYTES = 0xffff;
/** An empty non-final stored block: what zlib emits for Z_SYNC_FLUSH. */
const SYNC_FLUSH_MARKER = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);

/**
 * Compresses one direction's header blocks into a single zlib stream primed with the SPDY/3
 * dictionary. It emits deflate *stored* blocks followed by the SYNC_FLUSH marker, so each frame
 * ends on a byte boundary as the protocol requires, and the work is synchronous, so a reply is never reordered
 * against the data frames written after it. Header blocks are a few bytes, so nothing is lost by
 * not compressing them. Not for concurrent use; one per connection.
 */
export class SpdyHeaderCompressor {
  #started = false;

  /** The compressed form of `headers`, continuing this connection's zlib stream. */
  compress(headers: SpdyHeaders): Buffer {
    const raw = encodeHeaderPairs(headers);
    const parts: Buffer[] = [];
    if (!this.#started) {
      this.#started = true;
      // CMF 0x78 (deflate, 32 KiB window); FLG 0xbb has FDICT set and a valid check value.
      const zhead = Buffer.alloc(6);
      zhead.writeUInt8(0x78, 0);
      zhead.writeUInt8(0xbb, 1);
      zhead.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      parts.push(zhead);
    }
    // The block always holds at least the 4-byte pair count, so the loop runs at least once.
    for (let off = 0; off < raw.length; off += STORED_BLOCK_MAX_BYTES) {
      const chunk = raw.subarray(off, off + STORED_BLOCK_MAX_BYTES);
      const h = Buffer.alloc(5);
      h.writeUInt8(0, 0); // BFINAL=0, BTYPE=00 (stored)
      h.writeUInt16LE(chunk.length, 1);
      h.writeUInt16LE(~chunk.length & 0xffff, 3);
      parts.push(h, chunk);
    }
    // End with an empty stored block, exactly as a zlib SYNC_FLUSH does. Go's inflater (kubectl)
    // only hands out a block's bytes without reading ahead when this marker follows; without it,
    // it reads past the frame, hits the end of the header block and fails every later frame.
    parts.push(SYNC_FLUSH_MARKER);
    return Buffer.concat(parts);
  }
}

/**
 * Decompresses one direction's header blocks: a zlib inflate stream primed with the SPDY/3
 * dictionary that lives as long as the connection. Calls must not overlap (await each one);
 * rejects if the peer's bytes are not valid zlib.
 */
export class SpdyHeaderDecompressor {
  readonly #z: Inflate;
  /** Output of the block being decompressed; 'data' keeps the stream flowing (no stall). */
  readonly #out: Buffer[] = [];
  #failed: Error | undefined;

  constructor() {
    this.#z = createInflate({ dictionary: SPDY3_DICTIONARY });
    this.#z.on("data", (c: Buffer) => {
      this.#out.push(c);
    });
    this.#z.on("error", (err) => {
      this.#failed = new Error("inflate spdy header block", { cause: err });
    });
  }

  /** The header pairs in `block`. */
  decompress(block: Buffer): Promise<SpdyHeaders> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      const z = this.#z;
      const onError = (err: Error): void => {
        reject(new Error("inflate spdy header block", { cause: err }));
      };
      z.once("error", onError);
      z.write(block);
      // The flush callback runs after the inflated bytes were pushed (and, flowing, emitted).
      z.flush(zlibConstants.Z_SYNC_FLUSH, () => {
        z.off("error", onError);
        if (this.#failed !== undefined) return;
        const raw = Buffer.concat(this.#out.splice(0));
        try {
          resolve(decodeHeaderPairs(raw));
        } catch (err) {
          reject(err instanceof Error ? err : new Error("decode spdy header block"));
        }
      });
    });
  }

  /** Frees the zlib stream. Idempotent. */
  close(): void {
    this.#z.destroy();
  }
}
