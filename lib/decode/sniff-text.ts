// Content detection for text inputs, from the first 64 KiB only, so a format can be chosen before
// the whole object is read. Both checks look for the format's distinctive shape, not for validity:
// the real parsers report what is wrong.

const SNIFF_CHARS = 64 * 1024;

// The head of a gc line of any Go version 1.5+, anywhere in a line (log prefixes are common).
const GC_LINE_HEAD = /gc \d+ @\d+(?:\.\d+)?s \d+%(?: \([^()]*\))?: [\d.]+\+[\d.+]+ ms clock, /;
// `"metrics"` holding an object whose first key is a runtime/metrics name (`/path:unit`).
const METRICS_HEAD = /"metrics"\s*:\s*\{\s*"\/[^":]+:[^":]+"\s*:/;

export function looksLikeGctrace(text: string): boolean {
  return GC_LINE_HEAD.test(text.slice(0, SNIFF_CHARS));
}

export function looksLikeRuntimeMetrics(text: string): boolean {
  const head = text.slice(0, SNIFF_CHARS).replace(/^\uFEFF/, '').trimStart();
  return (head.startsWith('{') || head.startsWith('[')) && METRICS_HEAD.test(head);
}
