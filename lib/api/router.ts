import { parseDurationUs, parseTime } from '../model/time';
import { z } from 'zod';
import { PROFILE_KINDS } from '../model/profile';
import type { PartitionFilter } from '../store/layout';
import { partitionFilter } from '../query/cohort';
import { GAUGE_AGGREGATES } from '../model/temporality';
import { windowPartitionFilter, type WindowCohort } from '../query/window';
import type { QueryEngine } from '../query/engine';
import { exportMerged, isExportError } from '../query/export';
import { gcTrends } from '../detect/gc-report';
import type { GcQuery } from '../query/gc';
import { exactJson } from '../query/json';
import { runReadOnlySql, SqlRejected, type SqlLimits, type SqlResult } from '../query/sql';
import { top, topPartitionFilter, type TopQuery, type TopResult } from '../query/top';
import { diff, diffPartitionFilter, type DiffQuery } from '../query/diff';
import { flameGraph, flamePartitionFilter, type FlameQuery } from '../query/flamegraph';
import { flameGraphJson, renderFlameHtml } from '../render/flamegraph';
import { listLabels, listServices } from '../query/catalog';
import { timeline } from '../query/timeline';
import type { CohortFilter } from '../query/cohort';
import { uiAsset, UI_PATHS } from './ui-assets';

// The query API, pure: a request in, a response out. The query Lambda (Function URL, payload v2)
// and `fleetprof serve` (node:http) both translate to and from these shapes. Parameters are the
// CLI's flags without the dashes in front (`sample-type`, `base-from`, ...; the camelCase
// spellings of 0.1, `sampleType`, `baseFrom`, are still accepted). The endpoints are the ROUTES
// table below:
//
//   GET  /top?type=&sample-type=&service=&version=&instance=&label=k=v&from=&to=&aggregate=&lookback=&limit=&by=
//   GET  /gc?service=&version=&instance=&label=k=v&from=&to=&bucket=
//   GET  /export?type=&sample-type=&service=&version=&instance=&label=k=v&from=&to=&aggregate=&lookback=   (.pb.gz)
//   GET  /diff?type=&sample-type=&service=&instance=&label=k=v&base-from=&base-to=&from=&to=&base-version=&version=&measure=&alpha=&min-effect=&limit=&aggregate=&lookback=
//   GET  /flamegraph?<as /top>[&base-from=&base-to=&base-version=][&format=html|json]   (self-contained HTML, or the tree as JSON)
//   GET  /services?service=&version=&instance=&label=k=v&from=&to=   (what there is to pick from)
//   GET  /labels?<as /services>   (upload and pprof sample label keys and values)
//   GET  /timeline?<as /services>&bucket=   (CPU cores, allocation rate, heap, goroutines, contention per bucket)
//   GET  /digests?limit=   (archived digests, newest first)
//   GET  /, /ui/*   (the web UI: static files, no data; docs/ui.md)
//   POST /sql  {"sql": "..."}  -> {"columns": [...], "rows": [[...]]}
//   errors: 400/404/405 {"error": "..."}; 500 {"error": "internal error"}

export interface ApiRequest {
  method: string;
  path: string;
  /** The raw query string (without `?`): repeated parameters (label) are kept. */
  query: string;
  body?: string;
}

export interface ApiResponse {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

export interface ApiDeps {
  /** A query engine over the partitions a filter can match (caller closes nothing; router does). */
  openEngine: (filter: PartitionFilter) => Promise<QueryEngine>;
  sqlLimits?: SqlLimits;
  /** Runs user SQL isolated (lib/query/sql-process.ts); without it, in an engine in this process. */
  runSql?: (sql: string) => Promise<SqlResult>;
  /** Only for the commands GC diagnostics suggest. */
  dataDir?: string;
  /** The digest archive: keys under `digests/` (lib/aws/digest-job.ts archivePrefix). */
  digests?: { list(prefix: string): Promise<{ key: string }[]>; read(key: string): Promise<Uint8Array | null> };
  /**
   * `top` of CPU over fresh hours from per-file summaries kept between requests (lib/query/warm-top.ts,
   * serve and the query Lambda); null: not that case, the engine answers.
   */
  warmTop?: { top(q: TopQuery): Promise<TopResult | null> };
  /** Largest accepted request body, bytes (default 64 KiB). */
  maxBodyBytes?: number;
  onError?: (e: unknown) => void;
}

export class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

const json = (status: number, v: unknown): ApiResponse => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8' },
  body: exactJson(v),
});

