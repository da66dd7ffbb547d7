// A short, safe rendering of an input value for an error message. JSON.stringify recurses per
// nesting level (a 200k-deep array overflowed the stack while *reporting* the bad value) and
// copies whole strings (a 200 MB name into a message): this looks at most a few levels deep and
// keeps at most `max` characters.

export function preview(v: unknown, max = 120): string {
  const out = render(v, 3, max + 1);
  return out.length > max ? out.slice(0, max) + '…' : out;
}

function render(v: unknown, depth: number, budget: number): string {
  if (typeof v === 'string') return JSON.stringify(v.length > budget ? v.slice(0, budget) : v);
  if (v === null || typeof v !== 'object') return String(v);
  if (depth === 0) return Array.isArray(v) ? '[…]' : '{…}';
  const parts: string[] = [];
  let used = 2;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length && used < budget; i++) {
      const s = render(v[i], depth - 1, budget - used);
      parts.push(s);
      used += s.length + 1;
    }
    return `[${parts.join(',')}${parts.length < v.length ? ',…' : ''}]`;
  }
  const keys = Object.keys(v);
  for (let i = 0; i < keys.length && used < budget; i++) {
    const s = `${JSON.stringify(keys[i].slice(0, budget))}:${render((v as Record<string, unknown>)[keys[i]], depth - 1, budget - used)}`;
    parts.push(s);
    used += s.length + 1;
  }
  return `{${parts.join(',')}${parts.length < keys.length ? ',…' : ''}}`;
}
