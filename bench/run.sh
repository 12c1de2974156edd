#!/usr/bin/env bash
# make bench: measure Auditstream against raw franz-go on the same broker, in
# one run, and report ratios (the method is in DESIGN.md, "Performance
# method").
#
# Starts Kafka when it is not running, and then stops it at the end; a
# running stack is left alone. Builds the router and the bench driver, runs
# the four scenarios, prints a table and writes bench/results/latest.json
# (plus a timestamped copy; the last 10 are kept, git-ignored). The runs'
# logs and pipeline files go to bench/results/logs/.
#
#   BENCH_SCALE=0.2 make bench   scale event counts and durations (default 1:
#                                1M events per producer run and in the backlog,
#                                20 s per side and load for latency; about 3.5
#                                minutes on 2 cores)
#   BENCH_PROFILE=1 make bench   also profile the SDK in-process and one extra
#                                router drain, into bench/results/*.pprof
#
# A goal that is missed is reported in the table, not in the exit code. The
# exit code is 1 only when a measurement could not be made.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
STACK_DIR="${STACK_DIR:-$PWD/.stack}"
export STACK_DIR
scale="${BENCH_SCALE:-1}"
out=bench/results
logs=$out/logs

# scaled N MIN: N times the scale, at least MIN, as an integer.
scaled() { awk -v n="$1" -v s="$scale" -v m="$2" 'BEGIN { v = int(n * s); if (v < m) v = m; print v }'; }
awk -v s="$scale" 'BEGIN { exit !(s > 0) }' || { echo "bench: BENCH_SCALE=$scale: want a number > 0" >&2; exit 2; }

started=()
stack/kafka.sh status >/dev/null 2>&1 || started+=(kafka)
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  if ((${#started[@]})); then stack/down.sh "${started[@]}" >/dev/null || true; fi
}
trap cleanup EXIT
stack/up.sh kafka >/dev/null
set -a
# shellcheck source=/dev/null
. "$STACK_DIR/env"
set +a
broker_pid=$(cat "$STACK_DIR/kafka/kafka.pid" 2>/dev/null || echo 0)
began=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "bench: kafka at $AUDITSTREAM_BROKERS (pid $broker_pid), scale $scale" >&2

echo "bench: building the router and the bench driver" >&2
(cd router && go build -o "$work/router" ./cmd/router)
(cd bench && go build -o "$work/bench" ./cmd/bench)
rm -rf "$logs"
mkdir -p "$logs"

produce_events=$(scaled 1000000 10000)
route_events=$(scaled 1000000 10000)
latency_seconds=$(scaled 20 2)s
profile=()
route_profile=()
if [[ ${BENCH_PROFILE:-0} == 1 ]]; then
  profile=(--cpuprofile "$PWD/$out/produce.cpu.pprof")
  # The router has no pprof endpoint; this build adds one (for this binary
  # only, through -overlay: the router's sources are not touched).
  cat >"$work/pprof.go" <<'GO'
package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

// Serves net/http/pprof when the benchmark asks for it.
func init() {
	if addr := os.Getenv("AUDITSTREAM_BENCH_PPROF"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
GO
  printf '{"Replace":{"%s":"%s"}}' "$PWD/router/cmd/router/zz_bench_pprof.go" "$work/pprof.go" >"$work/overlay.json"
  (cd router && go build -overlay "$work/overlay.json" -o "$work/router-pprof" ./cmd/router)
  route_profile=(--profile-router "$work/router-pprof" --profile-dir "$PWD/$out")
fi

results=()
failed=()
# scenario NAME ARGS...: run one scenario into $work/NAME.json.
scenario() {
  local name=$1
  shift
  echo "bench: == $name" >&2
  if "$work/bench" "$@" --json >"$work/$name.json"; then
    results+=("$work/$name.json")
  else
    failed+=("$name")
  fi
}
scenario produce produce --events "$produce_events" --rounds 2 ${profile[@]+"${profile[@]}"}
if [[ -s $work/produce.json ]]; then
  scenario latency latency --rate-from "$work/produce.json" --fractions 0.5,0.25,0.1 --duration "$latency_seconds"
else
  failed+=(latency)
fi
scenario route route --events "$route_events" --router "$work/router" --broker-pid "$broker_pid" --logdir "$logs" \
  ${route_profile[@]+"${route_profile[@]}"}

stamp=$(date -u +%Y%m%dT%H%M%SZ)
"$work/bench" report --scale "$scale" --started "$began" --out "$out/latest.json" ${results[@]+"${results[@]}"}
cp "$out/latest.json" "$out/$stamp.json"
# Keep the 10 newest timestamped copies.
ls -1 "$out"/[0-9]*T*Z.json 2>/dev/null | sort -r | tail -n +11 | xargs -r rm --
echo
echo "bench: wrote $out/latest.json and $out/$stamp.json"
if ((${#failed[@]})); then
  echo "bench: FAILED to measure: ${failed[*]}" >&2
  exit 1
fi
