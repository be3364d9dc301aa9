// Sizes as people read them, in the binary units the limits are set in.
/** "50 MB", "1.5 MB", "800 kB": sizes in the binary units the limit is set in. */
export function formatSize(bytes: number): string {
  const units: [number, string][] = [
    [1024 * 1024 * 1024, "GB"],
    [1024 * 1024, "MB"],
    [1024, "kB"],
  ];
  for (const [size, unit] of units) {
    if (bytes >= size) return `${Number((bytes / size).toFixed(1)).toLocaleString("en-GB")} ${unit}`;
  }
  return `${bytes} bytes`;
}
