#!/usr/bin/env bash
# Run every module's tests, unit and integration, against the real local
# stack (Apache Kafka and MinIO), then `make demo` twice, short: on that
# stack and in embedded mode. Starts the stack if it is not running and
# stops, at the end, only what it started, so a developer's running stack
# (make up) is left alone.
#
# GO_TAGS (set by the Makefile) are added to the integration tag, which
# would otherwise replace the -tags of GOFLAGS.
#
# Integration tests run one package at a time (-p 1): some stop the broker,
# which would break any test running beside them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
STACK_DIR="${STACK_DIR:-$PWD/.stack}"
export STACK_DIR

started=()
for s in kafka minio; do
  stack/"$s".sh status >/dev/null 2>&1 || started+=("$s")
done
cleanup() {
  if ((${#started[@]})); then stack/down.sh "${started[@]}" || true; fi
}
trap cleanup EXIT
stack/up.sh kafka minio >/dev/null
set -a
# shellcheck source=/dev/null
. "$STACK_DIR/env"
set +a
echo "test: stack at kafka=$AUDITSTREAM_BROKERS s3=${AUDITSTREAM_S3_ENDPOINT:-none}"

failed=()
for m in $(go list -m -f '{{.Dir}}'); do
  echo "== ${m#"$PWD"/}"
  if ! (cd "$m" && go test -tags "integration${GO_TAGS:+,$GO_TAGS}" -count=1 -p 1 -timeout 25m ./...); then
    failed+=("${m#"$PWD"/}")
  fi
done

# make demo, short, on this stack and in embedded mode (kfake instead of
# Apache Kafka): each run must pass its own completeness check. The demo
# reuses the running stack and stops only what it started.
demo() {
  local t0=$SECONDS
  echo "== make demo ($*)"
  if env "$@" make -s demo; then
    echo "test: make demo ($*) passed in $((SECONDS - t0))s"
  else
    failed+=("make demo ($*)")
  fi
}
demo DURATION=15
demo EMBEDDED=1 DURATION=15

# The short chaos run: every fault kind once over about 90 s, on this stack
# (it restarts the broker and stops MinIO, so it runs alone, after the
# module tests).
echo "== chaos (short)"
chaos_start=$SECONDS
if ! (make -s build >/dev/null && bin/chaos --short --bin bin --stack stack --stack-dir "$STACK_DIR"); then
  failed+=("chaos")
fi
echo "chaos: $((SECONDS - chaos_start)) s"
if ((${#failed[@]})); then
  echo "test: FAILED in ${failed[*]}" >&2
  exit 1
fi
echo "test: every module and both demos passed"
