import { isoFromUs } from '../model/time';
import { createHash } from 'node:crypto';
import type { TableName } from '../model/schema';

// Object keys of the Hive layout: <table>/dt=YYYY-MM-DD/service=<name>/<profile_id>.parquet.
// The file name is the source's id, so ingesting the same source again overwrites, never adds.

export function sourceToProfileId(sourceId: string): string {
  return createHash('sha256').update(sourceId).digest('hex').slice(0, 32);
}

export function utcDate(timeUs: number): string {
  return isoFromUs(timeUs).slice(0, 10);
}

export function tableKey(table: TableName, dt: string, service: string, fileId: string): string {
  return `${table}/dt=${dt}/service=${service}/${fileId}.parquet`;
}

export interface PartitionFilter {
  service?: string;
  /** Inclusive lower and exclusive upper bound on capture time, epoch microseconds. */
  fromUs?: number;
  toUs?: number;
}

/** The partition values of a key in the Hive layout; null for a key outside it. */
export function parseKey(key: string): { dt: string; service: string } | null {
  const m = /\/dt=(\d{4}-\d{2}-\d{2})\/service=([^/]+)\//.exec(key);
  return m ? { dt: m[1], service: m[2] } : null;
}

/** Whether a key's partition can hold rows matching the filter (for pruning object listings). */
export function keyMatches(key: string, f: PartitionFilter): boolean {
  const k = parseKey(key);
  if (!k) return false;
  if (f.service !== undefined && k.service !== f.service) return false;
  if (f.fromUs !== undefined && k.dt < utcDate(f.fromUs)) return false;
  if (f.toUs !== undefined && k.dt > utcDate(f.toUs - 1)) return false;
  return true;
}
