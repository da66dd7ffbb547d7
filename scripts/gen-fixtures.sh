#!/usr/bin/env bash
# Regenerates the real Go profile fixtures from test/fixtures/goprog.
#
#   scripts/gen-fixtures.sh              # test/fixtures/go/<run>/... + MANIFEST.json
#   scripts/gen-fixtures.sh --bench      # ... and bench/fixtures/{cpu,heap}-large.pb.gz
#   scripts/gen-fixtures.sh --bench-only # only bench/fixtures
#
# Options: --cpu DURATION (fixture CPU phase, default 1.5s),
#          --bench-cpu DURATION (default 10s), --bench-hz N (default 250).
# Needs only a Go toolchain (stdlib only; no network). Re-runnable: each run
# directory is deleted and rewritten. Profiles are real, so every run differs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$ROOT/test/fixtures/goprog"
OUT="$ROOT/test/fixtures/go"
BENCH_OUT="$ROOT/bench/fixtures"

CPU="1.5s"
BENCH_CPU="10s"
BENCH_HZ="250"
DO_RUNS=1
DO_BENCH=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bench) DO_BENCH=1 ;;
    --bench-only) DO_BENCH=1; DO_RUNS=0 ;;
    --cpu) CPU="$2"; shift ;;
    --bench-cpu) BENCH_CPU="$2"; shift ;;
    --bench-hz) BENCH_HZ="$2"; shift ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gen-fixtures: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

# run name | service | instance | version (= -variant)
RUNS=(
  "svc-a-v1-i1 svc-a i1 v1"
  "svc-a-v1-i2 svc-a i2 v1"
  "svc-a-v2-i1 svc-a i1 v2"
)

export GOTOOLCHAIN=local GOWORK=off
GOVERSION="$(go env GOVERSION)"
GOOS="$(go env GOOS)"
GOARCH="$(go env GOARCH)"

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

# The binary is named after the service so that pprof's "File:" line and the
# main mapping look like a real deployment. -trimpath keeps machine-specific
# paths out of the fixtures (files appear as fleetprof.dev/fixtures/goprog/...).
BIN="$TMP/svc-a"
echo "gen-fixtures: building $PROG with $GOVERSION ($GOOS/$GOARCH)" >&2
(cd "$PROG" && go build -trimpath -buildvcs=false -o "$BIN" .)

now_rfc3339_ms() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
json_str() { printf '"%s"' "$1"; } # values here never contain quotes or backslashes

# files_json DIR [GLOB] -> JSON array of {"name","bytes"} for the files in DIR
files_json() {
  local dir="$1" glob="${2:-*}" first=1 f
  printf '['
  for f in $(cd "$dir" && ls -d $glob | LC_ALL=C sort); do
    [[ $first -eq 1 ]] || printf ','
    first=0
    printf '\n        {"name": %s, "bytes": %d}' "$(json_str "$f")" "$(wc -c <"$dir/$f")"
  done
  printf '\n      ]'
}

# pprof_total FILE [pprof flags...] -> the "of <X> total" figure of -top
pprof_total() {
  local f="$1"; shift
  go tool pprof -top -nodefraction=0 "$@" "$f" 2>/dev/null | sed -n 's/.* of \(.*\) total$/\1/p' | head -n1
}

