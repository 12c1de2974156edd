#!/usr/bin/env bash
# Start the local stack (Kafka and/or MinIO) and write $STACK_DIR/env.
set -euo pipefail

PROG=up
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF2
Usage: stack/up.sh [kafka] [minio]

Start the named services (default: both; already running ones are reused),
then write \$STACK_DIR/env (STACK_DIR=${STACK_DIR}) with an
'export NAME=value' line per setting of each service that is up:

  AUDITSTREAM_BROKERS=127.0.0.1:19092
  AUDITSTREAM_S3_ENDPOINT=http://127.0.0.1:19000
  AUDITSTREAM_S3_ACCESS_KEY_FILE=\$STACK_DIR/minio/access_key
  AUDITSTREAM_S3_SECRET_KEY_FILE=\$STACK_DIR/minio/secret_key
  AUDITSTREAM_STACK_DIR=\$STACK_DIR

The same lines are printed on stdout, so  eval "\$(stack/up.sh)"  works too.
Several services start in parallel. See stack/kafka.sh help, stack/minio.sh help.

Exit codes: 0 ok, 1 a service failed to start, 2 usage, 4 missing prerequisite.
EOF2
}

services=()
for arg in "$@"; do
  case $arg in
  help | -h | --help) usage; exit 0 ;;
  kafka | minio)
    [[ " ${services[*]-} " == *" $arg "* ]] || services+=("$arg")
    ;;
  all) services=(kafka minio) ;;
  *) usage >&2; die "$EXIT_USAGE" "unknown service '$arg' (want: kafka, minio)" ;;
  esac
done
((${#services[@]})) || services=(kafka minio)

init_stack_dir
export STACK_DIR

# Start in parallel (a cold MinIO build and a cold Kafka fetch overlap).
declare -A pids=()
for s in "${services[@]}"; do
  "$STACK_SCRIPTS_DIR/$s.sh" start >/dev/null &
  pids[$s]=$!
done
rc=0
for s in "${services[@]}"; do
  if wait "${pids[$s]}"; then :; else
    code=$?
    warn "$s failed to start (exit $code)"
    ((code > rc)) && rc=$code
  fi
done

write_env
cat "$STACK_DIR/env"
log "wrote $STACK_DIR/env (use: . $STACK_DIR/env)"
exit "$rc"
