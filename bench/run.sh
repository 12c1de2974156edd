#!/usr/bin/env bash
# make bench: measure Auditstream against raw franz-go, the floor and the
# peer (Kafka Connect + Aiven's S3 sink, bench/peer/drain.sh) on the same
# broker, in one run, and report ratios (the method is in DESIGN.md,
# "Performance method"). Writes BENCHMARKS.md at the repo root.
#
# Starts Kafka and MinIO when they are not running, and then stops what it
# started at the end; a running stack is left alone. Builds the router, the
# sink, the Datadog intake test server and the bench driver, runs the
# scenarios, prints a table and writes BENCHMARKS.md and
# bench/results/latest.json (plus a timestamped copy; the last 10 are kept,
# git-ignored). The runs' logs and pipeline files go to bench/results/logs/.
#
#   BENCH_SCALE=0.2 make bench   scale event counts and durations (default 1:
#                                1M events per producer run and in each
#                                backlog, 20 s per side and load for latency,
#                                40 s of publishing for the end-to-end
#                                latency; about 15 minutes on 2 cores,
#                                more when the peer runs)
#   BENCH_PROFILE=1 make bench   also profile the SDK in-process, one extra
#                                router drain and one extra drain by each
#                                sink, into bench/results/*.pprof
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
for svc in kafka minio; do
  stack/"$svc".sh status >/dev/null 2>&1 || started+=("$svc")
done
work=$(mktemp -d)
cleanup() {
  rm -rf "$work"
  if ((${#started[@]})); then stack/down.sh "${started[@]}" >/dev/null || true; fi
}
trap cleanup EXIT
stack/up.sh kafka minio >/dev/null
set -a
# shellcheck source=/dev/null
. "$STACK_DIR/env"
set +a
broker_pid=$(cat "$STACK_DIR/kafka/kafka.pid" 2>/dev/null || echo 0)
minio_pid=$(cat "$STACK_DIR/minio/minio.pid" 2>/dev/null || echo 0)
began=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "bench: kafka at $AUDITSTREAM_BROKERS (pid $broker_pid), minio at $AUDITSTREAM_S3_ENDPOINT (pid $minio_pid), scale $scale" >&2

echo "bench: building the router, the sink, the intake test server and the bench driver" >&2
(cd router && go build -o "$work/router" ./cmd/router)
(cd sinks && go build -o "$work/sink" ./cmd/sink)
(cd ddintake && go build -o "$work/ddintake" ./cmd/ddintake)
(cd bench && go build -o "$work/bench" ./cmd/bench)
rm -rf "$logs"
mkdir -p "$logs"

produce_events=$(scaled 1000000 10000)
route_events=$(scaled 1000000 10000)
sink_events=$(scaled 1000000 10000)
latency_seconds=$(scaled 20 2)s
e2e_seconds=$(scaled 40 15)s
profile=()
route_profile=()
sink_profile=()
if [[ ${BENCH_PROFILE:-0} == 1 ]]; then
  profile=(--cpuprofile "$PWD/$out/produce.cpu.pprof")
  # The router and the sink have no pprof endpoint; these builds add one
  # (for these binaries only, through -overlay: their sources are not
  # touched).
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
  # with_pprof MODULE NAME: build MODULE/cmd/NAME with the endpoint into $work/NAME-pprof.
  with_pprof() {
    printf '{"Replace":{"%s":"%s"}}' "$PWD/$1/cmd/$2/zz_bench_pprof.go" "$work/pprof.go" >"$work/overlay-$2.json"
    (cd "$1" && go build -overlay "$work/overlay-$2.json" -o "$work/$2-pprof" "./cmd/$2")
  }
  with_pprof router router
  with_pprof sinks sink
  route_profile=(--profile-router "$work/router-pprof" --profile-dir "$PWD/$out")
  sink_profile=(--profile-sink "$work/sink-pprof" --profile-dir "$PWD/$out")
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
scenario produce produce --events "$produce_events" --rounds 3 ${profile[@]+"${profile[@]}"}
if [[ -s $work/produce.json ]]; then
  scenario latency latency --rate-from "$work/produce.json" --fractions 0.5,0.25,0.1 --duration "$latency_seconds"
else
  failed+=(latency)
fi
# The router on protobuf values, then on JSON values (contract headers on
# both): each at the default commit interval and in the sweep, against PIPE.
for enc in protobuf json; do
  scenario "route-$enc" route --encoding "$enc" --events "$route_events" --router "$work/router" --broker-pid "$broker_pid" \
    --logdir "$logs" ${route_profile[@]+"${route_profile[@]}"}
done
# One backlog per encoding, queued while every sink is stopped, drained in
# turn by the raw consumer, the S3 sink, the Datadog sink and the floor;
# the JSON one also by the peer, once.
for enc in protobuf json; do
  peer=()
  if [[ $enc == json ]]; then peer=(--peer "$PWD/bench/peer/drain.sh"); fi
  scenario "sinks-$enc" sink --encoding "$enc" --types s3,datadog --floor ${peer[@]+"${peer[@]}"} --events "$sink_events" \
    --sink "$work/sink" --intake "$work/ddintake" --broker-pid "$broker_pid" --minio-pid "$minio_pid" --logdir "$logs" \
    ${sink_profile[@]+"${sink_profile[@]}"}
done
scenario e2e e2e --router "$work/router" --sink "$work/sink" --intake "$work/ddintake" --duration "$e2e_seconds" --logdir "$logs"
# The compressor's benchmark is the S3 sink's own (a go test benchmark in
# its package); its output becomes a result like the others.
echo "bench: == gzip" >&2
if (cd sinks && go test -run '^$' -bench '^BenchmarkGzip$' -benchtime 20x ./internal/s3sink/) >"$work/gzip.txt" 2>&1 &&
  "$work/bench" gzip --from "$work/gzip.txt" --encoder sinks/internal/s3sink/encode.go --json >"$work/gzip.json"; then
  results+=("$work/gzip.json")
else
  cat "$work/gzip.txt" >&2
  failed+=(gzip)
fi

stamp=$(date -u +%Y%m%dT%H%M%SZ)
command="make bench"
if [[ $scale != 1 ]]; then command="BENCH_SCALE=$scale make bench"; fi
if [[ ${BENCH_PROFILE:-0} == 1 ]]; then command="BENCH_PROFILE=1 $command"; fi
kafka_version=$(sed -n 's/^readonly KAFKA_VERSION=//p' stack/kafka.sh)
minio_version=$(sed -n 's/^readonly MINIO_VERSION=//p' stack/minio.sh)
"$work/bench" report --scale "$scale" --started "$began" --command "$command" \
  --version "Apache Kafka=$kafka_version" --version "MinIO=$minio_version" \
  --out "$out/latest.json" --markdown BENCHMARKS.md ${results[@]+"${results[@]}"}
cp "$out/latest.json" "$out/$stamp.json"
# Keep the 10 newest timestamped copies.
ls -1 "$out"/[0-9]*T*Z.json 2>/dev/null | sort -r | tail -n +11 | xargs -r rm --
echo
echo "bench: wrote BENCHMARKS.md, $out/latest.json and $out/$stamp.json"
if ((${#failed[@]})); then
  echo "bench: FAILED to measure: ${failed[*]}" >&2
  exit 1
fi
