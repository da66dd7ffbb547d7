/** A deterministic shuffle (Fisher-Yates over a fixed LCG): tests that deliver messages out of order must not depend on luck to be reproducible. */
export function shuffled<T>(xs: readonly T[], seed = 7): T[] {
  const a = [...xs];
  let s = seed;
  for (let i = a.length - 1; i > 0; i--) {
    s = (s * 1_103_515_245 + 12_345) % 2 ** 31;
    const j = s % (i + 1);
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
