// Recall and false positives of the digest's detectors on freshly generated scenario suites
// (docs/detectors.md, "Measured recall and false positives"). Generate the suites first, e.g.
//
//   bash scripts/gen-scenarios.sh --mode captures --base-reps 5 --reps 5 --out /tmp/scen-c
//   bash scripts/gen-scenarios.sh --mode agent --instances 20 --out /tmp/scen-a   # ~13 min, ~30 MB
//   npm run -s build:all && node dist/bench/detectors.js --captures /tmp/scen-c --agent /tmp/scen-a
//
// Captures suite: for n = 1, 2, 3, 5 per side, disjoint trials (instances 1..n, n+1..2n, ...) each
// ingested alone and digested per service. Agent suite: disjoint trials of 1, 2, 3, 5 and 20
// instances (as many as fit in its K). A regression counts as found when an anomaly of
// its area names the injected function first; a false positive is any anomaly of a noise service
// or any anomaly of a regression service that does not name the injected function.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { DigestResult } from '../lib/detect/digest';
import { renderDigestHtml } from '../lib/render/digest-html';
import { falsePositives, ingestScenarios, isFound, scenarioManifest, serviceDigest, type ScenarioManifest } from '../test/helpers/scenarios';

interface Row {
  suite: string;
  n: number;
  trials: number;
  found: Record<string, [number, number]>;
  /** Of the found: cards that name the injected function in the summary and, after a deploy, the version change. */
  cards: Record<string, [number, number]>;
  noiseTrials: number;
  noiseFp: number;
  otherFp: number;
  fpKinds: string[];
  cardMisses: string[];
}

/**
 * The finding card of the injected regression (the digest's HTML): its headline names the
 * regressed function and, after a deploy, the version change (the card's title says the versions).
 */
function cardNames(d: DigestResult, culprit: string, deployed: boolean): boolean {
  const cards = renderDigestHtml(d).split('<section class="card"').slice(1);
  const esc = (x: string) => x.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return cards.some((c) => {
    const summary = /<p class="summary">([^<]*)<\/p>/.exec(c)?.[1] ?? '';
    if (!summary.includes(esc(culprit)) || !c.includes(`<code>${esc(culprit)}</code>`)) return false;
    return deployed ? summary.includes('v1 -&gt; v2') && c.includes('versions v1 → v2') : !summary.includes('version change');
  });
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function trial(suite: string, m: ScenarioManifest, instances: Set<string>, row: Row): Promise<void> {
  const data = mkdtempSync(path.join(os.tmpdir(), 'fleetprof-detbench-'));
  try {
    await ingestScenarios(data, (r) => instances.has(r.instance), suite);
    for (const [service, bounds] of Object.entries(m.services)) {
      const e = m.expected[service] ?? null;
      const d = await serviceDigest(data, service, bounds);
      const fp = falsePositives(d.anomalies, e);
      if (e === null) {
        row.noiseTrials++;
        row.noiseFp += fp.length;
      } else {
        const f = (row.found[service] ??= [0, 0]);
        f[1]++;
        if (isFound(d.anomalies, e)) {
          f[0]++;
          const c = (row.cards[service] ??= [0, 0]);
          c[1]++;
          const deployed = m.runs.some((r) => r.service === service && r.phase === 'window' && r.version !== 'v1');
          if (cardNames(d, e.culprit, deployed)) c[0]++;
          else row.cardMisses.push(`${service}: ${d.anomalies.find((a) => a.culprits[0] === e.culprit)?.summary}`);
        }
        row.otherFp += fp.length;
      }
      for (const a of fp) row.fpKinds.push(`${service}:${a.id}:${a.culprits[0] ?? '-'}`);
    }
  } finally {
    rmSync(data, { recursive: true, force: true });
  }
}

async function measure(label: string, suite: string, sizes: number[]): Promise<Row[]> {
  const m = scenarioManifest(suite);
  const all = [...new Set(m.runs.map((r) => r.instance))].sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)));
  const rows: Row[] = [];
  for (const n of sizes) {
    if (n > all.length) continue;
    const row: Row = { suite: label, n, trials: 0, found: {}, cards: {}, noiseTrials: 0, noiseFp: 0, otherFp: 0, fpKinds: [], cardMisses: [] };
    // --trials K: only the first K disjoint trials of each size (a shorter run; the table says how many).
    const most = Number(arg('--trials') ?? Infinity);
    for (let k = 0; (k + 1) * n <= all.length && k < most; k++) {
      await trial(suite, m, new Set(all.slice(k * n, (k + 1) * n)), row);
      row.trials++;
      process.stderr.write(`detectors: ${label} n=${n} trial ${k + 1}: noise FP ${row.noiseFp}, other FP ${row.otherFp}, found ${JSON.stringify(row.found)}\n`);
    }
    rows.push(row);
    process.stderr.write(`detectors: ${label} n=${n}: ${JSON.stringify(row)}\n`);
  }
  return rows;
}

async function main(): Promise<void> {
  const captures = arg('--captures');
  const agent = arg('--agent');
  if (!captures && !agent) throw new Error('usage: detectors --captures DIR [--agent DIR]');
  const rows: Row[] = [];
  if (captures) rows.push(...(await measure('captures (1 snapshot per instance)', captures, [1, 2, 3, 5])));
  // --sizes 20,5: only those fleet sizes (per side) of the agent suite (several processes can share the work).
  const sizes = arg('--sizes')?.split(',').map(Number) ?? [1, 2, 3, 5, 20];
  if (agent) rows.push(...(await measure('agent pattern (many snapshots per instance)', agent, sizes)));
  const services = [...new Set(rows.flatMap((r) => Object.keys(r.found)))];
  const m = scenarioManifest((captures ?? agent)!);
  const head = ['suite', 'instances per side', 'trials', ...services.map((s) => `${m.expected[s]!.area} (${s})`), 'recall', 'noise FP (anomalies / service-trials)', 'other FP', 'cards naming function (+ deploy)'];
  let out = `| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|\n`;
  for (const r of rows) {
    const f = services.map((s) => (r.found[s] ? `${r.found[s][0]}/${r.found[s][1]}` : '-'));
    const tot = services.reduce((a, s) => [a[0] + (r.found[s]?.[0] ?? 0), a[1] + (r.found[s]?.[1] ?? 0)], [0, 0]);
    const cards = services.reduce((a, s) => [a[0] + (r.cards[s]?.[0] ?? 0), a[1] + (r.cards[s]?.[1] ?? 0)], [0, 0]);
    out += `| ${r.suite} | ${r.n} | ${r.trials} | ${f.join(' | ')} | ${tot[0]}/${tot[1]} | ${r.noiseFp}/${r.noiseTrials} | ${r.otherFp} | ${cards[0]}/${cards[1]} |\n`;
  }
  process.stdout.write(out);
  const kinds = rows.flatMap((r) => r.fpKinds.map((k) => `${r.suite} n=${r.n} ${k}`));
  if (kinds.length > 0) process.stdout.write('\nfalse positives:\n' + kinds.map((k) => `- ${k}`).join('\n') + '\n');
  const misses = rows.flatMap((r) => r.cardMisses.map((k) => `${r.suite} n=${r.n} ${k}`));
  if (misses.length > 0) process.stdout.write('\ncards not naming the function or the deploy:\n' + misses.map((k) => `- ${k}`).join('\n') + '\n');
}

main().catch((e) => {
  process.stderr.write(`${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
