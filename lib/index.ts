// Public API for embedding fleetprof's core: decode, normalize, write, query.
export { decodeProfile, type DecodeOptions } from './decode';
export { DecodeError, isDecodeError } from './decode/errors';
export { detectKind, kindFromPath } from './decode/kind';
export * from './model/profile';
export { TABLES, TABLE_NAMES, type TableDef, type TableName } from './model/schema';
export { parseSourceMeta, type SourceMeta } from './model/source';
export { functionStats, type SampleTypeStats } from './normalize/functions';
export { profileRows } from './normalize/profile-rows';
export { ingestProfileBytes, type IngestContext, type IngestResult } from './ingest';
export { LocalStore } from './store/local';
export type { Store, StoredObject } from './store/store';
export { openDuckDb, ParquetWriter } from './store/parquet';
export { QueryEngine } from './query/engine';
export { openEngine } from './query/open';
export { top, type TopQuery, type TopResult } from './query/top';
export { runReadOnlySql, SqlRejected } from './query/sql';
export { exportMerged } from './query/export';
