#!/usr/bin/env bash
# Generates a detector scenario suite from test/fixtures/scenarios/prog (real Go processes, real
# profiles, gctrace and runtime/metrics; every generation differs).
#
#   scripts/gen-scenarios.sh [--out DIR] [--mode captures|agent|periods] [options]
#   (DIR default test/fixtures/scenarios: DIR/runs/<run>/ and DIR/MANIFEST.json)
#
# captures (default): --base-reps N (5) baseline and --reps M (3) window runs per service, each a
#   fresh process with one snapshot of each kind (--dur 1.5s of requests): "one capture per
#   instance". Runs of all services are interleaved within a phase, so each phase is one span.
# agent: the agent's real pattern. --instances K (3) processes per service, each running the
#   fleetprof agent library (agent/) while it serves requests without pause: one bundle per
#   --period (10s) holding a CPU profile of --cpu-duration (2s), allocs/block/mutex deltas
#   (differenced by the agent), heap/goroutine snapshots and runtime/metrics every --metrics-every
#   (2s). That is the agent's default (60s period, 10s CPU profile, 10s metrics) with time
#   compressed 5-6x. --base-periods B (6) periods of baseline, then --window-periods W (3) of
#   window. Uploads land as runs/<run>/<key file> + .meta.json (key and x-amz-meta-*), no gctrace
#   (a service linking the agent ships none; GC comes from runtime/metrics). Services run one
#   after another, each with its K instances together and its own phase bounds.
# periods: the earlier imitation of the agent (the program itself takes ?seconds=N deltas per
#   --period, 1s; metrics every 250ms; with gctrace): how test/fixtures/scenarios-agent was made.
#   Its delta handlers block a whole period, so on a loaded host the phases overrun.
#
# Services (all modes): two noise services (the same workload again: noise without a restart,
# noise2 redeployed with the same version), and one regression per area: checkout cpu, sessions
# heapleak, ledger allocrate, gateway goroutine, inventory contention (each after a deploy v1 -> v2)
# and search gc (GC pressure without a deploy: same version; in agent/periods mode the same
# processes, the injection turned on at the phase boundary).
# MANIFEST.json records every run (start time for the gctrace log, phase, process) and each
# service's phase bounds. Needs a Go toolchain (captures/periods: stdlib only; agent: the agent
# module's dependencies). Runs one process at a time (captures) or K at a time (agent, periods).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROG="$ROOT/test/fixtures/scenarios/prog"
DEST="$ROOT/test/fixtures/scenarios"
MODE=captures
DUR="1.5s"
REPS=3
BASE_REPS=5
INSTANCES=3
PERIOD_MS=""
BASE_PERIODS=6
WINDOW_PERIODS=3
METRICS_EVERY=""
CPU_DURATION="2s"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --mode) MODE="$2"; shift ;;
    --dur) DUR="$2"; shift ;;
    --reps) REPS="$2"; shift ;;
    --base-reps) BASE_REPS="$2"; shift ;;
    --instances) INSTANCES="$2"; shift ;;
    --period) if [[ $2 == *ms ]]; then PERIOD_MS="${2%ms}"; else PERIOD_MS=$(( ${2%s} * 1000 )); fi; shift ;;
    --base-periods) BASE_PERIODS="$2"; shift ;;
    --window-periods) WINDOW_PERIODS="$2"; shift ;;
    --metrics-every) METRICS_EVERY="$2"; shift ;;
    --cpu-duration) CPU_DURATION="$2"; shift ;;
    --out) DEST="$2"; shift ;;
    -h|--help) sed -n '2,32p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "gen-scenarios: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
[[ $MODE == captures || $MODE == agent || $MODE == periods ]] || { echo "gen-scenarios: --mode captures|agent|periods" >&2; exit 2; }
if [[ $MODE == agent ]]; then
  : "${PERIOD_MS:=10000}" "${METRICS_EVERY:=2s}"
else
  : "${PERIOD_MS:=1000}" "${METRICS_EVERY:=250ms}"
fi

