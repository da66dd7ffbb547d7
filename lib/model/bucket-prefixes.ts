// The bucket's top-level prefixes that several stages name: uploads land under raw/, objects that
// could not be taken (an upload ingest refused, a table file DuckDB could not read) are copied
// under quarantine/. Apart from upload-key.ts (which validates keys with zod) so that the query
// path, which reaches lib/store/unreadable.ts through the merger's names, does not load zod.

export const UPLOAD_PREFIX = 'raw/';
export const QUARANTINE_PREFIX = 'quarantine/';
