// Which frames are "the service's own code": Go's convention is that standard-library import paths
// have no dot in their first element (runtime, sync, net/http, internal/poll) while everything else
// does (github.com/..., example.com/...), except the main package. Detectors attribute a sample to
// the leaf-most frame that is the service's own code, so time in runtime.mallocgc or a goroutine
// parked in runtime.gopark is charged to the function of the service that caused it.
//
// One rule in two forms: TypeScript (the detectors' names) and SQL (the rollup builder's
// attributed_1h, lib/store/rollup-build.ts, and the raw rows the digest reads around it), so that
// rollups and raw rows attribute every stack to the same frame (test/digest-rollup.test.ts).

/** The package path of a Go function name ("net/http.(*conn).serve" -> "net/http"). */
export function packageOf(fn: string): string {
  const slash = fn.lastIndexOf('/');
  const dot = fn.indexOf('.', slash + 1);
  return dot < 0 ? fn : fn.slice(0, dot);
}

export function isUserFunction(fn: string): boolean {
  if (fn === '' || fn.startsWith('<')) return false;
  const pkg = packageOf(fn);
  if (pkg === 'main' || pkg.startsWith('main.')) return true;
  const first = pkg.split('/')[0];
  return first.includes('.');
}

/** Leaf-most user frame of a leaf-first stack, else its leaf frame ('' for an empty stack). */
export function attributionFrame(framesLeafFirst: readonly string[]): string {
  for (const f of framesLeafFirst) if (isUserFunction(f)) return f;
  return framesLeafFirst[0] ?? '';
}

/** SQL of isUserFunction over the VARCHAR expression `f` (packageOf: up to the first '.' after the last '/'). */
function isUserFunctionSql(f: string): string {
  const pkg = `regexp_extract(${f}, '^(.*/)?[^/.]*', 0)`;
  return `(${f} <> '' AND NOT starts_with(${f}, '<') AND (${pkg} = 'main' OR starts_with(${pkg}, 'main.') OR contains(split_part(${pkg}, '/', 1), '.')))`;
}

/** SQL of attributionFrame over a leaf-first VARCHAR[] expression. */
export function attributionFrameSql(frames: string): string {
  return `COALESCE(list_filter(${frames}, x -> ${isUserFunctionSql('x')})[1], ${frames}[1], '')`;
}