# service | injected regression | how the window phase starts: deploy (v2, new processes),
# redeploy (same version, new processes), none (same version, same processes in agent mode)
SERVICES=(
  "noise none none"
  "noise2 none redeploy"
  "checkout cpu deploy"
  "sessions heapleak deploy"
  "ledger allocrate deploy"
  "gateway goroutine deploy"
  "inventory contention deploy"
  "search gc none"
)
EXPECTED='{"noise": null, "noise2": null, "checkout": {"area": "cpu", "culprit": "main.applyDiscountRules"}, "sessions": {"area": "memory", "culprit": "main.rememberRequest"}, "ledger": {"area": "memory", "culprit": "main.encodeResponse"}, "gateway": {"area": "goroutines", "culprit": "main.watchUpstream"}, "inventory": {"area": "contention", "culprit": "main.updateInventory"}, "search": {"area": "gc", "culprit": "main.buildResponse"}}'

OUT="$DEST/runs"
export GOTOOLCHAIN=local GOWORK=off
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
BIN="$TMP/scenarios"
(cd "$PROG" && go build -trimpath -buildvcs=false -o "$BIN" .)

now_ms() { date -u +%Y-%m-%dT%H:%M:%S.%3NZ; }
iso_of_ms() { date -u -d "@$(( $1 / 1000 )).$(printf '%03d' $(( $1 % 1000 )))" +%Y-%m-%dT%H:%M:%S.%3NZ; }
epoch_ms() { date +%s%3N; }
rm -rf "$OUT"
mkdir -p "$OUT"
entries=()
bounds=()
entry() { # run phase service instance version inject start end process
  entries+=("$(printf '    {"run": "%s", "phase": "%s", "service": "%s", "instance": "%s", "version": "%s", "inject": "%s", "startTime": "%s", "endTime": "%s", "process": "%s"}' "$@")")
}

if [[ $MODE == captures ]]; then
  phase_start=()
  for phase in baseline window; do
    # A quiet gap between the phases: no run straddles the boundary.
    [[ $phase == window ]] && sleep 3
    phase_start+=("$(now_ms)")
    reps=$REPS
    [[ $phase == baseline ]] && reps=$BASE_REPS
    for rep in $(seq 1 "$reps"); do
      for spec in "${SERVICES[@]}"; do
        read -r service inj how <<<"$spec"
        version=v1
        run_inject=none
        if [[ $phase == window && $inj != none ]]; then run_inject=$inj; fi
        if [[ $phase == window && $how == deploy ]]; then version=v2; fi
        run="$phase-$service-i$rep"
        dir="$OUT/$run"
        mkdir -p "$dir"
        start="$(now_ms)"
        GODEBUG=gctrace=1 "$BIN" -out "$dir" -inject "$run_inject" -dur "$DUR" 2>"$dir/gctrace.txt"
        end="$(now_ms)"
        echo "gen-scenarios: $run ($version, inject=$run_inject) $start" >&2
        entry "$run" "$phase" "$service" "i$rep" "$version" "$run_inject" "$start" "$end" "$run"
      done
    done
  done
  end_all="$(now_ms)"
  for spec in "${SERVICES[@]}"; do
    read -r service _ _ <<<"$spec"
    bounds+=("$(printf '    "%s": {"baseline": {"from": "%s", "to": "%s"}, "window": {"from": "%s", "to": "%s"}}' "$service" "${phase_start[0]}" "${phase_start[1]}" "${phase_start[1]}" "$end_all")")
  done
  generated="--mode captures --dur $DUR --base-reps $BASE_REPS --reps $REPS"
  phases="$(printf '  "baseline": {"from": "%s", "to": "%s"},\n  "window": {"from": "%s", "to": "%s"},\n' "${phase_start[0]}" "${phase_start[1]}" "${phase_start[1]}" "$end_all")"
