// `--label k=v` / `label=` match pprof sample labels (pprof.Do) as well as upload labels:
// `top --label k=v` equals `go tool pprof -top -tagfocus=k=v` on the same files, and so do the
// flame graph's total, an export and a diff's side. A key the upload labels carry decides for the
// whole profile; otherwise each sample's own labels decide.
import { promises as fs, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { decodeProfile } from '../lib/decode';
import { parseSourceMeta } from '../lib/model/source';
import { ingestProfileBytes } from '../lib/ingest';
import { LocalStore } from '../lib/store/local';
import { openDuckDb, ParquetWriter } from '../lib/store/parquet';
import { openEngine } from '../lib/query/open';
import type { QueryEngine } from '../lib/query/engine';
import { top } from '../lib/query/top';
import { exportMerged } from '../lib/query/export';
import { flameGraph } from '../lib/query/flamegraph';
import { diff } from '../lib/query/diff';
import { handleApiRequest } from '../lib/api/router';
import { goAvailable, pprofTop, warmUpPprof, type OracleTop } from './oracle/pprof';

const FIXTURES = path.join(__dirname, 'fixtures/go');
const RUNS = (JSON.parse(readFileSync(path.join(FIXTURES, 'MANIFEST.json'), 'utf8')) as { runs: { run: string; instance: string; version: string }[] }).runs;
const cpuFile = (run: string) => path.join(FIXTURES, run, 'cpu.pb.gz');
const FILES = RUNS.map((r) => cpuFile(r.run));
/** Upload label env: the first run is prod, the others canary. */
const envOf = (i: number) => (i === 0 ? 'prod' : 'canary');

/** Every string sample label (key, value) in the files, from the decoded profiles themselves. */
function sampleLabelPairs(files: string[]): [string, string][] {
  const pairs = new Set<string>();
  for (const f of files) {
    for (const set of decodeProfile(readFileSync(f)).samples.labelSets) for (const l of set) if ('str' in l) pairs.add(JSON.stringify([l.key, l.str]));
  }
  return [...pairs].map((p) => JSON.parse(p) as [string, string]).sort();
}

type TopLike = { total: bigint; rows: { name: string; flat: bigint; cum: bigint }[] };
const fromOracle = (o: OracleTop): TopLike => ({ total: o.total, rows: o.rows.map((r) => ({ name: r.name, flat: r.flat, cum: r.cum })) });
async function ourTop(engine: QueryEngine, q: Parameters<typeof top>[1]): Promise<TopLike> {
  const t = await top(engine, q);
  return { total: BigInt(t.total), rows: t.functions.map((f) => ({ name: f.name, flat: BigInt(f.flat), cum: BigInt(f.cum) })) };
}

/** pprof's -tagfocus value is a regexp (unanchored): `^v$` is the exact-match form. */
const exact = (v: string) => `^${v.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&')}$`;

const d = goAvailable() ? describe : describe.skip;

d('sample labels: --label k=v equals go tool pprof -tagfocus=k=v', () => {
  let dir: string;
  let store: LocalStore;
  let engine: QueryEngine;
  const pairs = sampleLabelPairs(FILES);

  beforeAll(async () => {
    warmUpPprof();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'fleetprof-labels-'));
    store = new LocalStore(dir);
    const instance = await openDuckDb();
    const writer = await ParquetWriter.create(instance);
    for (const [i, r] of RUNS.entries()) {
      const meta = parseSourceMeta({ service: 'svc-a', instance: r.instance, version: r.version, labels: { env: envOf(i) }, kind: 'cpu', source: cpuFile(r.run), sourceId: cpuFile(r.run) });
      await ingestProfileBytes(readFileSync(cpuFile(r.run)), meta, { store, writer });
    }
    // The first run again as another service whose UPLOAD labels carry a key its samples also carry.
    const [key, value] = pairs[0];
    const meta = parseSourceMeta({ service: 'svc-b', instance: 'i1', version: 'v1', labels: { [key]: value + '-upload' }, kind: 'cpu', source: FILES[0], sourceId: FILES[0] + '#b' });
    await ingestProfileBytes(readFileSync(FILES[0]), meta, { store, writer });
    writer.close();
    instance.closeSync();
    engine = await openEngine(store, {}, [dir]);
  }, 300_000);

  afterAll(async () => {
    engine?.close();
    await fs.rm(dir, { recursive: true, force: true });
  });

  test('the fixtures carry pprof.Do labels (else this proves nothing)', () => {
    expect(pairs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(pairs.map(([k]) => k)).size).toBeGreaterThanOrEqual(2);
  });

  test('top: every sample label of the fixtures, both sample types, equals -tagfocus (and its exact form)', async () => {
    for (const [k, v] of pairs) {
      for (const sampleType of ['samples', 'cpu']) {
        const ours = await ourTop(engine, { kind: 'cpu', service: 'svc-a', sampleType, labels: { [k]: v } });
        const want = fromOracle(pprofTop(FILES, { sampleIndex: sampleType, extraArgs: [`-tagfocus=${k}=${v}`] }));
        expect({ k, v, sampleType, ...ours }).toEqual({ k, v, sampleType, ...want });
        expect(ours.rows.length).toBeGreaterThan(0);
        expect(ours.rows).toEqual(fromOracle(pprofTop(FILES, { sampleIndex: sampleType, extraArgs: [`-tagfocus=${k}=${exact(v)}`] })).rows);
      }
    }
  }, 180_000);

  test('the HTTP API: GET /top?label=k=v is the same answer', async () => {
    const [k, v] = pairs[pairs.length - 1];
    const res = await handleApiRequest(
      { method: 'GET', path: '/top', query: `type=cpu&service=svc-a&sampleType=cpu&label=${encodeURIComponent(`${k}=${v}`)}` },
      { openEngine: (f) => openEngine(store, f, [dir]) },
    );
    expect(res.status).toBe(200);
    const body = JSON.parse(String(res.body)) as { total: number; functions: { name: string; flat: number; cum: number }[] };
    const want = fromOracle(pprofTop(FILES, { sampleIndex: 'cpu', extraArgs: [`-tagfocus=${k}=${v}`] }));
    expect({ total: BigInt(body.total), rows: body.functions.map((f) => ({ name: f.name, flat: BigInt(f.flat), cum: BigInt(f.cum) })) }).toEqual(want);
  }, 120_000);

  test('an upload label and a sample label together: the upload label picks profiles, the sample label samples', async () => {
    const [k, v] = pairs[0];
    const ours = await ourTop(engine, { kind: 'cpu', service: 'svc-a', sampleType: 'cpu', labels: { env: 'prod', [k]: v } });
    expect(ours).toEqual(fromOracle(pprofTop([FILES[0]], { sampleIndex: 'cpu', extraArgs: [`-tagfocus=${k}=${v}`] })));
    const canary = await ourTop(engine, { kind: 'cpu', service: 'svc-a', sampleType: 'cpu', labels: { env: 'canary', [k]: v } });
    expect(canary).toEqual(fromOracle(pprofTop(FILES.slice(1), { sampleIndex: 'cpu', extraArgs: [`-tagfocus=${k}=${v}`] })));
  }, 120_000);

  test('a key the upload labels carry decides for the whole profile', async () => {
    const [k, v] = pairs[0];
    // svc-b's upload label k is v-upload: it matches as a whole (every sample, whatever its own k) ...
    const whole = await ourTop(engine, { kind: 'cpu', service: 'svc-b', sampleType: 'cpu', labels: { [k]: v + '-upload' } });
    expect(whole).toEqual(fromOracle(pprofTop([FILES[0]], { sampleIndex: 'cpu' })));
    // ... and the samples' own k=v do not make it match.
    const none = await top(engine, { kind: 'cpu', service: 'svc-b', sampleType: 'cpu', labels: { [k]: v } });
    expect(none.functions).toEqual([]);
    expect(BigInt(none.total)).toBe(0n);
    // Both services at once: per profile, svc-b by its upload label (no match), svc-a by samples.
    const mixed = await ourTop(engine, { kind: 'cpu', sampleType: 'cpu', labels: { [k]: v } });
    expect(mixed).toEqual(fromOracle(pprofTop(FILES, { sampleIndex: 'cpu', extraArgs: [`-tagfocus=${k}=${v}`] })));
  }, 120_000);

  test('two sample labels: the samples carrying both (export with one, -tagfocus the other)', async () => {
    const byKey = new Map<string, string>();
    for (const [k, v] of pairs) if (!byKey.has(k)) byKey.set(k, v);
    const [[k1, v1], [k2, v2]] = [...byKey.entries()];
    const out = path.join(dir, 'export-one-label.pb.gz');
    await fs.writeFile(out, await exportMerged(engine, { kind: 'cpu', service: 'svc-a', labels: { [k1]: v1 } }));
    const ours = await ourTop(engine, { kind: 'cpu', service: 'svc-a', sampleType: 'cpu', labels: { [k1]: v1, [k2]: v2 } });
    // (The export holds only the k1 samples, so its own total is theirs: compare the rows.)
    expect(ours.rows).toEqual(fromOracle(pprofTop([out], { sampleIndex: 'cpu', extraArgs: [`-tagfocus=${k2}=${exact(v2)}`] })).rows);
    expect(ours.total).toBe(pprofTop(FILES, { sampleIndex: 'cpu' }).total);
  }, 120_000);

  test('export, flame graph and diff apply the same filter', async () => {
    const [k, v] = pairs[pairs.length - 1];
    const tagfocus = `-tagfocus=${k}=${v}`;
    // pprof divides by the total of every sample unless -relative_percentages: with it, the total
    // is the selected samples' (what an export holds, a flame graph's root, a diff side's total).
    const selected = pprofTop(FILES, { sampleIndex: 'cpu', extraArgs: [tagfocus, '-relative_percentages'] }).total;
    expect(selected).toBeLessThan(pprofTop(FILES, { sampleIndex: 'cpu' }).total);
    // Export: pprof on it (no filter) prints what -tagfocus prints on the originals, lines too.
    const out = path.join(dir, 'export-label.pb.gz');
    await fs.writeFile(out, await exportMerged(engine, { kind: 'cpu', service: 'svc-a', labels: { [k]: v } }));
    for (const extra of [[], ['-lines']]) {
      const got = pprofTop([out], { sampleIndex: 'cpu', extraArgs: extra });
      expect(got.rows).toEqual(pprofTop(FILES, { sampleIndex: 'cpu', extraArgs: [...extra, tagfocus] }).rows);
      expect(got.total).toBe(selected);
    }
    // Flame graph: the root is the selected samples' total.
    const fg = await flameGraph(engine, { kind: 'cpu', service: 'svc-a', sampleType: 'cpu', labels: { [k]: v } });
    expect(BigInt(fg.total)).toBe(selected);
    // Diff: each side's flat/cum and total are the filtered ones.
    const v1 = RUNS.filter((r) => r.version === 'v1').map((r) => cpuFile(r.run));
    const v2 = RUNS.filter((r) => r.version === 'v2').map((r) => cpuFile(r.run));
    const dr = await diff(engine, { kind: 'cpu', service: 'svc-a', sampleType: 'cpu', labels: { [k]: v }, base: { version: 'v1' }, target: { version: 'v2' } });
    const wantBase = pprofTop(v1, { sampleIndex: 'cpu', extraArgs: [tagfocus, '-relative_percentages'] });
    const wantTarget = pprofTop(v2, { sampleIndex: 'cpu', extraArgs: [tagfocus, '-relative_percentages'] });
    expect(BigInt(dr.base.total)).toBe(wantBase.total);
    expect(BigInt(dr.target.total)).toBe(wantTarget.total);
    const side = (which: 'base' | 'target') =>
      new Map(dr.functions.filter((f) => BigInt(f[which].cum) !== 0n || BigInt(f[which].flat) !== 0n).map((f) => [f.name, [BigInt(f[which].flat), BigInt(f[which].cum)]]));
    expect(side('base')).toEqual(new Map(wantBase.rows.map((r) => [r.name, [r.flat, r.cum]])));
    expect(side('target')).toEqual(new Map(wantTarget.rows.map((r) => [r.name, [r.flat, r.cum]])));
  }, 180_000);
});
