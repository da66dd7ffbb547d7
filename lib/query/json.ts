// JSON for exact integers: a JS number where it is exact, a decimal string beyond 2^53.

export function exactJson(v: unknown, indent?: number): string {
  return JSON.stringify(v, (_k, x) => exactValue(x), indent);
}

export function exactValue(x: unknown): unknown {
  if (typeof x === 'bigint') return x >= -BigInt(Number.MAX_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x.toString();
  return x;
}
