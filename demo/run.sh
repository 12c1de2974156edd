#!/usr/bin/env bash
# make demo: Auditstream end to end on this machine.
#
# Starts Apache Kafka (or, with EMBEDDED=1 or without Java, franz-go's kfake
# in a process of its own), creates the pipeline's topics, publishes
# synthetic audit load and reads it back. Stops at the end what it started;
# KEEP=1 leaves it running.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
STACK_DIR="${STACK_DIR:-$ROOT/.stack}"
export STACK_DIR
COUNT="${COUNT:-20000}"
BIN="$ROOT/bin"
DEMO="$STACK_DIR/demo"
mkdir -p "$DEMO"

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

EMBEDDED="${EMBEDDED:-}"
if [[ -z $EMBEDDED ]] && ! command -v java >/dev/null 2>&1; then
  echo "demo: no Java on this machine: using the embedded Kafka (franz-go's kfake)"
  EMBEDDED=1
fi

say "building"
make -s build >/dev/null

started=()
cleanup() {
  if [[ ${KEEP:-} == 1 ]]; then
    echo "demo: KEEP=1: leaving ${started[*]:-nothing} running (make down stops the stack)"
    return
  fi
  for s in "${started[@]}"; do
    case $s in
    embedded) kill "$(cat "$DEMO/embedded.pid")" 2>/dev/null || true ;;
    *) stack/down.sh "$s" >/dev/null || true ;;
    esac
  done
}
trap cleanup EXIT

if [[ $EMBEDDED == 1 ]]; then
  say "starting the embedded Kafka (kfake, persisted in $STACK_DIR/kfake)"
  rm -f "$DEMO/kfake.addr"
  "$BIN/embedded-kafka" --port 0 --data-dir "$STACK_DIR/kfake" --addr-file "$DEMO/kfake.addr" 2>"$DEMO/embedded-kafka.log" &
  echo $! >"$DEMO/embedded.pid"
  started+=(embedded)
  for _ in $(seq 100); do [[ -s $DEMO/kfake.addr ]] && break; sleep 0.1; done
  [[ -s $DEMO/kfake.addr ]] || { cat "$DEMO/embedded-kafka.log"; exit 1; }
  BROKERS=$(cat "$DEMO/kfake.addr")
  S3_ENDPOINT=http://127.0.0.1:1 S3_AK=$DEMO/none S3_SK=$DEMO/none
  echo demo >"$S3_AK"
else
  stack/deps.sh
  for s in kafka minio; do stack/"$s".sh status >/dev/null 2>&1 || started+=("$s"); done
  say "starting Apache Kafka and MinIO on 127.0.0.1"
  stack/up.sh kafka minio >/dev/null
  set -a; . "$STACK_DIR/env"; set +a
  BROKERS=$AUDITSTREAM_BROKERS S3_ENDPOINT=$AUDITSTREAM_S3_ENDPOINT
  S3_AK=$AUDITSTREAM_S3_ACCESS_KEY_FILE S3_SK=$AUDITSTREAM_S3_SECRET_KEY_FILE
fi
echo "kafka: $BROKERS"

say "starting the Datadog Logs intake test server"
export AUDITSTREAM_DEMO_DD_API_KEY=demo-key
rm -f "$DEMO/ddintake.addr"
"$BIN/ddintake" --api-key-env AUDITSTREAM_DEMO_DD_API_KEY --addr-file "$DEMO/ddintake.addr" 2>"$DEMO/ddintake.log" &
pids=($!)
for _ in $(seq 100); do [[ -s $DEMO/ddintake.addr ]] && break; sleep 0.1; done
DD_URL="http://$(cat "$DEMO/ddintake.addr")"
echo "intake: $DD_URL"
stop_pids() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap 'stop_pids; cleanup' EXIT

sed -e "s|@BROKERS@|$BROKERS|" -e "s|@S3_ENDPOINT@|$S3_ENDPOINT|" \
  -e "s|@S3_ACCESS_KEY_FILE@|$S3_AK|" -e "s|@S3_SECRET_KEY_FILE@|$S3_SK|" \
  -e "s|@DD_URL@|$DD_URL|" demo/pipeline.yaml >"$DEMO/pipeline.yaml"
CONFIG=$DEMO/pipeline.yaml

if [[ $EMBEDDED != 1 ]]; then
  say "creating the S3 bucket audit-archive in MinIO"
  # Credentials go to curl on stdin, never on a command line.
  printf 'user = "%s:%s"\n' "$(cat "$S3_AK")" "$(cat "$S3_SK")" |
    curl -sS -K - -o /dev/null -w '%{http_code}\n' -X PUT --aws-sigv4 "aws:amz:us-east-1:s3" "$S3_ENDPOINT/audit-archive" |
    grep -qE '^(200|409)$' || { echo "demo: could not create the bucket" >&2; exit 1; }
fi

say "checking the pipeline file"
"$BIN/router" validate --config "$CONFIG"

say "creating the topics"
"$BIN/router" setup --config "$CONFIG"

say "publishing $COUNT synthetic audit events"
"$BIN/producer" generate --config "$CONFIG" --count "$COUNT" --seed 1

say "reading audit.events back"
"$BIN/inspect" --brokers "$BROKERS" --topic audit.events --expect "$COUNT" --timeout 3s

say "routing (router) and delivering (sinks)"
"$BIN/router" run --config "$CONFIG" 2>"$DEMO/router.log" &
pids+=($!)
"$BIN/sink" run --config "$CONFIG" --connector dd-security 2>"$DEMO/sink-dd.log" &
pids+=($!)
if [[ $EMBEDDED != 1 ]]; then
  "$BIN/sink" run --config "$CONFIG" --connector s3-archive 2>"$DEMO/sink-s3.log" &
  pids+=($!)
fi
"$BIN/inspect" --brokers "$BROKERS" --topic audit.connector.dd-security --expect 1 --timeout 5s
"$BIN/inspect" --brokers "$BROKERS" --topic audit.connector.s3-archive --expect 1 --timeout 5s
echo "waiting for the sinks' batches to age out and be delivered..."
sleep 8

say "what reached Datadog (the intake test server)"
curl -fsS "$DD_URL/_intake/stats"; echo

if [[ $EMBEDDED != 1 ]]; then
  say "what reached S3 (MinIO): sink verify checks every object, hash and manifest"
  "$BIN/sink" verify --config "$CONFIG" --connector s3-archive | head -40
else
  echo "(embedded mode has no MinIO: the S3 connector is skipped)"
fi

say "done (logs in $DEMO)"
