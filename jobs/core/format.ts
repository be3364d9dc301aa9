// Small formatting helpers shared by job scripts and the server: every number
// and duration a page or a message shows goes through these.

// One formatter for every number shown: Number#toLocaleString builds a new
// Intl formatter on each call, on every poll (the gain: bench/README.md).
// Made on first use, not when the module loads: a job bundle's V8 startup
// snapshot cannot hold an Intl object.
let number: Intl.NumberFormat | undefined;

/** 1234567 -> "1,234,567", 2.5 -> "2.5". */
export function formatNumber(n: number): string {
  return (number ??= new Intl.NumberFormat("en-GB", { maximumFractionDigits: 3 })).format(n);
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** 1500 -> "1.5 s", 3600000 -> "60 min", 86400000 -> "1 day", 604800000 -> "7 days". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${Number(s.toFixed(1))} s`;
  const m = s / 60;
  if (m < 120) return `${Number(m.toFixed(1))} min`;
  if (ms < DAY) return `${Number((ms / HOUR).toFixed(1))} h`;
  const days = Number((ms / DAY).toFixed(1));
  return `${days} ${days === 1 ? "day" : "days"}`;
}