/** lib/model/time.ts: RFC 3339 with a zone, a date, now, now-1h -> epoch µs. */
const isoTime = z.string().transform((s, ctx) => {
  try {
    return parseTime(s);
  } catch (e) {
    ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
    return z.NEVER;
  }
});
const intParam = z
  .string()
  .regex(/^\d{1,9}$/, 'not a non-negative integer')
  .transform(Number);
const numParam = z
  .string()
  .regex(/^\d+(\.\d+)?([eE]-?\d+)?$/, 'not a non-negative number')
  .transform(Number);

const CohortParams = z.object({
  type: z.enum(PROFILE_KINDS),
  sampleType: z.string().max(256).optional(),
  service: z.string().max(128).optional(),
  version: z.string().max(128).optional(),
  instance: z.string().max(128).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  aggregate: z.enum(GAUGE_AGGREGATES).optional(),
  lookback: z
    .string()
    .max(16)
    .transform((s, ctx) => {
      try {
        return parseDurationUs(s);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
});
const TopParams = CohortParams.extend({
  limit: intParam.optional(),
  by: z.enum(['flat', 'cum']).optional(),
});
const GcParams = z.object({
  service: z.string().max(128).optional(),
  version: z.string().max(128).optional(),
  instance: z.string().max(128).optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  bucket: z.string().max(16).optional(),
});
const DiffParams = z.object({
  type: z.enum(PROFILE_KINDS),
  sampleType: z.string().max(256).optional(),
  service: z.string().max(128).optional(),
  instance: z.string().max(128).optional(),
  baseFrom: isoTime.optional(),
  baseTo: isoTime.optional(),
  from: isoTime.optional(),
  to: isoTime.optional(),
  baseVersion: z.string().max(128).optional(),
  version: z.string().max(128).optional(),
  measure: z.enum(['share', 'norm']).optional(),
  alpha: numParam.optional(),
  minEffect: numParam.optional(),
  limit: intParam.optional(),
  aggregate: CohortParams.shape.aggregate,
  lookback: CohortParams.shape.lookback,
});
const FlameParams = CohortParams.extend({
  baseFrom: isoTime.optional(),
  baseTo: isoTime.optional(),
  baseVersion: z.string().max(128).optional(),
  format: z.enum(['html', 'json']).optional(),
});
const CatalogParams = GcParams.omit({ bucket: true });
const TimelineParams = GcParams;
const DigestsParams = z.object({ limit: intParam.optional() });
const SqlBody = z.object({ sql: z.string().min(1).max(100_000) });

function parseParams<T extends z.ZodTypeAny>(schema: T, query: string): { params: z.output<T>; labels: Record<string, string> } {
  const sp = new URLSearchParams(query);
  const single: Record<string, string> = {};
  const labels: Record<string, string> = {};
  const known = new Set(Object.keys((schema as unknown as z.ZodObject<z.ZodRawShape>).shape));
  for (const [name, v] of sp) {
    // The CLI's kebab-case flag names are canonical; the schemas hold camelCase keys.
    const k = name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    if (k === 'label') {
      const eq = v.indexOf('=');
      if (eq <= 0) throw new BadRequest(`label: expected k=v, got "${v}"`);
      labels[v.slice(0, eq)] = v.slice(eq + 1);
      continue;
    }
    if (!known.has(k)) throw new BadRequest(`unknown parameter "${name}"`);
    if (k in single) throw new BadRequest(`parameter "${name}" given twice`);
    single[k] = v;
  }
  const r = schema.safeParse(single);
  const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
  if (!r.success) throw new BadRequest(r.error.issues.map((i) => `${kebab(i.path.join('.')) || 'query'}: ${i.message}`).join('; '));
  return { params: r.data, labels };
}

function cohortOf(p: z.output<typeof CohortParams>, labels: Record<string, string>): WindowCohort & { sampleType?: string } {
  if (p.from !== undefined && p.to !== undefined && p.from >= p.to) throw new BadRequest('from must be before to');
  return {
    kind: p.type,
    sampleType: p.sampleType,
    service: p.service,
    version: p.version,
    instance: p.instance,
    labels,
    fromUs: p.from,
    toUs: p.to,
    aggregate: p.aggregate,
    lookbackUs: p.lookback,
  };
}

async function withEngine<T>(deps: ApiDeps, filter: PartitionFilter, f: (e: QueryEngine) => Promise<T>): Promise<T> {
  const engine = await deps.openEngine(filter);
  try {
    return await f(engine);
  } finally {
    engine.close();
  }
}

type Handler = (req: ApiRequest, deps: ApiDeps) => Promise<ApiResponse>;

async function getTop(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params, labels } = parseParams(TopParams, req.query);
  const q: TopQuery = { ...cohortOf(params, labels), limit: params.limit, by: params.by ?? 'flat' };
  const warm = await deps.warmTop?.top(q);
  return json(200, warm ?? (await withEngine(deps, topPartitionFilter(q), (e) => top(e, q))));
}

async function getGc(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params, labels } = parseParams(GcParams, req.query);
  let bucketUs: number;
  try {
    bucketUs = parseDurationUs(params.bucket ?? '1h');
  } catch (e) {
    throw new BadRequest(`bucket: ${(e as Error).message}`);
  }
  if (params.from !== undefined && params.to !== undefined && params.from >= params.to) throw new BadRequest('from must be before to');
  const q: GcQuery = { service: params.service, version: params.version, instance: params.instance, labels, fromUs: params.from, toUs: params.to, bucketUs, dataDir: deps.dataDir };
  return json(200, await withEngine(deps, partitionFilter(q), (e) => gcTrends(e, q)));
}

async function getExport(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params, labels } = parseParams(CohortParams, req.query);
  const q = cohortOf(params, labels);
  const bytes = await withEngine(deps, windowPartitionFilter(q), async (e) => {
    try {
      return await exportMerged(e, q);
    } catch (err) {
      if (isExportError(err)) throw new BadRequest(err.message, err.reason === 'no-profiles' ? 404 : 400);
      throw err;
    }
  });
  return {
    status: 200,
    headers: { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename="${q.kind}.pb.gz"` },
    body: bytes,
  };
}

async function getDiff(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params: p, labels } = parseParams(DiffParams, req.query);
  const q: DiffQuery = {
    kind: p.type,
    sampleType: p.sampleType,
    service: p.service,
    instance: p.instance,
    labels,
    base: { fromUs: p.baseFrom, toUs: p.baseTo, version: p.baseVersion },
    target: { fromUs: p.from, toUs: p.to, version: p.version },
    measure: p.measure,
    alpha: p.alpha,
    minEffect: p.minEffect,
    limit: p.limit,
    aggregate: p.aggregate,
    lookbackUs: p.lookback,
  };
  return json(200, await withEngine(deps, diffPartitionFilter(q), (e) => diff(e, q)));
}

async function getFlamegraph(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params: p, labels } = parseParams(FlameParams, req.query);
  const target = cohortOf(p, labels);
  const q: FlameQuery = { ...target };
  if (p.baseFrom !== undefined || p.baseTo !== undefined || p.baseVersion !== undefined) {
    q.base = { ...target, fromUs: p.baseFrom, toUs: p.baseTo, version: p.baseVersion ?? target.version };
  }
  const g = await withEngine(deps, flamePartitionFilter(q), (e) => flameGraph(e, q));
  if (p.format === 'json') return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8' }, body: flameGraphJson(g) };
  return { status: 200, headers: { 'content-type': 'text/html; charset=utf-8' }, body: renderFlameHtml(g) };
}

function catalogFilter(p: z.output<typeof CatalogParams>, labels: Record<string, string>): CohortFilter {
  if (p.from !== undefined && p.to !== undefined && p.from >= p.to) throw new BadRequest('from must be before to');
  return { service: p.service, version: p.version, instance: p.instance, labels, fromUs: p.from, toUs: p.to };
}

async function getServices(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params, labels } = parseParams(CatalogParams, req.query);
  const f = catalogFilter(params, labels);
  return json(200, await withEngine(deps, partitionFilter(f), (e) => listServices(e, f)));
}

async function getLabels(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params, labels } = parseParams(CatalogParams, req.query);
  const f = catalogFilter(params, labels);
  return json(200, await withEngine(deps, partitionFilter(f), (e) => listLabels(e, f)));
}

async function getTimeline(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params, labels } = parseParams(TimelineParams, req.query);
  let bucketUs: number;
  try {
    bucketUs = parseDurationUs(params.bucket ?? '1h');
  } catch (e) {
    throw new BadRequest(`bucket: ${(e as Error).message}`);
  }
  const f = catalogFilter(params, labels);
  return json(200, await withEngine(deps, partitionFilter(f), (e) => timeline(e, { ...f, bucketUs })));
}

/** The archived digests (digest.json of each), newest window first. */
async function getDigests(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const { params } = parseParams(DigestsParams, req.query);
  const limit = params.limit ?? 50;
  if (!deps.digests) return json(200, { digests: [] });
  const keys = (await deps.digests.list('digests/')).map((o) => o.key).filter((k) => k.endsWith('/digest.json'));
  keys.sort((a, b) => (a < b ? 1 : a > b ? -1 : 0));
  const digests: unknown[] = [];
  for (const key of keys.slice(0, limit)) {
    const bytes = await deps.digests.read(key);
    if (!bytes) continue;
    try {
      digests.push({ key, ...(JSON.parse(Buffer.from(bytes).toString('utf8')) as object) });
    } catch (e) {
      digests.push({ key, error: `unreadable digest: ${(e as Error).message}` });
    }
  }
  return json(200, { digests, more: keys.length > limit });
}

async function getUi(req: ApiRequest): Promise<ApiResponse> {
  const r = uiAsset(req.path);
  if (!r) throw new BadRequest(`no such file: ${req.path}`, 404);
  return r;
}

async function postSql(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  const max = deps.maxBodyBytes ?? 64 * 1024;
  if ((req.body ?? '').length > max) throw new BadRequest(`request body over ${max} bytes`);
  let body: unknown;
  try {
    body = JSON.parse(req.body ?? '');
  } catch {
    throw new BadRequest('body must be JSON: {"sql": "..."}');
  }
  const r = SqlBody.safeParse(body);
  if (!r.success) throw new BadRequest('body must be JSON: {"sql": "..."}');
  const result = await (deps.runSql ? deps.runSql(r.data.sql) : withEngine(deps, {}, (e) => runReadOnlySql(e, r.data.sql, deps.sqlLimits))).catch((err: Error) => {
    // DuckDB parser/binder errors (unknown column...) are the caller's mistake too.
    if (err instanceof SqlRejected || /^(Parser|Binder|Catalog|Conversion|Permission|Invalid Input|Out of Range|INTERRUPT|Not implemented|Out of Memory) Error/i.test(err.message)) {
      throw new BadRequest(err.message);
    }
    throw err;
  });
  return json(200, result);
}

/** The endpoints: one line each. A new endpoint is a handler and a row here. */
export const ROUTES: readonly { method: 'GET' | 'POST'; path: string; handle: Handler }[] = [
  { method: 'GET', path: '/top', handle: getTop },
  { method: 'GET', path: '/gc', handle: getGc },
  { method: 'GET', path: '/export', handle: getExport },
  { method: 'GET', path: '/diff', handle: getDiff },
  { method: 'GET', path: '/flamegraph', handle: getFlamegraph },
  { method: 'POST', path: '/sql', handle: postSql },
  { method: 'GET', path: '/services', handle: getServices },
  { method: 'GET', path: '/labels', handle: getLabels },
  { method: 'GET', path: '/timeline', handle: getTimeline },
  { method: 'GET', path: '/digests', handle: getDigests },
  ...UI_PATHS.map((path) => ({ method: 'GET' as const, path, handle: getUi })),
];

export async function handleApiRequest(req: ApiRequest, deps: ApiDeps): Promise<ApiResponse> {
  try {
    const path = req.path.replace(/\/+$/, '') || '/';
    const method = req.method.toUpperCase();
    const onPath = ROUTES.filter((r) => r.path === path);
    const route = onPath.find((r) => r.method === method);
    if (route) return await route.handle(req, deps);
    if (onPath.length > 0) throw new BadRequest(`method ${req.method} not allowed on ${path}`, 405);
    const api = ROUTES.filter((r) => r.handle !== getUi).map((r) => `${r.method} ${r.path}`);
    throw new BadRequest(`no such endpoint: ${req.method} ${path} (${api.join(', ')}; the web UI is at /)`, 404);
  } catch (e) {
    if (e instanceof BadRequest) return json(e.status, { error: e.message });
    deps.onError?.(e);
    return json(500, { error: 'internal error' });
  }
}
