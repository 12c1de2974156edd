#!/usr/bin/env bash
# Stop the local stack (Kafka and/or MinIO), keeping data; update $STACK_DIR/env.
set -euo pipefail

PROG=down
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
  cat <<EOF2
Usage: stack/down.sh [kafka] [minio]

Stop the named services (default: both). Data is kept; to wipe it use
stack/kafka.sh reset / stack/minio.sh reset. \$STACK_DIR/env is rewritten to
list only the services still up. STACK_DIR=${STACK_DIR}

Exit codes: 0 ok, 1 a service failed to stop, 2 usage.
EOF2
}

parse_services "$@"

[[ -d $STACK_DIR ]] || { log "nothing to stop ($STACK_DIR does not exist)"; exit 0; }
init_stack_dir
export STACK_DIR

rc=0
for_services stop || rc=$?

write_env
exit "$rc"
