// Durations and points in time, in ONE place: every flag, query parameter and event field that
// takes a time or a duration goes through these parsers (CLI, HTTP API, Lambda events, scrape), and
// every epoch-microsecond time is printed by `isoFromUs`.
//
// Why hand-written: `Date.parse` is the trap this module exists to avoid. It reads
// `2026-11-20T00:00:00` (no zone) as LOCAL time, so the same command gives another cohort under
// TZ=Europe/Berlin, and it accepts `Nov 20 2026` and other implementation-defined forms. The
// grammar here is small (RFC 3339 plus a date and `now-<duration>`), checked field by field.

/** Microseconds in one of each duration unit. */
export const DURATION_UNITS_US = { ms: 1e3, s: 1e6, m: 60e6, h: 3600e6, d: 86_400e6 } as const;
export type DurationUnit = keyof typeof DURATION_UNITS_US;

/** Accepted years: profiles are from this century's machines; anything else is a typo. */
export const MIN_YEAR = 1970;
export const MAX_YEAR = 2199;

export const DURATION_SYNTAX = 'a positive duration: a number with a unit ms, s, m, h or d (500ms, 30s, 1.5h, 7d; a bare number is seconds)';
export const TIME_SYNTAX =
  'an RFC 3339 time with a zone (2026-11-20T10:00:00Z, 2026-11-20T11:00:00.5+01:00), a date (2026-11-20 = 00:00 UTC), ' +
  'now, or now-<duration> (now-1h, now-90m, now-1.5h, now-7d)';

export class TimeSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeSyntaxError';
  }
}

const DURATION_RE = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)?$/;

/** `500ms`, `30s`, `1.5h`, `90m`, `7d` (a bare number is seconds) -> whole microseconds, > 0. */
export function parseDurationUs(s: string): number {
  const m = DURATION_RE.exec(s.trim());
  const us = m ? Math.round(Number(m[1]) * DURATION_UNITS_US[(m[2] ?? 's') as DurationUnit]) : NaN;
  if (!(us > 0) || !Number.isSafeInteger(us)) throw new TimeSyntaxError(`not ${DURATION_SYNTAX}: "${s}"`);
  return us;
}

/** The same grammar in whole milliseconds (>= 1 ms), for timers. */
export function parseDurationMs(s: string): number {
  const ms = Math.round(parseDurationUs(s) / 1000);
  if (ms < 1) throw new TimeSyntaxError(`duration shorter than 1ms: "${s}"`);
  return ms;
}

// date [T|t|space time [.fraction] zone]; the zone is checked separately for a clear message.
const TIME_RE = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(.*))?$/;
const ZONE_RE = /^(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;
const RELATIVE_RE = /^now(?:([+-])(.*))?$/;

/**
 * A point in time -> epoch microseconds. Accepted: RFC 3339 with a zone (`Z` or `±hh:mm`; seconds
 * and a fraction of up to 9 digits optional, kept to the microsecond), a date `YYYY-MM-DD` (00:00
 * UTC), `now` and `now±<duration>`. Refused with a message naming the accepted forms: a time
 * without a zone (it would depend on the machine's TZ), anything else `Date.parse` would guess at,
 * impossible dates and times (Feb 30, 24:00, offsets beyond ±23:59), years outside MIN_YEAR..MAX_YEAR.
 */
export function parseTime(s: string, nowUs: number = Date.now() * 1000): number {
  const t = s.trim();
  const rel = RELATIVE_RE.exec(t);
  if (rel) {
    if (rel[1] === undefined) return nowUs;
    let d: number;
    try {
      d = parseDurationUs(rel[2]);
    } catch {
      throw new TimeSyntaxError(`"${s}": after now${rel[1]} comes ${DURATION_SYNTAX}`);
    }
    return rel[1] === '-' ? nowUs - d : nowUs + d;
  }
  const m = TIME_RE.exec(t);
  if (!m) throw new TimeSyntaxError(`not a time: "${s}"; use ${TIME_SYNTAX}`);
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const hasTime = m[4] !== undefined;
  const [hour, minute, second] = hasTime ? [Number(m[4]), Number(m[5]), Number(m[6] ?? 0)] : [0, 0, 0];
  const zone = hasTime ? m[8] : 'Z';
  if (zone === '') throw new TimeSyntaxError(`"${s}" has no time zone, so it would be read in the machine's local zone: add Z (UTC) or an offset like +01:00 (accepted: ${TIME_SYNTAX})`);
  const z = ZONE_RE.exec(zone);
  if (!z) throw new TimeSyntaxError(`"${s}": bad time zone "${zone}": use Z or an offset ±hh:mm`);
  if (year < MIN_YEAR || year > MAX_YEAR) throw new TimeSyntaxError(`"${s}": year ${year} is outside ${MIN_YEAR}..${MAX_YEAR}`);
  // Date.UTC rolls Feb 30 over to March and 24:00 to the next day: check the fields round-trip.
  const dayMs = Date.UTC(year, month - 1, day);
  const back = new Date(dayMs);
  if (month < 1 || month > 12 || back.getUTCMonth() !== month - 1 || back.getUTCDate() !== day) throw new TimeSyntaxError(`"${s}": no such date`);
  if (hour > 23 || minute > 59 || second > 59) throw new TimeSyntaxError(`"${s}": no such time of day (leap seconds are not accepted)`);
  const ms = dayMs + ((hour * 60 + minute) * 60 + second) * 1000;
  let offsetMin = 0;
  if (z[1] !== undefined) {
    const [oh, om] = [Number(z[2]), Number(z[3])];
    if (oh > 23 || om > 59) throw new TimeSyntaxError(`"${s}": offset ${zone} is out of range (at most ±23:59)`);
    offsetMin = (z[1] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  const fracUs = m[7] !== undefined ? Math.floor(Number(m[7].padEnd(9, '0')) / 1000) : 0;
  return (ms - offsetMin * 60_000) * 1000 + fracUs;
}

/**
 * Epoch microseconds -> the same instant floored to a whole millisecond (still in microseconds).
 *
 * Every time fleetprof STORES goes through this, once, at normalize (lib/normalize/*): Athena
 * reads Parquet timestamps as milliseconds, rounding half up, while DuckDB keeps microseconds, so
 * a row at 23:59:59.999999 would be in its day for DuckDB and in the next one for Athena, and a
 * window ending 1 ms after a profile would hold it in one engine and not the other. Whole
 * milliseconds are read the same by both. Floor, never round: a floored time stays in the same
 * second, hour and UTC day as the capture, so `dt` (and the fresh tier's hour) is the same whether
 * it is derived before or after.
 */
export function floorToMs(us: number): number {
  return Math.floor(us / 1000) * 1000;
}

/** Epoch microseconds -> `2026-11-20T10:00:00.000Z` (millisecond precision, like Date). */
export function isoFromUs(us: number): string {
  return new Date(Math.floor(us / 1000)).toISOString();
}