elif [[ $MODE == agent ]]; then
  period="${PERIOD_MS}ms"
  for spec in "${SERVICES[@]}"; do
    read -r service inj how <<<"$spec"
    # Period 0 starts two seconds from now (time for K processes to start on a busy host).
    t0=$(( $(epoch_ms) + 2000 ))
    boundary=$(( t0 + BASE_PERIODS * PERIOD_MS ))
    end=$(( boundary + WINDOW_PERIODS * PERIOD_MS ))
    agent_args=(-period "$period" -cpu-duration "$CPU_DURATION" -metrics-every "$METRICS_EVERY" -service "$service")
    pids=()
    if [[ $how == none ]]; then
      # Same processes through both phases; the injection (if any) turns on at the boundary.
      for i in $(seq 1 "$INSTANCES"); do
        run="$service-i$i"
        mkdir -p "$OUT/$run"
        "$BIN" -agent-dir "$OUT/$run" "${agent_args[@]}" -instance "i$i" -version v1 -start-at "$t0" \
          -run-for "$(( (BASE_PERIODS + WINDOW_PERIODS) * PERIOD_MS ))ms" -inject "$inj" -inject-after "$(( BASE_PERIODS * PERIOD_MS ))ms" 2>"$TMP/$run.log" &
        pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p"; done
      now=$(epoch_ms); (( now > end )) && end=$now
      for i in $(seq 1 "$INSTANCES"); do
        entry "$service-i$i" "both" "$service" "i$i" "v1" "$inj" "$(iso_of_ms "$t0")" "$(iso_of_ms "$end")" "$service-i$i"
      done
    else
      version=v1
      [[ $how == deploy ]] && version=v2
      for i in $(seq 1 "$INSTANCES"); do
        run="$service-i$i-baseline"
        mkdir -p "$OUT/$run"
        "$BIN" -agent-dir "$OUT/$run" "${agent_args[@]}" -instance "i$i" -version v1 -start-at "$t0" \
          -run-for "$(( BASE_PERIODS * PERIOD_MS ))ms" 2>"$TMP/$run.log" &
        pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p"; done
      # The baseline processes have stopped (their last bundle uploaded): the window starts when
      # the new processes start, never before, so no baseline upload falls in the window.
      now=$(( $(epoch_ms) + 1000 ))
      (( now > boundary )) && boundary=$now && end=$(( boundary + WINDOW_PERIODS * PERIOD_MS ))
      for i in $(seq 1 "$INSTANCES"); do
        entry "$service-i$i-baseline" "baseline" "$service" "i$i" "v1" "none" "$(iso_of_ms "$t0")" "$(iso_of_ms "$boundary")" "$service-i$i-baseline"
      done
      pids=()
      for i in $(seq 1 "$INSTANCES"); do
        run="$service-i$i-window"
        mkdir -p "$OUT/$run"
        "$BIN" -agent-dir "$OUT/$run" "${agent_args[@]}" -instance "i$i" -version "$version" -start-at "$boundary" \
          -run-for "$(( WINDOW_PERIODS * PERIOD_MS ))ms" -inject "$inj" 2>"$TMP/$run.log" &
        pids+=($!)
      done
      for p in "${pids[@]}"; do wait "$p"; done
      now=$(epoch_ms); (( now > end )) && end=$now
      for i in $(seq 1 "$INSTANCES"); do
        entry "$service-i$i-window" "window" "$service" "i$i" "$version" "$inj" "$(iso_of_ms "$boundary")" "$(iso_of_ms "$end")" "$service-i$i-window"
      done
    fi
    # The window ends a millisecond after the last upload could start.
    end=$(( end + 1 ))
    grep -h "agent:" "$TMP"/"$service"-*.log | sed "s/^/gen-scenarios: $service: /" | head -3 >&2 || true
    echo "gen-scenarios: $service ($inj, $how) $(iso_of_ms "$t0") .. $(iso_of_ms "$boundary") .. $(iso_of_ms "$end")" >&2
    bounds+=("$(printf '    "%s": {"baseline": {"from": "%s", "to": "%s"}, "window": {"from": "%s", "to": "%s"}}' "$service" "$(iso_of_ms "$t0")" "$(iso_of_ms "$boundary")" "$(iso_of_ms "$boundary")" "$(iso_of_ms "$end")")")
  done
  phases=""
  generated="--mode agent --instances $INSTANCES --period $period --cpu-duration $CPU_DURATION --base-periods $BASE_PERIODS --window-periods $WINDOW_PERIODS --metrics-every $METRICS_EVERY"
