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

export AUDITSTREAM_DEMO_DD_API_KEY=demo-key
sed -e "s|@BROKERS@|$BROKERS|" -e "s|@S3_ENDPOINT@|$S3_ENDPOINT|" \
  -e "s|@S3_ACCESS_KEY_FILE@|$S3_AK|" -e "s|@S3_SECRET_KEY_FILE@|$S3_SK|" \
  -e "s|@DD_URL@|http://127.0.0.1:1|" demo/pipeline.yaml >"$DEMO/pipeline.yaml"
CONFIG=$DEMO/pipeline.yaml

say "checking the pipeline file"
"$BIN/router" validate --config "$CONFIG"

say "creating the topics"
"$BIN/router" setup --config "$CONFIG"

say "publishing $COUNT synthetic audit events"
"$BIN/producer" generate --config "$CONFIG" --count "$COUNT" --seed 1

say "reading audit.events back"
"$BIN/inspect" --brokers "$BROKERS" --topic audit.events --expect "$COUNT" --timeout 5s

say "done"
