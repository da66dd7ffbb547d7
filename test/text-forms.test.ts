// Go's debug=1 text forms, checked against the protobuf form the same program wrote at the same
// moment (the fixture program writes both back to back).
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import { detectKind } from '../lib/decode/kind';
import { functionStats, type SampleTypeStats } from '../lib/normalize/functions';

const RUN = path.join(__dirname, 'fixtures/go/svc-a-v1-i1');
const stats = (f: string) => functionStats(decodeProfile(readFileSync(path.join(RUN, f))));
// Go's text writer elides generic type arguments (`slices.Grow[...]`); the protobuf keeps them.
const elide = (name: string) => name.replace(/\[[^\]]*(\[\][^\]]*)*\]$/, '[...]');
const byName = (s: SampleTypeStats) => new Map(s.functions.map((f) => [elide(f.name), [f.flat, f.cum]]));

describe('debug=1 text equals the protobuf form', () => {
  test.each(['heap', 'allocs', 'block', 'mutex'])('%s: every sample type, every function', (kind) => {
    const proto = stats(`${kind}.pb.gz`);
    const text = stats(`${kind}.debug1.txt`);
    expect(text.map((s) => s.sampleType)).toEqual(proto.map((s) => s.sampleType));
    for (let t = 0; t < proto.length; t++) {
      expect(text[t].total).toEqual(proto[t].total);
      expect(byName(text[t])).toEqual(byName(proto[t]));
    }
  });

  test.each(['goroutine', 'threadcreate'])('%s: totals, and cum of every named function', (kind) => {
    const [proto] = stats(`${kind}.pb.gz`);
    const [text] = stats(`${kind}.debug1.txt`);
    expect(text.total).toEqual(proto.total);
    const p = byName(proto);
    // Go names no leading runtime frames in the text; every frame it names has the proto's cum.
    for (const f of text.functions) if (f.name !== '<unknown>') expect([f.name, f.cum]).toEqual([f.name, p.get(f.name)?.[1]]);
  });

  test('kinds come from the text headers; heap vs allocs from the declared kind', () => {
    const kindOf = (f: string, declared?: 'allocs') => detectKind(decodeProfile(readFileSync(path.join(RUN, f))), declared);
    expect(kindOf('mutex.debug1.txt')).toBe('mutex');
    expect(kindOf('block.debug1.txt')).toBe('block');
    expect(kindOf('goroutine.debug1.txt')).toBe('goroutine');
    expect(kindOf('threadcreate.debug1.txt')).toBe('threadcreate');
    expect(kindOf('heap.debug1.txt')).toBe('heap');
    expect(kindOf('allocs.debug1.txt', 'allocs')).toBe('allocs');
  });

  test('goroutine labels from "# labels:" lines are kept (pprof drops them)', () => {
    const p = decodeProfile(readFileSync(path.join(RUN, 'goroutine.debug1.txt')));
    const keys = new Set(p.samples.labelSets.flat().map((l) => l.key));
    const protoKeys = new Set(decodeProfile(readFileSync(path.join(RUN, 'goroutine.pb.gz'))).samples.labelSets.flat().map((l) => l.key));
    expect(protoKeys.size).toBeGreaterThan(0);
    expect(keys).toEqual(protoKeys);
  });
});
