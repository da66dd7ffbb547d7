import { T } from './types';

// Columns every table shares: the Hive partition key and the identity of the source.
// Layout v2 (docs/architecture.md, "Storage layout"): `dt` is the only partition key; `service` is
// a plain column inside the files (compacted files are sorted by it, so per-service reads prune on
// row-group statistics, and Athena needs no injected projection to query the whole fleet).

export const partitionKeys = [{ name: 'dt', type: T.varchar, doc: 'UTC date of the capture, YYYY-MM-DD (Hive partition).' }] as const;

export const identity = [
  { name: 'profile_id', type: T.varchar, doc: "Deterministic id of the source object: 12 hex digits of its time in ms (a profile's capture time; a log's or snapshot batch's first row), then 20 of a hash of its identity; joins every table." },
  { name: 'service', type: T.varchar, doc: 'Service name.' },
  { name: 'instance', type: T.varchar, doc: 'Instance (host, pod, task) that produced the data.' },
  { name: 'version', type: T.varchar, doc: "Service version (build, commit or tag); '' when not given." },
] as const;

export const labels = {
  name: 'labels',
  type: T.map(T.varchar, T.varchar),
  doc: 'Upload-level labels (k=v), e.g. region or deployment.',
} as const;
