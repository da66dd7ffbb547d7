import { DecodeError } from './errors';
import { isProfileKind, type Profile, type ProfileKind } from '../model/profile';

// The kind comes from the content wherever the content says it. Only two questions are left
// open by the bytes: block vs mutex protobufs (identical shape) and heap vs allocs debug=1 text
// (identical header); there the declared kind wins, then a best guess.

/** A kind named by a path segment or file name, e.g. `.../mutex.pb.gz` or `svc/heap/x.pb`. */
export function kindFromPath(path: string): ProfileKind | undefined {
  const tokens = path.toLowerCase().split(/[/\\._\-\s]+/);
  for (let i = tokens.length - 1; i >= 0; i--) {
    const t = tokens[i];
    if (isProfileKind(t)) return t;
    if (t === 'profile') return 'cpu'; // net/http/pprof serves CPU profiles as /debug/pprof/profile
  }
  return undefined;
}

const UNLOCK_LEAF = /(^|\.)(\(\*(Mutex|RWMutex)\)\.(Unlock|RUnlock)|unlock)$/;

export function detectKind(p: Profile, declared?: ProfileKind): ProfileKind {
  const types = p.sampleTypes.map((t) => t.type);
  const has = (t: string) => types.includes(t);
  if (has('cpu') || p.periodType?.type === 'cpu') return 'cpu';
  if (has('inuse_space') || has('alloc_space') || (types.length === 2 && has('space') && has('objects'))) {
    if (p.format === 'pprof-text') return declared === 'allocs' ? 'allocs' : 'heap';
    return p.defaultSampleType === 'alloc_space' ? 'allocs' : 'heap';
  }
  if (types.length === 1 && (types[0] === 'goroutine' || types[0] === 'threadcreate')) return types[0];
  if (has('contentions') && has('delay')) {
    if (p.declaredKind === 'block' || p.declaredKind === 'mutex') return p.declaredKind;
    if (declared === 'block' || declared === 'mutex') return declared;
    return leafSaysMutex(p) ? 'mutex' : 'block';
  }
  throw new DecodeError('unsupported', `unsupported profile kind (sample types: ${types.join(', ') || 'none'})`);
}

/** Mutex profiles are charged to the Unlock call site; block profiles to where goroutines wait. */
function leafSaysMutex(p: Profile): boolean {
  const { stackStart, stack, count } = p.samples;
  for (let i = 0; i < count; i++) {
    if (stackStart[i] === stackStart[i + 1]) continue;
    const leaf = p.locations[stack[stackStart[i]]];
    const line = leaf.lines[0];
    if (line && UNLOCK_LEAF.test(p.functions[line.fn].name)) return true;
  }
  return false;
}
