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

With KAFKA_SECURITY=1 (KAFKA_SECURITY=1 stack/up.sh kafka), Kafka also
opens a SASL_SSL listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)
and an mTLS listener, with certificates made by openssl on the first such
start, and the env file adds:

  AUDITSTREAM_KAFKA_SASL_SSL=127.0.0.1:19094   AUDITSTREAM_KAFKA_MTLS=127.0.0.1:19095
  AUDITSTREAM_KAFKA_CA_FILE, AUDITSTREAM_KAFKA_CLIENT_CERT_FILE,
  AUDITSTREAM_KAFKA_CLIENT_KEY_FILE, AUDITSTREAM_KAFKA_SASL_USER,
  AUDITSTREAM_KAFKA_SASL_PASSWORD_FILE

A Kafka already running without them must be stopped first (stack/kafka.sh
stop). See stack/kafka.sh help.

The same lines are printed on stdout, so  eval "\$(stack/up.sh)"  works too.
Several services start in parallel. See stack/kafka.sh help, stack/minio.sh help.

Exit codes: 0 ok, 1 a service failed to start, 2 usage, 4 missing prerequisite.
EOF2
}

parse_services "$@"

init_stack_dir
export STACK_DIR

# Start in parallel (a cold MinIO build and a cold Kafka fetch overlap).
rc=0
for_services start || rc=$?

write_env
cat "$STACK_DIR/env"
log "wrote $STACK_DIR/env (use: . $STACK_DIR/env)"
exit "$rc"
