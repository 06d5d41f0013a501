/**
 * A stand-alone API server for memory measurements: SQLite store + ApiServer + HTTPS on a free
 * port, data in the directory given as the first argument (the caller removes it).
 *
 * Protocol: prints one JSON line `{"port":…,"token":…,"caPem":…}` when ready. Then reads
 * commands from stdin, one per line, and answers each with one JSON line:
 * - `rss` → `{"rss":<bytes>,"heapUsed":<bytes>}`
 * - `gc`  → `{"gc":true}` after a full collection (needs `--expose-gc`), then the same as `rss`
 * Stdin closing (or SIGTERM) stops the server, closes the store and exits 0.
 */
import { createInterface } from "node:readline";
import { startStack } from "./lib.js";

async function main(): Promise<void> {
  const dataDir = process.argv[2];
  if (dataDir === undefined) throw new TypeError("usage: api-server.ts <data-dir>");
  const stack = await startStack({ dataDir });
  process.stdout.write(
    `${JSON.stringify({ port: stack.port, token: stack.token, caPem: stack.pki.caCertPem })}\n`,
  );
  const stop = new AbortController();
  process.once("SIGTERM", () => {
    stop.abort();
  });
  const lines = createInterface({ input: process.stdin });
  lines.on("close", () => {
    stop.abort();
  });
  lines.on("line", (line) => {
    const cmd = line.trim();
    const gc = (globalThis as { gc?: () => void }).gc;
    if (cmd === "gc" && gc !== undefined) gc();
    const mem = process.memoryUsage();
    process.stdout.write(`${JSON.stringify({ rss: mem.rss, heapUsed: mem.heapUsed })}\n`);
  });
  await new Promise<void>((resolve) => {
    if (stop.signal.aborted) resolve();
    stop.signal.addEventListener("abort", () => {
      resolve();
    });
  });
  lines.close();
  await stack.dispose();
}

main().then(
  () => {
    process.exit(0);
  },
  (err: unknown) => {
    console.error("api-server failed:", err);
    process.exit(1);
  },
);
