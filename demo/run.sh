#!/usr/bin/env bash
# make demo: Auditstream's main job, end to end, for a bounded time.
#
#   synthetic audit load (producer generate: RATE events/s for DURATION s)
#     -> audit.events -> router -> one topic per connector
#     -> S3 sinks (s3-archive, s3-tenant-t0001) into MinIO
#     -> Datadog sink (dd-security) into the intake test server (ddintake)
#
# While the load runs it shows `auditctl status` every STATUS_EVERY seconds.
# Then it checks completeness from the outside (bin/democheck): every
# published event is in every S3 connector whose filter matches it and in
# no other, and the intake accepted every event that dd-security's filter
# matches. It stops the router and the sinks, runs `sink verify` on each S3
# connector, and prints a summary. Any shortfall makes it exit non-zero.
#
# Apache Kafka and MinIO are reused when they run (make up) and started
# otherwise; at the end it stops only what it started (KEEP=1: nothing).
# EMBEDDED=1, or no Java: franz-go's kfake (bin/embedded-kafka) replaces
# Apache Kafka, persisted in $DEMO_DIR/kfake; everything else is the same.
#
# Settings (environment): DURATION seconds of load (60), RATE events/s
# (500), STATUS_EVERY seconds (5), DRAIN seconds to wait for delivery after
# the load (60), DEMO_DIR for logs and state ($STACK_DIR/demo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STACK_DIR="${STACK_DIR:-$ROOT/.stack}"
export STACK_DIR
PROG=demo
# shellcheck source-path=SCRIPTDIR source=../stack/lib.sh
. stack/lib.sh # pick_free_port, proc_alive, stop_pid

DURATION="${DURATION:-60}" RATE="${RATE:-500}" STATUS_EVERY="${STATUS_EVERY:-5}" DRAIN="${DRAIN:-60}"
for v in DURATION RATE STATUS_EVERY DRAIN; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$EXIT_USAGE" "$v=${!v}: want a whole number above 0"
done
BIN="$ROOT/bin"
DEMO="${DEMO_DIR:-$STACK_DIR/demo}"
mkdir -p "$DEMO"
DEMO=$(cd "$DEMO" && pwd -P)
# The S3 connectors of demo/pipeline.yaml, which sink verify checks.
S3_CONNECTORS=(s3-archive s3-tenant-t0001)
begin=$SECONDS

say() { printf '\n\033[1m== %s\033[0m  (at %ds)\n' "$*" $((SECONDS - begin)); }
fail() {
  printf '\ndemo: FAILED: %s\n' "$*" >&2
  exit 1
}

EMBEDDED="${EMBEDDED:-}"
if [[ -z $EMBEDDED ]] && ! command -v java >/dev/null 2>&1; then
  echo "demo: no Java on this machine: using the embedded Kafka (franz-go's kfake)"
  EMBEDDED=1
fi

