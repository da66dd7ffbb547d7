// Which frames are "the service's own code": Go's convention is that standard-library import paths
// have no dot in their first element (runtime, sync, net/http, internal/poll) while everything else
// does (github.com/..., example.com/...), except the main package. Detectors attribute a sample to
// the leaf-most frame that is the service's own code, so time in runtime.mallocgc or a goroutine
// parked in runtime.gopark is charged to the function of the service that caused it.

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
