// Small formatting helpers shared by job scripts and the server.

/** 1500 -> "1.5 s", 3600000 -> "60 min". */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = ms / 1000;
  if (s < 120) return `${Number(s.toFixed(1))} s`;
  const m = s / 60;
  if (m < 120) return `${Number(m.toFixed(1))} min`;
  return `${Number((m / 60).toFixed(1))} h`;
}
