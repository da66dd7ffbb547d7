// The pprof wire format, named once: field numbers of perftools.profiles.Profile with the line of
// lib/model/profile.proto (google/pprof's proto/profile.proto, Apache-2.0, kept in the repo) each
// one comes from. The decoder (lib/decode/formats/pprof.ts), the export encoder
// (lib/query/export.ts) and the test builder (test/helpers/pprof-builder.ts) all use these.

/** Protobuf wire types (the low 3 bits of a tag). */
export const WIRE = {
  VARINT: 0,
  FIXED64: 1,
  BYTES: 2, // length-delimited: strings, embedded messages, packed repeated scalars
  FIXED32: 5,
} as const;

/** A field's tag: (field number << 3) | wire type. */
export function tagOf(field: number, wire: number): number {
  return (field << 3) | wire;
}

export const PROFILE = {
  SAMPLE_TYPE: 1, // repeated ValueType sample_type = 1;
  SAMPLE: 2, // repeated Sample sample = 2;
  MAPPING: 3, // repeated Mapping mapping = 3;
  LOCATION: 4, // repeated Location location = 4;
  FUNCTION: 5, // repeated Function function = 5;
  STRING_TABLE: 6, // repeated string string_table = 6;
  DROP_FRAMES: 7, // int64 drop_frames = 7;   // Index into string table.
  KEEP_FRAMES: 8, // int64 keep_frames = 8;  // Index into string table.
  TIME_NANOS: 9, // int64 time_nanos = 9;
  DURATION_NANOS: 10, // int64 duration_nanos = 10;
  PERIOD_TYPE: 11, // ValueType period_type = 11;
  PERIOD: 12, // int64 period = 12;
  COMMENT: 13, // repeated int64 comment = 13; // Indices into string table.
  DEFAULT_SAMPLE_TYPE: 14, // int64 default_sample_type = 14;
  DOC_URL: 15, // int64 doc_url = 15;  // Index into string table.
} as const;

export const VALUE_TYPE = {
  TYPE: 1, // int64 type = 1; // Index into string table.
  UNIT: 2, // int64 unit = 2; // Index into string table.
} as const;

export const SAMPLE = {
  LOCATION_ID: 1, // repeated uint64 location_id = 1;
  VALUE: 2, // repeated int64 value = 2;
  LABEL: 3, // repeated Label label = 3;
} as const;

export const LABEL = {
  KEY: 1, // int64 key = 1;
  STR: 2, // int64 str = 2;   // Index into string table
  NUM: 3, // int64 num = 3;
  NUM_UNIT: 4, // int64 num_unit = 4;  // Index into string table
} as const;

export const MAPPING = {
  ID: 1, // uint64 id = 1;
  MEMORY_START: 2, // uint64 memory_start = 2;
  MEMORY_LIMIT: 3, // uint64 memory_limit = 3;
  FILE_OFFSET: 4, // uint64 file_offset = 4;
  FILENAME: 5, // int64 filename = 5;  // Index into string table
  BUILD_ID: 6, // int64 build_id = 6;  // Index into string table
  HAS_FUNCTIONS: 7, // bool has_functions = 7;
  HAS_FILENAMES: 8, // bool has_filenames = 8;
  HAS_LINE_NUMBERS: 9, // bool has_line_numbers = 9;
  HAS_INLINE_FRAMES: 10, // bool has_inline_frames = 10;
} as const;

export const LOCATION = {
  ID: 1, // uint64 id = 1;
  MAPPING_ID: 2, // uint64 mapping_id = 2;
  ADDRESS: 3, // uint64 address = 3;
  LINE: 4, // repeated Line line = 4;
  IS_FOLDED: 5, // bool is_folded = 5;
} as const;

export const LINE = {
  FUNCTION_ID: 1, // uint64 function_id = 1;
  LINE: 2, // int64 line = 2;
  COLUMN: 3, // int64 column = 3;
} as const;

export const FUNCTION = {
  ID: 1, // uint64 id = 1;
  NAME: 2, // int64 name = 2; // Index into string table
  SYSTEM_NAME: 3, // int64 system_name = 3; // Index into string table
  FILENAME: 4, // int64 filename = 4; // Index into string table
  START_LINE: 5, // int64 start_line = 5;
} as const;
