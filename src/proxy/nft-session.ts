import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";

/**
 * A command nft answers without touching the kernel: its output marks the end of the answer
 * to the line before it (nft prints nothing for a successful change).
 */
const MARKER_COMMAND = "describe meta mark";
const MARKER_TEXT = "meta expression, datatype mark";

/** Longest script sent through the session; longer ones go to a one-shot `nft -f -`. */
const MAX_LINE_BYTES = 512 * 1024;

/** Runs `nft -f -` with `script`; rejects with nft's stderr on failure. */
export function runNft(nft: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(nft, ["-f", "-"], { stdio: ["pipe", "ignore", "pipe"] });
    const err: Buffer[] = [];
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve();
      else
        reject(new Error(`nft -f exited ${code ?? "?"}: ${Buffer.concat(err).toString().trim()}`));
    });
    child.stdin.end(script);
  });
}

interface Pending {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * A long-lived `nft -i` that applies scripts without a process spawn per change. Each script
 * is sent as one line, which nft runs as one transaction (all or nothing), followed by a
 * marker command whose answer says the transaction is done; anything nft prints before the
 * marker is its error. Calls may overlap: they are answered in order. If nft exits, pending
 * and later calls fall back to a fresh process. `close()` ends the process; idempotent.
 */
export class NftSession {
  readonly #nft: string;
  #child: ChildProcessWithoutNullStreams | undefined;
  #queue: Pending[] = [];
  #out = "";

  constructor(nft: string) {
    this.#nft = nft;
  }

  /** Applies `script` (nft commands, one per line) in one transaction. */
  apply(script: string): Promise<void> {
    if (script === "") return Promise.resolve();
    if (Buffer.byteLength(script) > MAX_LINE_BYTES) return runNft(this.#nft, script);
    const child = this.#child ?? this.#start();
    const line = script
      .split("\n")
      .filter((l) => l !== "")
      .join(" ; ");
    return new Promise((resolve, reject) => {
      this.#queue.push({ resolve, reject });
      child.stdin.write(`${line}\n${MARKER_COMMAND}\n`);
    });
  }

  /** Ends the nft process; pending calls reject. */
  async close(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    const exited = new Promise<void>((resolve) => {
      child.once("close", () => {
        resolve();
      });
    });
    child.stdin.end();
    await exited;
  }

  #start(): ChildProcessWithoutNullStreams {
    // stderr joins stdout so an error is read before the marker that follows it.
    const child = spawn("sh", ["-c", 'exec "$0" -i 2>&1', this.#nft], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#child = child;
    this.#out = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      this.#out += chunk;
      for (;;) {
        const i = this.#out.indexOf(MARKER_TEXT);
        if (i < 0) break;
        const end = this.#out.indexOf("\n", i);
        if (end < 0) break;
        const answer = this.#out.slice(0, i).trim();
        this.#out = this.#out.slice(end + 1);
        const p = this.#queue.shift();
        if (p === undefined) continue;
        if (answer === "") p.resolve();
        else p.reject(new Error(`nft: ${answer}`));
      }
    });
    // stdin errors (EPIPE after nft died) surface through "close" below.
    child.stdin.on("error", () => undefined);
    const fail = (why: string): void => {
      if (this.#child === child) this.#child = undefined;
      const queued = this.#queue;
      this.#queue = [];
      for (const p of queued) p.reject(new Error(`nft -i ${why}: ${this.#out.trim()}`));
    };
    child.on("error", (err) => {
      fail(`failed to start (${err.message})`);
    });
    child.on("close", (code) => {
      fail(`exited ${String(code ?? "?")}`);
    });
    return child;
  }
}
