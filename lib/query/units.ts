import type { Int64 } from '../model/profile';

// Human-readable values for the text outputs (JSON always carries exact base units).

export function formatValue(v: Int64, unit: string): string {
  const n = Number(v);
  if (unit === 'nanoseconds') {
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(2) + 's';
    if (a >= 1e6) return (n / 1e6).toFixed(2) + 'ms';
    if (a >= 1e3) return (n / 1e3).toFixed(2) + 'us';
    return n + 'ns';
  }
  if (unit === 'bytes') {
    const a = Math.abs(n);
    if (a >= 2 ** 30) return (n / 2 ** 30).toFixed(2) + 'GiB';
    if (a >= 2 ** 20) return (n / 2 ** 20).toFixed(2) + 'MiB';
    if (a >= 2 ** 10) return (n / 2 ** 10).toFixed(2) + 'KiB';
    return n + 'B';
  }
  return String(v);
}