# What this run started, stopped at exit in reverse order: the load, the
# router and the sinks, the intake. Each is waited for by its own pid:
# a bare `wait` would also wait for the embedded broker, which runs until
# it is told to stop. The broker and the stack services go last, after
# everything that uses them.
pids=()
broker=
started=()
stop_all() {
  local i p
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    stop_pid "$p" 20 "pid $p" || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
}
cleanup() {
  stop_all
  if [[ ${KEEP:-} == 1 ]]; then
    [[ -z $broker ]] || echo "demo: KEEP=1: the embedded Kafka keeps running (pid $broker; kill it to stop it)"
    ((${#started[@]} == 0)) || echo "demo: KEEP=1: leaving ${started[*]} running (make down stops the stack)"
    return
  fi
  if [[ -n $broker ]]; then
    stop_pid "$broker" 20 embedded-kafka || true
    wait "$broker" 2>/dev/null || true
  fi
  if ((${#started[@]})); then stack/down.sh "${started[@]}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

say "building"
make -s build >/dev/null

# MinIO needs no Java: it runs in both modes.
if [[ $EMBEDDED == 1 ]]; then
  want=(minio)
else
  stack/deps.sh
  want=(kafka minio)
fi
# Only a service that was not running is ours to stop at the end; one
# that runs but does not answer yet is up.sh's to wait for, not ours.
up=()
for s in "${want[@]}"; do
  rc=0
  stack/"$s".sh status >/dev/null 2>&1 || rc=$?
  ((rc == 0)) || up+=("$s")
  ((rc != EXIT_NOT_RUNNING)) || started+=("$s")
done
if ((${#up[@]})); then
  say "starting ${up[*]} on 127.0.0.1"
  stack/up.sh "${up[@]}" >/dev/null
else
  echo "demo: reusing the running ${want[*]} ($STACK_DIR)"
fi
set -a
# shellcheck source=/dev/null
. "$STACK_DIR/env"
set +a
[[ -n ${AUDITSTREAM_S3_ENDPOINT:-} ]] || fail "MinIO is not listed in $STACK_DIR/env"
S3_ENDPOINT=$AUDITSTREAM_S3_ENDPOINT S3_AK=$AUDITSTREAM_S3_ACCESS_KEY_FILE S3_SK=$AUDITSTREAM_S3_SECRET_KEY_FILE

if [[ $EMBEDDED == 1 ]]; then
  unset AUDITSTREAM_BROKERS
  # kfake's offsets are its own: an S3 prefix of another cluster's objects
  # would be taken for this one's (objects and manifests are named by
  # partition and offset). Each new kfake data directory gets a prefix of
  # its own, kept as long as the directory is.
  if [[ ! -d $DEMO/kfake || ! -s $DEMO/kfake.prefix ]]; then
    rm -rf "$DEMO/kfake"
    echo "embedded-$(date -u +%Y%m%dT%H%M%SZ)/audit" >"$DEMO/kfake.prefix"
  fi
  S3_PREFIX=$(<"$DEMO/kfake.prefix")
  if pid=$(pidfile_pid "$DEMO/embedded.pid" embedded-kafka) && [[ -s $DEMO/kfake.addr ]]; then
    echo "demo: reusing the embedded Kafka left running (pid $pid); it stays running (kill $pid stops it)"
  else
    say "starting the embedded Kafka (kfake, persisted in $DEMO/kfake)"
    rm -f "$DEMO/kfake.addr"
    "$BIN/embedded-kafka" --port 0 --data-dir "$DEMO/kfake" --addr-file "$DEMO/kfake.addr" 2>"$DEMO/embedded-kafka.log" &
    broker=$!
    echo "$broker" >"$DEMO/embedded.pid"
    for _ in $(seq 100); do [[ -s $DEMO/kfake.addr ]] && break; sleep 0.1; done
    [[ -s $DEMO/kfake.addr ]] || { tail_logs "$DEMO/embedded-kafka.log"; fail "the embedded Kafka did not start"; }
  fi
  BROKERS=$(<"$DEMO/kfake.addr")
else
  BROKERS=$AUDITSTREAM_BROKERS
  S3_PREFIX=audit
fi
echo "kafka: $BROKERS  s3: $S3_ENDPOINT"

say "starting the Datadog Logs intake test server"
export AUDITSTREAM_DEMO_DD_API_KEY=demo-key
rm -f "$DEMO/ddintake.addr"
"$BIN/ddintake" --api-key-env AUDITSTREAM_DEMO_DD_API_KEY --addr-file "$DEMO/ddintake.addr" 2>"$DEMO/ddintake.log" &
pids+=($!)
for _ in $(seq 100); do [[ -s $DEMO/ddintake.addr ]] && break; sleep 0.1; done
[[ -s $DEMO/ddintake.addr ]] || { tail_logs "$DEMO/ddintake.log"; fail "the intake did not start"; }
DD_URL="http://$(<"$DEMO/ddintake.addr")"
echo "intake: $DD_URL"

# Fixed ports, so that auditctl status finds each service's /metrics and
# /readyz at the address the pipeline file gives.
ROUTER_PORT=$(pick_free_port)
S3A_PORT=$(pick_free_port "$ROUTER_PORT")
S3T_PORT=$(pick_free_port "$ROUTER_PORT" "$S3A_PORT")
DD_PORT=$(pick_free_port "$ROUTER_PORT" "$S3A_PORT" "$S3T_PORT")
sed -e "s|@BROKERS@|$BROKERS|" -e "s|@S3_ENDPOINT@|$S3_ENDPOINT|" -e "s|@S3_PREFIX@|$S3_PREFIX|" \
  -e "s|@S3_ACCESS_KEY_FILE@|$S3_AK|" -e "s|@S3_SECRET_KEY_FILE@|$S3_SK|" -e "s|@DD_URL@|$DD_URL|" \
  -e "s|@ROUTER_LISTEN@|127.0.0.1:$ROUTER_PORT|" -e "s|@S3_ARCHIVE_LISTEN@|127.0.0.1:$S3A_PORT|" \
  -e "s|@S3_TENANT_LISTEN@|127.0.0.1:$S3T_PORT|" -e "s|@DD_LISTEN@|127.0.0.1:$DD_PORT|" \
  demo/pipeline.yaml >"$DEMO/pipeline.yaml"
CONFIG=$DEMO/pipeline.yaml

say "creating the S3 buckets in MinIO"
for bucket in audit-archive audit-tenant-t0001; do
  # Credentials go to curl on stdin, never on a command line.
  printf 'user = "%s:%s"\n' "$(<"$S3_AK")" "$(<"$S3_SK")" |
    curl -sS -K - -o /dev/null -w '%{http_code}\n' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" "$S3_ENDPOINT/$bucket" |
    grep -qE '^(200|409)$' || fail "could not create the bucket $bucket"
  echo "s3://$bucket/$S3_PREFIX/"
done

say "checking the pipeline file, creating the topics"
"$BIN/router" validate --config "$CONFIG"
"$BIN/router" setup --config "$CONFIG"

say "starting the router and the sinks"
# services: name:port:log:pid of the router and each sink.
"$BIN/router" run --config "$CONFIG" 2>"$DEMO/router.log" &
pids+=($!)
services=("router:$ROUTER_PORT:$DEMO/router.log:$!")
declare -A port_of=([s3-archive]=$S3A_PORT [s3-tenant-t0001]=$S3T_PORT [dd-security]=$DD_PORT)
for c in "${S3_CONNECTORS[@]}" dd-security; do
  "$BIN/sink" run --config "$CONFIG" --connector "$c" 2>"$DEMO/sink-$c.log" &
  pids+=($!)
  services+=("$c:${port_of[$c]}:$DEMO/sink-$c.log:$!")
done
for s in "${services[@]}"; do
  IFS=: read -r name port logf _ <<<"$s"
  ok=0
  for _ in $(seq 150); do
    if curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/readyz" 2>/dev/null; then ok=1; break; fi
    sleep 0.2
  done
  ((ok)) || { tail_logs "$logf"; fail "$name is not ready after 30s"; }
  echo "$name: ready on 127.0.0.1:$port"
done

say "publishing synthetic audit load: $RATE events/s for ${DURATION}s"
# generate -> tee (what was published, for the check) -> publish. Stopping
# generate ends the chain: tee and publish see the end of their input.
rm -f "$DEMO/load.fifo" "$DEMO/published.ndjson"
mkfifo "$DEMO/load.fifo"
tee "$DEMO/published.ndjson" <"$DEMO/load.fifo" |
  "$BIN/producer" publish --config "$CONFIG" --quiet --json >"$DEMO/publish.json" 2>"$DEMO/publish.log" &
publisher=$!
pids+=("$publisher")
"$BIN/producer" generate --stdout --quiet --duration "${DURATION}s" --rate "$RATE" >"$DEMO/load.fifo" 2>"$DEMO/generate.log" &
generator=$!
pids+=("$generator")

# The live status: one frame every STATUS_EVERY seconds, redrawn in place
# on a terminal, one after the other otherwise (CI logs).
load_start=$SECONDS
frame() {
  local when=$1 out n
  out=$(timeout 20 "$BIN/auditctl" status --config "$CONFIG" </dev/null 2>&1) || true
  n=$(wc -l <"$DEMO/published.ndjson" 2>/dev/null) || n=0
  if [[ -t 1 ]]; then printf '\033[H\033[2J'; else echo; fi
  printf '\033[1m== %s: %d events published  (auditctl status --config %s)\033[0m\n' "$when" "$n" "$CONFIG"
  printf '%s\n' "$out"
}
next=$((SECONDS + STATUS_EVERY))
while proc_alive "$generator"; do
  if ((SECONDS >= next)); then
    frame "live, ${DURATION}s of load, $((SECONDS - load_start))s in"
    next=$((SECONDS + STATUS_EVERY))
  fi
  sleep 0.5
done
wait "$generator" || { tail_logs "$DEMO/generate.log"; fail "producer generate failed"; }
wait "$publisher" || { tail_logs "$DEMO/publish.log"; fail "producer publish did not publish every event: $(<"$DEMO/publish.json")"; }
frame "the load is over, after $((SECONDS - load_start))s; delivery goes on"
published=$(wc -l <"$DEMO/published.ndjson")
say "published $published events in $((SECONDS - load_start))s"

say "checking completeness from the outside: the S3 objects and the intake's logs (waiting up to ${DRAIN}s for delivery)"
check_rc=0
"$BIN/democheck" --config "$CONFIG" --published "$DEMO/published.ndjson" --wait "${DRAIN}s" >"$DEMO/check.txt" || check_rc=$?

# A service that died during the run is a shortfall even if its events
# happen to be there.
died=()
for s in "${services[@]}"; do
  IFS=: read -r name _ logf pid <<<"$s"
  proc_alive "$pid" || { died+=("$name"); tail_logs "$logf"; }
done

say "stopping the router and the sinks"
stop_all

verify_failed=()
for c in "${S3_CONNECTORS[@]}"; do
  say "sink verify --connector $c"
  "$BIN/sink" verify --config "$CONFIG" --connector "$c" 2>"$DEMO/verify-$c.log" | tee "$DEMO/verify-$c.json" ||
    { verify_failed+=("$c"); tail_logs "$DEMO/verify-$c.log"; }
done

say "summary (logs and files in $DEMO)"
cat "$DEMO/check.txt"
for c in "${S3_CONNECTORS[@]}"; do
  # The report's top-level fields are indented by two spaces.
  v=$(sed -nE 's/^  "(objects|events|problems)": ([0-9]+),?$/\2 \1/p' "$DEMO/verify-$c.json" 2>/dev/null | paste -sd ',' - | sed 's/,/, /g')
  if [[ " ${verify_failed[*]} " == *" $c "* ]]; then
    echo "sink verify $c: FAILED (${v:-no report})"
  else
    echo "sink verify $c: ok (the whole archive under its prefix, earlier runs included: $v)"
  fi
done
((${#died[@]} == 0)) || fail "${died[*]} stopped during the run (logs in $DEMO)"
((check_rc == 0)) || fail "the completeness check found a shortfall (above)"
((${#verify_failed[@]} == 0)) || fail "sink verify found problems in ${verify_failed[*]}"
echo
echo "demo: OK: $published events published over ${DURATION}s, every one where it belongs; $((SECONDS - begin))s in all"
