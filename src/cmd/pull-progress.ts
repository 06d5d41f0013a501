// The progress bar `podrun image pull` draws on a terminal: one line, redrawn in place, with
// the bytes of every layer seen so far (layers download in parallel).
import type { PullProgress } from "../runtime/index.js";

const WIDTH = 30;

/** Totals per layer; `line()` renders them. */
export class PullProgressBar {
  readonly #layers = new Map<string, { current: number; total: number }>();
  readonly #ref: string;

  constructor(ref: string) {
    this.#ref = ref;
  }

  update(p: PullProgress): void {
    this.#layers.set(p.layer, { current: p.currentBytes, total: p.totalBytes });
  }

  /** `busybox:1.28 [#########.....] 1.2/4.5 MB  1/2 layers`. */
  line(): string {
    let current = 0;
    let total = 0;
    let done = 0;
    for (const l of this.#layers.values()) {
      current += l.current;
      total += l.total;
      if (l.total > 0 && l.current >= l.total) done++;
    }
    const filled = total === 0 ? 0 : Math.min(WIDTH, Math.floor((current / total) * WIDTH));
    const bar = "#".repeat(filled) + ".".repeat(WIDTH - filled);
    const mb = (n: number): string => (n / 1e6).toFixed(1);
    return `${this.#ref} [${bar}] ${mb(current)}/${mb(total)} MB  ${String(done)}/${String(this.#layers.size)} layers`;
  }
}
