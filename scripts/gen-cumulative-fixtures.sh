#!/usr/bin/env bash
# Regenerates test/fixtures/cumulative: successive CUMULATIVE snapshots of one instance written by
# test/fixtures/cumprog, run twice in a row (run1, then run2: a restart of the same instance).
#
#   scripts/gen-cumulative-fixtures.sh [--snapshots N] [--every DURATION]
#
# Needs only a Go toolchain (stdlib only; no network). Re-runnable; real profiles, so every run
# differs: tests compare fleetprof with `go tool pprof -base` on these files, never with numbers.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$ROOT/test/fixtures/cumprog"
OUT="$ROOT/test/fixtures/cumulative"
N=8
EVERY=1s
while [[ $# -gt 0 ]]; do
  case "$1" in
    --snapshots) N="$2"; shift ;;
    --every) EVERY="$2"; shift ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gen-cumulative-fixtures: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

export GOTOOLCHAIN=local GOWORK=off
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
BIN="$TMP/cumprog"
(cd "$PROG" && go build -trimpath -buildvcs=false -o "$BIN" .)

rm -rf "$OUT/run1" "$OUT/run2"
for run in run1 run2; do
  echo "gen-cumulative-fixtures: $run" >&2
  "$BIN" -out "$OUT/$run" -snapshots "$N" -every "$EVERY" -burst-from 3 -burst-to 5
  for f in "$OUT/$run"/*.pb.gz; do
    go tool pprof -top "$f" >/dev/null 2>&1 || { echo "gen-cumulative-fixtures: go tool pprof cannot read $f" >&2; exit 1; }
  done
done
{
  printf '{\n  "generatedBy": "scripts/gen-cumulative-fixtures.sh",\n'
  printf '  "goVersion": "%s",\n' "$(go env GOVERSION)"
  printf '  "service": "cum", "instance": "i1",\n'
  printf '  "runs": ["run1", "run2"],\n  "snapshots": %d, "every": "%s", "burst": [3, 5],\n' "$N" "$EVERY"
  printf '  "note": "run2 is a restart of the same instance, started after run1 exited; <seq>_<kind>.pb.gz are cumulative since process start"\n}\n'
} >"$OUT/MANIFEST.json"
echo "gen-cumulative-fixtures: wrote $OUT ($(du -sh "$OUT" | cut -f1))" >&2
