/** Options of {@link tabwrite}: Go's text/tabwriter minwidth and padding (pad char is space). */
export interface TabwriterOptions {
  minWidth: number;
  padding: number;
}

/** kubectl get's tab writer: minwidth 6, padding 3 (printers.GetNewTabWriter). */
export const GET_TABWRITER: TabwriterOptions = { minWidth: 6, padding: 3 };
/** kubectl describe's tab writer: minwidth 0, padding 2. */
export const DESCRIBE_TABWRITER: TabwriterOptions = { minWidth: 0, padding: 2 };

/** Width in code points, as Go's tabwriter counts runes. */
function width(s: string): number {
  return Array.from(s).length;
}

/**
 * Aligns tab-separated text like Go's text/tabwriter (flags 0, space padding): a column is a
 * run of consecutive lines that have a tab-terminated cell at that index; its width is the
 * widest cell plus padding (at least minWidth). The last cell of a line is never padded.
 */
export function tabwrite(text: string, opts: TabwriterOptions): string {
  const endsWithNewline = text.endsWith("\n");
  const body = endsWithNewline ? text.slice(0, -1) : text;
  const lines = body.split("\n").map((l) => l.split("\t"));
  const out: string[] = [];
  const widths: number[] = [];

  const writeLines = (line0: number, line1: number): void => {
    for (let i = line0; i < line1; i++) {
      const cells = lines[i] ?? [];
      let s = "";
      cells.forEach((c, j) => {
        const w = widths[j];
        s +=
          w !== undefined && j < cells.length - 1 ? c + " ".repeat(Math.max(0, w - width(c))) : c;
      });
      out.push(s);
    }
  };

  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let start = line0;
    for (let cur = line0; cur < line1; cur++) {
      if (column >= (lines[cur]?.length ?? 0) - 1) continue;
      writeLines(start, cur);
      start = cur;
      let w = opts.minWidth;
      for (; cur < line1; cur++) {
        const cells = lines[cur] ?? [];
        if (column >= cells.length - 1) break;
        w = Math.max(w, width(cells[column] ?? "") + opts.padding);
      }
      widths.push(w);
      format(start, cur);
      widths.pop();
      start = cur;
      cur--;
    }
    writeLines(start, line1);
  };

  format(0, lines.length);
  return out.join("\n") + (endsWithNewline ? "\n" : "");
}
