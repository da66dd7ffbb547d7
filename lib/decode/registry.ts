import type { InputFormat } from './format';
import { gctraceFormat } from './formats/gctrace';
import { pprofFormat } from './formats/pprof';
import { pprofTextFormat } from './formats/pprof-text';
import { runtimeMetricsFormat } from './formats/runtime-metrics';

/**
 * Every input format, in the order their sniffs are tried: the text formats with distinctive
 * shapes first, the protobuf (which has no magic number and so accepts anything) last.
 */
export const FORMATS: readonly InputFormat[] = [runtimeMetricsFormat, gctraceFormat, pprofTextFormat, pprofFormat];

/** The formats that decode to a Profile (what `decodeProfile` tries). */
export const PROFILE_FORMATS: readonly InputFormat[] = FORMATS.filter((f) => f.input === 'profile');
