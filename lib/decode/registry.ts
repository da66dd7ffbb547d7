import type { InputFormat } from './format';
import { bundleFormat } from './formats/bundle';
import { gctraceFormat } from './formats/gctrace';
import { pprofFormat } from './formats/pprof';
import { pprofTextFormat } from './formats/pprof-text';
import { runtimeMetricsFormat } from './formats/runtime-metrics';

/**
 * Every input format, in the order their sniffs are tried: the bundle first (a tar whose first
 * file is manifest.json; its members' text could match a text format's sniff), then the text
 * formats with distinctive shapes, the protobuf (which has no magic number and so accepts
 * anything) last.
 */
export const FORMATS: readonly InputFormat[] = [bundleFormat, runtimeMetricsFormat, gctraceFormat, pprofTextFormat, pprofFormat];

/** The formats of one input (what a bundle member may be: bundles do not nest). */
export const INPUT_FORMATS: readonly InputFormat[] = FORMATS.filter((f) => f.input !== 'bundle');

/** The formats that decode to a Profile (what `decodeProfile` tries). */
export const PROFILE_FORMATS: readonly InputFormat[] = FORMATS.filter((f) => f.input === 'profile');
