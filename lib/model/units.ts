import type { Int64 } from './profile';

// Units and their human-readable form, in ONE place (like pprof's measurement.UnitTypes): every
// text output (CLI tables, digest text and HTML, flame graph tooltips) formats through
// `formatValue`; JSON always carries exact base units. The web UI and the flame graph page bundle
// this same module (web/flame-chart.ts, scripts/build-ui.mjs), so the pages and the CLI print the same strings.

/** A unit family: the names a sample type's unit may have, and its scaled units, smallest first. */
export interface UnitType {
  readonly names: readonly string[];
  /** Scaled units: suffix and the number of base units in one of it. */
  readonly scales: readonly (readonly [suffix: string, factor: number])[];
  /** A fraction printed as a percentage (scales unused). */
  readonly percent?: boolean;
}

export const UNIT_TYPES: readonly UnitType[] = [
  {
    names: ['nanoseconds', 'ns'],
    scales: [
      ['ns', 1],
      ['us', 1e3],
      ['ms', 1e6],
      ['s', 1e9],
    ],
  },
  {
    names: ['bytes', 'B'],
    scales: [
      ['B', 1],
      ['KiB', 2 ** 10],
      ['MiB', 2 ** 20],
      ['GiB', 2 ** 30],
    ],
  },
  { names: ['fraction', 'share'], scales: [], percent: true },
];

/**
 * The formatter itself, written without free variables (the table comes in as an argument) so
 * that its source runs unchanged in the browser (see `formatterScript`). A value is shown in the
 * largest scaled unit it reaches, with two decimals; base units as whole numbers; a fraction as a
 * percentage with `digits` decimals ('-' when it is null or not finite); a unit outside the table
 * as the number itself (non-integers: whole from 100 on, else two decimals).
 */
export function formatWithTable(table: readonly UnitType[], v: Int64 | number | null, unit: string, digits?: number): string {
  let type: UnitType | undefined;
  for (const t of table) if (t.names.indexOf(unit) >= 0) type = t;
  if (v === null) return '-';
  const n = Number(v);
  if (type !== undefined && type.percent) return Number.isFinite(n) ? (n * 100).toFixed(digits === undefined ? 1 : digits) + '%' : '-';
  if (type === undefined) return typeof v === 'bigint' || Number.isInteger(n) ? String(v) : Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(2);
  let scale = type.scales[0];
  for (const s of type.scales) if (Math.abs(n) >= s[1]) scale = s;
  if (scale[1] === 1) return (Number.isInteger(n) ? String(n) : n.toFixed(0)) + scale[0];
  return (n / scale[1]).toFixed(digits === undefined ? 2 : digits) + scale[0];
}

/** `v` in `unit` for people: `1.50s`, `12.00MiB`, `7` (a count), `12.5%` (unit 'fraction'). */
export function formatValue(v: Int64 | number, unit: string): string {
  return formatWithTable(UNIT_TYPES, v, unit);
}

/** A fraction as a percentage: 0.1234 -> `12.3%` (digits 1) ; null -> `-`. */
export function formatPercent(fraction: number | null, digits = 1): string {
  return formatWithTable(UNIT_TYPES, fraction, 'fraction', digits);
}

/** `part` as a share of `total` (pprof's flat%/cum%): `-` when the total is 0. */
export function formatShare(part: Int64 | number, total: Int64 | number, digits = 2): string {
  return formatPercent(Number(total) === 0 ? null : Number(part) / Number(total), digits);
}

/**
 * A measure name of the digest ('share', 'bytes per profile', 'ns per profile', 'goroutines per
 * profile'): its first word is the unit.
 */
export function formatMeasure(v: number, measure: string | undefined): string {
  return formatValue(v, (measure ?? '').split(' ')[0]);
}