else
  period="${PERIOD_MS}ms"
  for spec in "${SERVICES[@]}"; do
    read -r service inj how <<<"$spec"
    # Period 0 starts a second from now (time for the processes to start and warm up).
    t0=$(( $(epoch_ms) + 1000 ))
    boundary=$(( t0 + BASE_PERIODS * PERIOD_MS ))
    end=$(( boundary + WINDOW_PERIODS * PERIOD_MS ))
    pids=()
    if [[ $how == none ]]; then
      # Same processes through both phases; the injection (if any) turns on at the boundary.
      for i in $(seq 1 "$INSTANCES"); do
        run="$service-i$i"
        dir="$OUT/$run"
        mkdir -p "$dir"
        GODEBUG=gctrace=1 "$BIN" -out "$dir" -periods $(( BASE_PERIODS + WINDOW_PERIODS )) -period "$period" -metrics-every "$METRICS_EVERY" \
          -inject "$inj" -inject-from "$BASE_PERIODS" -start-at "$t0" 2>"$dir/gctrace.txt" &
        pids+=($!)
        entry "$run" "both" "$service" "i$i" "v1" "$inj" "$(now_ms)" "$(iso_of_ms "$end")" "$run"
      done
      for p in "${pids[@]}"; do wait "$p"; done
    else
      version=v1
      [[ $how == deploy ]] && version=v2
      for i in $(seq 1 "$INSTANCES"); do
        run="$service-i$i-baseline"
        mkdir -p "$OUT/$run"
        GODEBUG=gctrace=1 "$BIN" -out "$OUT/$run" -periods "$BASE_PERIODS" -period "$period" -metrics-every "$METRICS_EVERY" \
          -start-at "$t0" 2>"$OUT/$run/gctrace.txt" &
        pids+=($!)
        entry "$run" "baseline" "$service" "i$i" "v1" "none" "$(now_ms)" "$(iso_of_ms "$boundary")" "$run"
      done
      for p in "${pids[@]}"; do wait "$p"; done
      # On a busy host the baseline processes may end after the planned boundary: the window
      # starts when the new processes can start (never in the past), and the bounds say so.
      now=$(( $(epoch_ms) + 500 ))
      (( now > boundary )) && boundary=$now && end=$(( boundary + WINDOW_PERIODS * PERIOD_MS ))
      pids=()
      for i in $(seq 1 "$INSTANCES"); do
        run="$service-i$i-window"
        mkdir -p "$OUT/$run"
        GODEBUG=gctrace=1 "$BIN" -out "$OUT/$run" -periods "$WINDOW_PERIODS" -period "$period" -metrics-every "$METRICS_EVERY" \
          -inject "$inj" -start-at "$boundary" 2>"$OUT/$run/gctrace.txt" &
        pids+=($!)
        entry "$run" "window" "$service" "i$i" "$version" "$inj" "$(now_ms)" "$(iso_of_ms "$end")" "$run"
      done
      for p in "${pids[@]}"; do wait "$p"; done
    fi
    echo "gen-scenarios: $service ($inj, $how) $(iso_of_ms "$t0") .. $(iso_of_ms "$end")" >&2
    bounds+=("$(printf '    "%s": {"baseline": {"from": "%s", "to": "%s"}, "window": {"from": "%s", "to": "%s"}}' "$service" "$(iso_of_ms "$t0")" "$(iso_of_ms "$boundary")" "$(iso_of_ms "$boundary")" "$(iso_of_ms "$end")")")
  done
  phases=""
  generated="--mode periods --instances $INSTANCES --period $period --base-periods $BASE_PERIODS --window-periods $WINDOW_PERIODS --metrics-every $METRICS_EVERY"
fi

join() { local sep="$1"; shift; local first=1; for x in "$@"; do [[ $first == 1 ]] || printf '%s' "$sep"; printf '%s' "$x"; first=0; done; }
{
  printf '{\n  "generatedBy": "scripts/gen-scenarios.sh %s",\n' "$generated"
  printf '  "mode": "%s",\n' "$MODE"
  printf '  "goVersion": "%s",\n' "$(go env GOVERSION)"
  [[ -z $phases ]] || printf '%s\n' "$phases"
  printf '  "services": {\n%s\n  },\n' "$(join $',\n' "${bounds[@]}")"
  printf '  "expected": %s,\n' "$EXPECTED"
  printf '  "runs": [\n%s\n  ]\n}\n' "$(join $',\n' "${entries[@]}")"
} >"$DEST/MANIFEST.json"
echo "gen-scenarios: wrote $OUT ($(du -sh "$OUT" | cut -f1))" >&2
