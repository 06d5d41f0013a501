/** The parts of a query the answer cache needs. */
export interface QuestionKey {
  /** Lower-cased question (wire format name, type, class) plus the EDNS flag. */
  key: string;
  /** Offset just past the question section. */
  questionEnd: number;
}

const HEADER_BYTES = 12;
const MAX_NAME_BYTES = 255;

/**
 * Reads the header and the single question of a plain query by hand (no full decode). Returns
 * undefined for anything unusual (a response, another opcode, several questions, answers or
 * authorities present, name compression or non-ASCII bytes in the question, more than one
 * additional record) so that the caller takes the general path.
 */
export function parseQuestion(query: Buffer): QuestionKey | undefined {
  if (query.length < HEADER_BYTES + 5) return undefined;
  const flags = query[2] ?? 0;
  // QR must be 0 (query) and the opcode 0 (QUERY).
  if ((flags & 0xf8) !== 0) return undefined;
  if (query.readUInt16BE(4) !== 1 || query.readUInt16BE(6) !== 0 || query.readUInt16BE(8) !== 0)
    return undefined;
  const additional = query.readUInt16BE(10);
  if (additional > 1) return undefined;
  let i = HEADER_BYTES;
  let hasUpper = false;
  for (;;) {
    const len = query[i];
    if (len === undefined || len > 63) return undefined;
    i++;
    if (len === 0) break;
    if (i + len > query.length || i - HEADER_BYTES + len > MAX_NAME_BYTES) return undefined;
    for (let j = i; j < i + len; j++) {
      const c = query[j] ?? 0;
      if (c >= 0x80) return undefined;
      if (c >= 0x41 && c <= 0x5a) hasUpper = true;
    }
    i += len;
  }
  if (i + 4 > query.length) return undefined;
  // DNS names compare case-insensitively, in ASCII only (and the name is ASCII here); the
  // type and class bytes must keep their values.
  const name = query.toString("latin1", HEADER_BYTES, i);
  const key =
    (hasUpper ? name.toLowerCase() : name) +
    query.toString("latin1", i, i + 4) +
    (additional === 1 ? "E" : "-");
  return { key, questionEnd: i + 4 };
}

/**
 * Pre-encoded responses keyed by question ({@link parseQuestion}). A hit is a copy of the
 * stored response with the query's id, RD bit and question bytes (so its letter case, which
 * some resolvers randomise) patched in. `clear()` when the answers may have changed; the cache
 * also empties itself when it reaches `maxEntries`. Single-threaded use only.
 */
export class AnswerCache {
  readonly #maxEntries: number;
  #entries = new Map<string, Buffer>();

  /** @param maxEntries upper bound on stored responses. */
  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1)
      throw new RangeError(`maxEntries: must be a positive integer, got ${String(maxEntries)}`);
    this.#maxEntries = maxEntries;
  }

  /** Number of stored responses. */
  get size(): number {
    return this.#entries.size;
  }

  /** The response to `query`, if one is stored for its question. */
  get(query: Buffer, q: QuestionKey): Buffer | undefined {
    const stored = this.#entries.get(q.key);
    if (stored === undefined) return undefined;
    const out = Buffer.allocUnsafe(stored.length);
    stored.copy(out);
    out[0] = query[0] ?? 0;
    out[1] = query[1] ?? 0;
    // RD is copied from the query (RFC 1035 §4.1.1); every other flag is the answer's own.
    out[2] = ((out[2] ?? 0) & 0xfe) | ((query[2] ?? 0) & 0x01);
    query.copy(out, HEADER_BYTES, HEADER_BYTES, q.questionEnd);
    return out;
  }

  /** Stores `response` (which must echo the question of `q`) for later queries. */
  set(q: QuestionKey, response: Buffer): void {
    if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    this.#entries.set(q.key, Buffer.from(response));
  }

  /** Forgets every stored response. */
  clear(): void {
    this.#entries.clear();
  }
}
