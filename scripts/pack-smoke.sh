#!/usr/bin/env bash
# The npm package as a user gets it: `npm pack`, installed into an empty directory from the tarball
# and the npm cache (--prefer-offline: the registry only for what the cache lacks), then
# `fleetprof --version`, `demo`, `serve` and (when moto_server is on PATH) `local` run from there,
# and requiring the library does not load DuckDB or the AWS SDK.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT
npm pack --pack-destination "$tmp" --silent >"$tmp/pack.out"
tgz="$tmp/$(tail -1 "$tmp/pack.out")"
echo "pack-smoke: $(du -h "$tgz" | cut -f1) $(basename "$tgz")"
mkdir "$tmp/app"
cd "$tmp/app"
echo '{"name":"pack-smoke","version":"0.0.0","private":true}' >package.json
npm install --prefer-offline --no-audit --no-fund --omit=dev "$tgz" >/dev/null
bin=./node_modules/.bin/fleetprof
want=$(node -p "require('fleetprof/package.json').version")
[ "$($bin --version)" = "$want" ] || { echo "pack-smoke: --version is not $want" >&2; exit 1; }
$bin demo --data "$tmp/demo" >"$tmp/demo.out" 2>"$tmp/demo.err" || { cat "$tmp/demo.err" >&2; exit 1; }
grep -q 'fleet top cpu' "$tmp/demo.out"
# The library entry: no DuckDB, no AWS SDK until used.
node -e "
const t = Date.now(); const f = require('fleetprof');
const heavy = Object.keys(require.cache).filter((k) => /@duckdb|@aws-sdk/.test(k));
if (heavy.length) { console.error('require(\"fleetprof\") loaded', heavy[0]); process.exit(1); }
if (typeof f.decodeProfile !== 'function' || typeof f.top !== 'function') process.exit(1);
console.log('pack-smoke: require(\"fleetprof\") in', Date.now() - t, 'ms, no DuckDB/AWS SDK loaded');"
# serve: the query API answers /top over the demo data.
$bin serve --data "$tmp/demo" --port 0 2>"$tmp/serve.err" &
pids+=($!)
for _ in $(seq 100); do grep -q 'http://127.0.0.1:' "$tmp/serve.err" && break; sleep 0.2; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$tmp/serve.err" | head -1)
node -e "fetch('$url/top?type=cpu&limit=1').then(async (r) => { const j = await r.json(); if (r.status !== 200 || !(j.total > 0)) { console.error(r.status, j); process.exit(1); } console.log('pack-smoke: serve /top total', j.total); })"
# serve: the web UI's page and bundle come from the package (dist/web, built at pack time).
node -e "Promise.all(['/', '/ui/app.js', '/ui/app.css'].map((p) => fetch('$url' + p).then(async (r) => [p, r.status, (await r.text()).length]))).then((rs) => { for (const [p, s, n] of rs) if (s !== 200 || n < 100) { console.error('pack-smoke: web UI', p, s, n); process.exit(1); } console.log('pack-smoke: web UI served:', rs.map(([p, , n]) => p + ' ' + n + ' B').join(', ')); })"
# local: the serverless pipeline (needs moto_server).
if command -v moto_server >/dev/null 2>&1; then
  env -u AWS_ENDPOINT_URL $bin local --port 0 --exports-file "$tmp/local.env" >/dev/null 2>"$tmp/local.err" &
  pids+=($!)
  for _ in $(seq 150); do [ -s "$tmp/local.env" ] && break; sleep 0.2; done
  [ -s "$tmp/local.env" ] || { cat "$tmp/local.err" >&2; echo 'pack-smoke: fleetprof local did not start' >&2; exit 1; }
  grep -q FLEETPROF_API "$tmp/local.env"
  echo 'pack-smoke: fleetprof local started'
else
  echo 'pack-smoke: moto_server not on PATH, fleetprof local not tried'
fi
echo 'pack-smoke: ok'