# verify_run DIR: every profile must load in `go tool pprof`, and each proto
# must have the same total as its debug=1 text twin (same moment, see README).
verify_run() {
  local dir="$1" f kind si a b
  for f in "$dir"/*.pb.gz "$dir"/*.debug1.txt; do
    if ! go tool pprof -top -nodefraction=0 "$f" >/dev/null 2>&1; then
      echo "gen-fixtures: go tool pprof cannot read $f" >&2
      return 1
    fi
  done
  for kind in heap allocs; do
    for si in inuse_space inuse_objects alloc_space alloc_objects; do
      a="$(pprof_total "$dir/$kind.pb.gz" -sample_index=$si -unit=B)"
      b="$(pprof_total "$dir/$kind.debug1.txt" -sample_index=$si -unit=B)"
      [[ "$a" == "$b" ]] || { echo "gen-fixtures: $dir/$kind $si: proto total $a != debug1 total $b" >&2; return 1; }
    done
  done
  for kind in goroutine threadcreate; do
    a="$(pprof_total "$dir/$kind.pb.gz")"; b="$(pprof_total "$dir/$kind.debug1.txt")"
    [[ "$a" == "$b" ]] || { echo "gen-fixtures: $dir/$kind: proto total $a != debug1 total $b" >&2; return 1; }
  done
  for kind in block mutex; do
    for si in contentions delay; do
      a="$(pprof_total "$dir/$kind.pb.gz" -sample_index=$si -unit=ns)"
      b="$(pprof_total "$dir/$kind.debug1.txt" -sample_index=$si -unit=ns)"
      # cycles -> ns conversion of the text form may differ by rounding
      [[ "$a" == "$b" ]] || echo "gen-fixtures: note: $dir/$kind $si: proto total $a, debug1 total $b" >&2
    done
  done
  if ! go tool pprof -top -nodefraction=0 "$dir/cpu.pb.gz" 2>/dev/null | grep -q ' (inline)$'; then
    echo "gen-fixtures: $dir/cpu.pb.gz has no (inline) rows" >&2
    return 1
  fi
  if ! go tool pprof -tags "$dir/cpu.pb.gz" 2>/dev/null | grep -q 'checkout'; then
    echo "gen-fixtures: $dir/cpu.pb.gz has no handler labels" >&2
    return 1
  fi
}

if [[ $DO_RUNS -eq 1 ]]; then
  mkdir -p "$OUT"
  entries=()
  for spec in "${RUNS[@]}"; do
    read -r run service instance version <<<"$spec"
    dir="$OUT/$run"
    rm -rf "$dir"
    mkdir -p "$dir"
    args=(-out "$dir" -variant "$version" -cpu "$CPU")
    echo "gen-fixtures: $run: svc-a ${args[*]}" >&2
    start="$(now_rfc3339_ms)" # just before exec: gctrace "@Ns" offsets count from (about) here
    GODEBUG=gctrace=1 "$BIN" "${args[@]}" 2>"$dir/gctrace.log"
    end="$(now_rfc3339_ms)"
    gomaxprocs="$(sed -n 's/.*GOMAXPROCS=\([0-9]*\).*/\1/p' "$dir/gctrace.log" | head -n1)"
    gcs="$(grep -c '^gc [0-9]' "$dir/gctrace.log" || true)"
    forced="$(grep -c '^gc [0-9].*(forced)$' "$dir/gctrace.log" || true)"
    if [[ "$forced" -lt 1 ]]; then
      echo "gen-fixtures: $run: expected a (forced) gc line in gctrace.log" >&2
      exit 1
    fi
    verify_run "$dir"
    entries+=("$(printf '    {\n      "run": %s,\n      "service": %s,\n      "instance": %s,\n      "version": %s,\n      "variant": %s,\n      "goVersion": %s,\n      "goos": %s,\n      "goarch": %s,\n      "gomaxprocs": %s,\n      "startTime": %s,\n      "endTime": %s,\n      "cpuDuration": %s,\n      "gcLines": %s,\n      "forcedGcLines": %s,\n      "command": %s,\n      "files": %s\n    }' \
      "$(json_str "$run")" "$(json_str "$service")" "$(json_str "$instance")" "$(json_str "$version")" \
      "$(json_str "$version")" "$(json_str "$GOVERSION")" "$(json_str "$GOOS")" "$(json_str "$GOARCH")" \
      "${gomaxprocs:-null}" "$(json_str "$start")" "$(json_str "$end")" "$(json_str "$CPU")" \
      "$gcs" "$forced" "$(json_str "GODEBUG=gctrace=1 svc-a ${args[*]/#$OUT\//test/fixtures/go/} 2>gctrace.log")" \
      "$(files_json "$dir")")")
  done
  {
    printf '{\n'
    printf '  "generatedBy": "scripts/gen-fixtures.sh",\n'
    printf '  "program": "test/fixtures/goprog (module fleetprof.dev/fixtures/goprog, built with -trimpath as svc-a)",\n'
    printf '  "goVersion": %s,\n' "$(json_str "$GOVERSION")"
    printf '  "memProfileRate": 4096,\n  "blockProfileRate": 1,\n  "mutexProfileFraction": 1,\n'
    printf '  "startTimeNote": "startTime is taken (date -u, ms) just before the process is exec-ed; gctrace @<s> offsets are relative to the runtime start, so startTime + offset approximates the wall clock of each gc line",\n'
    printf '  "runs": [\n'
    for i in "${!entries[@]}"; do
      [[ $i -eq 0 ]] || printf ',\n'
      printf '%s' "${entries[$i]}"
    done
    printf '\n  ]\n}\n'
  } >"$OUT/MANIFEST.json"
  echo "gen-fixtures: wrote $OUT/MANIFEST.json ($(du -sh "$OUT" | cut -f1) total)" >&2
fi

if [[ $DO_BENCH -eq 1 ]]; then
  mkdir -p "$BENCH_OUT" "$TMP/bench"
  args=(-mode bench -cpu "$BENCH_CPU" -hz "$BENCH_HZ" -workers 2 -out "$TMP/bench")
  echo "gen-fixtures: bench: svc-a ${args[*]}" >&2
  start="$(now_rfc3339_ms)"
  "$BIN" "${args[@]}" 2>"$TMP/bench/stderr.log"
  cp "$TMP/bench/cpu.pb.gz" "$BENCH_OUT/cpu-large.pb.gz"
  cp "$TMP/bench/heap.pb.gz" "$BENCH_OUT/heap-large.pb.gz"
  {
    printf '{\n'
    printf '  "generatedBy": "scripts/gen-fixtures.sh --bench",\n'
    printf '  "goVersion": %s,\n  "goos": %s,\n  "goarch": %s,\n' "$(json_str "$GOVERSION")" "$(json_str "$GOOS")" "$(json_str "$GOARCH")"
    printf '  "startTime": %s,\n' "$(json_str "$start")"
    printf '  "command": %s,\n' "$(json_str "svc-a -mode bench -cpu $BENCH_CPU -hz $BENCH_HZ -workers 2")"
    printf '  "files": %s\n' "$(files_json "$BENCH_OUT" '*.pb.gz' | sed 's/^    //')"
    printf '}\n'
  } >"$TMP/bench-manifest.json"
  mv "$TMP/bench-manifest.json" "$BENCH_OUT/MANIFEST.json"
  echo "gen-fixtures: wrote $BENCH_OUT ($(du -sh "$BENCH_OUT" | cut -f1) total)" >&2
fi
