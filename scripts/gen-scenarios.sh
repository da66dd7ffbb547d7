#!/usr/bin/env bash
# Regenerates the detector scenario suite (test/fixtures/scenarios/) from test/fixtures/scenarios/prog.
#
#   scripts/gen-scenarios.sh [--dur 1.5s] [--base-reps 5] [--reps 3] [--out DIR]
#   (DIR default test/fixtures/scenarios: DIR/runs/<run>/ and DIR/MANIFEST.json)
#
# Six services, each run --base-reps times in a baseline phase (all: the plain workload, version v1)
# and then --reps times in a window phase (service "noise": the same plain workload again, so only
# run-to-run noise differs; every other service: version v2 with one injected regression).
# Runs of the services are interleaved within a phase, so each phase is one contiguous time span.
# MANIFEST.json records every run (start time for the gctrace log, phase) and the phase bounds.
# Needs only a Go toolchain (stdlib only). Profiles are real: every generation differs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$ROOT/test/fixtures/scenarios/prog"
DEST="$ROOT/test/fixtures/scenarios"
DUR="1.5s"
REPS=3
BASE_REPS=5
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dur) DUR="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    --base-reps) BASE_REPS="$2"; shift ;;
    --out) DEST="$2"; shift ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gen-scenarios: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done

# service | injected regression in the window phase
SERVICES=(
  "noise none"
  "checkout cpu"
  "sessions heapleak"
  "gateway goroutine"
  "inventory contention"
  "search gc"
)

OUT="$DEST/runs"
export GOTOOLCHAIN=local GOWORK=off
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
BIN="$TMP/scenarios"
(cd "$PROG" && go build -trimpath -buildvcs=false -o "$BIN" .)

now_ms() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
rm -rf "$OUT"
mkdir -p "$OUT"
entries=()
phase_start=()
for phase in baseline window; do
  # A quiet gap between the phases: no run straddles the boundary, and a window a little longer
  # than the phase (digest --window takes whole seconds) still starts after the baseline's last run.
  [[ $phase == window ]] && sleep 3
  phase_start+=("$(now_ms)")
  reps=$REPS
  [[ $phase == baseline ]] && reps=$BASE_REPS
  for rep in $(seq 1 "$reps"); do
    for spec in "${SERVICES[@]}"; do
      read -r service inj <<<"$spec"
      version=v1
      run_inject=none
      if [[ $phase == window && $inj != none ]]; then version=v2; run_inject=$inj; fi
      run="$phase-$service-i$rep"
      dir="$OUT/$run"
      mkdir -p "$dir"
      start="$(now_ms)"
      GODEBUG=gctrace=1 "$BIN" -out "$dir" -inject "$run_inject" -dur "$DUR" 2>"$dir/gctrace.txt"
      end="$(now_ms)"
      echo "gen-scenarios: $run ($version, inject=$run_inject) $start" >&2
      entries+=("$(printf '    {"run": "%s", "phase": "%s", "service": "%s", "instance": "i%s", "version": "%s", "inject": "%s", "startTime": "%s", "endTime": "%s"}' \
        "$run" "$phase" "$service" "$rep" "$version" "$run_inject" "$start" "$end")")
    done
  done
done
end_all="$(now_ms)"
{
  printf '{\n  "generatedBy": "scripts/gen-scenarios.sh --dur %s --base-reps %s --reps %s",\n' "$DUR" "$BASE_REPS" "$REPS"
  printf '  "goVersion": "%s",\n' "$(go env GOVERSION)"
  printf '  "baseline": {"from": "%s", "to": "%s"},\n' "${phase_start[0]}" "${phase_start[1]}"
  printf '  "window": {"from": "%s", "to": "%s"},\n' "${phase_start[1]}" "$end_all"
  printf '  "expected": {"noise": null, "checkout": {"area": "cpu", "culprit": "main.applyDiscountRules"}, "sessions": {"area": "memory", "culprit": "main.rememberRequest"}, "gateway": {"area": "goroutines", "culprit": "main.watchUpstream"}, "inventory": {"area": "contention", "culprit": "main.updateInventory"}, "search": {"area": "gc", "culprit": "main.buildResponse"}},\n'
  printf '  "runs": [\n'
  for i in "${!entries[@]}"; do
    [[ $i -eq 0 ]] || printf ',\n'
    printf '%s' "${entries[$i]}"
  done
  printf '\n  ]\n}\n'
} >"$DEST/MANIFEST.json"
echo "gen-scenarios: wrote $OUT ($(du -sh "$OUT" | cut -f1))" >&2
