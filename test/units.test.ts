import { formatMeasure, formatPercent, formatShare, formatValue } from '../lib/model/units';

// The one formatter: CLI tables, the digest and the flame graph's browser script print the same.

describe('formatValue', () => {
  it.each([
    [999n, 'nanoseconds', '999ns'],
    [1500n, 'nanoseconds', '1.50us'],
    [2_340_000n, 'nanoseconds', '2.34ms'],
    [1_500_000_000n, 'nanoseconds', '1.50s'],
    [-2e6, 'ns', '-2.00ms'],
    [1023n, 'bytes', '1023B'],
    [1536n, 'bytes', '1.50KiB'],
    [3 * 2 ** 20, 'bytes', '3.00MiB'],
    [5n * 2n ** 30n, 'bytes', '5.00GiB'],
    [12.4, 'bytes', '12B'],
    [7n, 'count', '7'],
    [123.456, 'goroutines', '123'],
    [1.234, 'goroutines', '1.23'],
    [0.1234, 'fraction', '12.3%'],
  ])('%s %s -> %s', (v, unit, want) => {
    expect(formatValue(v, unit)).toBe(want);
  });
  it('keeps integers of unknown units exact', () => {
    expect(formatValue(2n ** 63n - 1n, 'count')).toBe('9223372036854775807');
  });
});

describe('percentages', () => {
  it('formats fractions and shares', () => {
    expect(formatPercent(0.1234)).toBe('12.3%');
    expect(formatPercent(0.1234, 2)).toBe('12.34%');
    expect(formatPercent(null)).toBe('-');
    expect(formatPercent(Number.NaN)).toBe('-');
    expect(formatShare(1n, 3n)).toBe('33.33%');
    expect(formatShare(1, 0)).toBe('-');
  });
  it('reads the digest measure names', () => {
    expect(formatMeasure(0.05, 'share')).toBe('5.0%');
    expect(formatMeasure(3 * 2 ** 20, 'bytes per profile')).toBe('3.00MiB');
    expect(formatMeasure(2_000_000, 'ns per profile')).toBe('2.00ms');
    expect(formatMeasure(12, 'goroutines per profile')).toBe('12');
  });
});
