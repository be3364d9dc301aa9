// Charts as inline SVG, drawn on the server: bars only, with a text title, a
// description and a data table next to each (the table is what a screen
// reader reads, and what a printout shows). No script draws anything.

export interface ChartSeries {
  label: string;
  /** A CSS class for its bars (colour and pattern come from the style sheet). */
  className: string;
  values: (number | null)[];
}

export interface Chart {
  id: string;
  title: string;
  /** One sentence that says what the chart shows, for its accessible description. */
  summary: string;
  /** A label per column (x axis): "11:02". */
  labels: string[];
  series: ChartSeries[];
  /** Stack the series in one bar per column (else side by side). */
  stacked: boolean;
  unit: string;
  /** The table's rows: its first column's heading, then one row per label. */
  table: { heading: string; columns: string[]; rows: { label: string; cells: string[] }[] };
  /** The SVG markup (escaped text only). */
  svg: string;
}

const W = 600;
const H = 160;
const PAD = { left: 44, right: 8, top: 8, bottom: 22 };

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A round upper bound for the axis: 1, 2, 5 × 10^n. */
function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

/** The bars of every series, the y axis at 0 and its maximum, and a few x labels. */
export function barChart(input: Omit<Chart, "svg">, format: (n: number) => string = String): Chart {
  const n = input.labels.length;
  const totals = input.labels.map((_, i) =>
    input.stacked
      ? input.series.reduce((s, se) => s + (se.values[i] ?? 0), 0)
      : Math.max(0, ...input.series.map((se) => se.values[i] ?? 0)),
  );
  const max = niceMax(Math.max(0, ...totals));
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const slot = plotW / Math.max(1, n);
  const groups = input.stacked ? 1 : input.series.length;
  const barW = Math.max(1, (slot * 0.8) / groups);
  const y = (v: number) => PAD.top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  parts.push(`<line class="axis" x1="${PAD.left}" y1="${PAD.top + plotH}" x2="${W - PAD.right}" y2="${PAD.top + plotH}"/>`);
  parts.push(`<line class="grid" x1="${PAD.left}" y1="${PAD.top}" x2="${W - PAD.right}" y2="${PAD.top}"/>`);
  parts.push(`<text class="tick" x="${PAD.left - 4}" y="${PAD.top + 4}" text-anchor="end">${escapeXml(format(max))}</text>`);
  parts.push(`<text class="tick" x="${PAD.left - 4}" y="${PAD.top + plotH}" text-anchor="end">0</text>`);
  for (let i = 0; i < n; i++) {
    const x0 = PAD.left + i * slot + slot * 0.1;
    let base = 0;
    input.series.forEach((se, k) => {
      const v = se.values[i];
      if (v === null || v === undefined || v <= 0) return;
      const x = input.stacked ? x0 : x0 + k * barW;
      const top = input.stacked ? base + v : v;
      const bottom = input.stacked ? base : 0;
      parts.push(
        `<rect class="${se.className}" x="${x.toFixed(1)}" y="${y(top).toFixed(1)}" width="${barW.toFixed(1)}" height="${Math.max(0.5, y(bottom) - y(top)).toFixed(1)}"/>`,
      );
      if (input.stacked) base += v;
    });
  }
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += every) {
    const x = PAD.left + i * slot + slot / 2;
    parts.push(`<text class="tick" x="${x.toFixed(1)}" y="${H - 6}" text-anchor="middle">${escapeXml(input.labels[i]!)}</text>`);
  }
  const svg =
    `<svg class="chart-svg" viewBox="0 0 ${W} ${H}" role="img" aria-labelledby="${input.id}-title" aria-describedby="${input.id}-summary" focusable="false">` +
    `<title id="${input.id}-svg-title">${escapeXml(input.title)}</title>${parts.join("")}</svg>`;
  return { ...input, svg };
}
