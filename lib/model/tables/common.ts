import { T } from './types';

// Columns every table shares: the Hive partition keys and the identity of the source.

export const partitionKeys = [
  { name: 'dt', type: T.varchar, doc: 'UTC date of the capture, YYYY-MM-DD (Hive partition).' },
  { name: 'service', type: T.varchar, doc: 'Service name (Hive partition).' },
] as const;

export const identity = [
  { name: 'profile_id', type: T.varchar, doc: 'Deterministic id of the source object (hash of its identity); joins every table.' },
  { name: 'instance', type: T.varchar, doc: 'Instance (host, pod, task) that produced the data.' },
  { name: 'version', type: T.varchar, doc: "Service version (build, commit or tag); '' when not given." },
] as const;

export const labels = {
  name: 'labels',
  type: T.map(T.varchar, T.varchar),
  doc: 'Upload-level labels (k=v), e.g. region or deployment.',
} as const;
