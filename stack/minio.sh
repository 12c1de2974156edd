#!/usr/bin/env bash
# Local MinIO (S3) built from the Go module proxy at a pinned version.
# See stack/README.md.
set -euo pipefail

PROG=minio
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

readonly MINIO_MODULE=github.com/minio/minio
# The proxy does not list MinIO versions: pin an exact pseudo-version.
readonly MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
readonly MINIO_BIN_DIR="$AUDITSTREAM_CACHE/minio-$MINIO_VERSION"
readonly MINIO_BIN="$MINIO_BIN_DIR/minio"
readonly DEFAULT_PORT=19000 DEFAULT_CONSOLE_PORT=19001

usage() {
  cat <<EOF
Usage: stack/minio.sh COMMAND

MinIO $MINIO_VERSION (single node, single drive) on 127.0.0.1.

Commands:
  build     go install $MINIO_MODULE@$MINIO_VERSION into
            $MINIO_BIN_DIR/ (once; ~3 min on 2 cores)
  start     build if needed, generate root credentials once, start MinIO and
            wait for /minio/health/live; reuses a running MinIO. Prints the URL.
  stop      SIGTERM, then SIGKILL after \$MINIO_STOP_TIMEOUT s; keeps data
  restart   stop, then start (same port, same data)
  status    exit 0 if running and healthy, 1 if alive but unhealthy, 3 if not running
  addr      print http://127.0.0.1:PORT (the persisted port; add --if-running
            to fail with exit 3 unless MinIO is running)
  reset     stop and wipe data (the credentials and the port are kept)
  help      this text

Files (STACK_DIR=${STACK_DIR}):
  minio/data/           the drive           minio/logs/minio.log   server log
  minio/access_key, minio/secret_key         root credentials (mode 600)
  minio/port, minio/console_port             persisted ports       minio/minio.pid

Environment:
  STACK_DIR                default <repo>/.stack
  AUDITSTREAM_CACHE        binary cache (default ~/.cache/auditstream)
  MINIO_PORT               API port (default: persisted, else $DEFAULT_PORT; a taken
                           port falls back to a free one unless set here)
  MINIO_CONSOLE_PORT       console port (default: persisted, else $DEFAULT_CONSOLE_PORT;
                           the console itself is off: MINIO_BROWSER=off)
  MINIO_START_TIMEOUT      seconds to wait for health (default 60)
  MINIO_STOP_TIMEOUT       seconds to wait for a clean exit (default 30)

Exit codes: 0 ok, 1 failure, 2 usage, 3 not running, 4 missing prerequisite.
EOF
}

set_paths() {
  init_stack_dir
  MDIR="$STACK_DIR/minio"
  MDATA="$MDIR/data"
  MLOGS="$MDIR/logs"
  PIDFILE="$MDIR/minio.pid"
  PORTFILE="$MDIR/port"
  CPORTFILE="$MDIR/console_port"
  # Our server's command line always contains this.
  NEEDLE="server $MDATA "
  # shellcheck disable=SC2034 # lib.sh's lock uses it
  SVC_DIR="$MDIR"
  mkdir -p "$MDIR"
}

# ---------------------------------------------------------------- build

binary_ok() {
  [[ -x $MINIO_BIN ]] || return 1
  # Cheap sanity check when go is around: the binary is the pinned module version.
  if command -v go >/dev/null 2>&1; then
    local info
    info=$(go version -m "$MINIO_BIN" 2>/dev/null) || return 1
    grep -Eq "^[[:space:]]+mod[[:space:]]+${MINIO_MODULE}[[:space:]]+${MINIO_VERSION}([[:space:]]|$)" <<<"$info"
  fi
}

cmd_build() {
  if binary_ok; then
    log "MinIO $MINIO_VERSION already built: $MINIO_BIN"
    return 0
  fi
  command -v go >/dev/null 2>&1 || die "$EXIT_PREREQ" "go not found; MinIO is built with 'go install' (Go 1.24 or newer)"
  mkdir -p "$MINIO_BIN_DIR"
  # One build at a time per cache, even across STACK_DIRs.
  exec 8>"$MINIO_BIN_DIR/.build.lock"
  flock -w 1800 8 || die "timed out waiting for another MinIO build"
  if binary_ok; then
    log "MinIO $MINIO_VERSION built by another process: $MINIO_BIN"
    exec 8>&-
    return 0
  fi
  local tmp="$MINIO_BIN_DIR/.tmp.$$" buildlog="$MINIO_BIN_DIR/build.log" t0=$SECONDS
  rm -rf "$tmp"
  mkdir -p "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  log "building MinIO $MINIO_VERSION with go install (takes ~3 min on 2 cores; log: $buildlog)"
  # From / with GOWORK=off so no go.mod/go.work around us interferes.
  if ! (cd / && GOWORK=off GOFLAGS='' GOBIN="$tmp" go install "$MINIO_MODULE@$MINIO_VERSION") \
    </dev/null >"$buildlog" 2>&1; then
    tail_logs "$buildlog"
    die "go install $MINIO_MODULE@$MINIO_VERSION failed (log: $buildlog)"
  fi
  [[ -x $tmp/minio ]] || die "go install succeeded but produced no minio binary"
  mv -f "$tmp/minio" "$MINIO_BIN"
  rm -rf "$tmp"
  trap - EXIT
  exec 8>&-
  log "built $MINIO_BIN in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- credentials

random_alnum() {
  local n=$1 s
  s=$(head -c 96 /dev/urandom | base64 -w0 | tr -d '+/=')
  printf '%s' "${s:0:n}"
}

ensure_credentials() {
  local f
  for f in access_key secret_key; do
    if [[ ! -s $MDIR/$f ]]; then
      (
        umask 077
        if [[ $f == access_key ]]; then random_alnum 20 >"$MDIR/$f"; else random_alnum 40 >"$MDIR/$f"; fi
      )
      log "generated root credential file $MDIR/$f"
    fi
    chmod 600 "$MDIR/$f"
  done
}

# ---------------------------------------------------------------- start/stop

healthy() {
  local port=$1 code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    "http://127.0.0.1:$port/minio/health/live" 2>/dev/null) || return 1
  [[ $code == 200 ]]
}

wait_healthy() {
  local pid=$1 port=$2 timeout=$3 deadline
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    proc_alive "$pid" || { warn "the MinIO process $pid exited"; return 1; }
    healthy "$port" && return 0
    sleep 0.2
  done
  return 1
}

cmd_start() {
  lock
  local pid port cport t0=$SECONDS
  if pid=$(running_pid); then
    port=$(<"$PORTFILE")
    if wait_healthy "$pid" "$port" "${MINIO_START_TIMEOUT:-60}"; then
      log "already running (pid $pid) at http://127.0.0.1:$port"
      printf 'http://127.0.0.1:%s\n' "$port"
      return 0
    fi
    die "our MinIO (pid $pid) is alive but not healthy on 127.0.0.1:$port; try: stack/minio.sh stop"
  fi
  rm -f "$PIDFILE"

  cmd_build
  command -v curl >/dev/null 2>&1 || apt_install curl || die "$EXIT_PREREQ" "curl not found"
  ensure_credentials
  port=$(choose_port "$PORTFILE" "$DEFAULT_PORT" "${MINIO_PORT:-}" "$NEEDLE")
  cport=$(choose_port "$CPORTFILE" "$DEFAULT_CONSOLE_PORT" "${MINIO_CONSOLE_PORT:-}" "$NEEDLE" "$port")
  [[ $port != "$cport" ]] || die "the API and console ports must differ ($port)"
  mkdir -p "$MDATA" "$MLOGS" "$MDIR/certs"

  local out="$MLOGS/minio.log" user pass
  [[ -f $out ]] && mv -f "$out" "$out.prev"
  user=$(<"$MDIR/access_key")
  pass=$(<"$MDIR/secret_key")
  log "starting MinIO on 127.0.0.1:$port, logs in $MLOGS"
  # Credentials go through the environment (not the command line); the
  # banner is suppressed (--quiet) so they never reach the log either.
  # setsid: survive the caller's process group; fds 8/9 (our locks) must not leak.
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass \
    MINIO_BROWSER=off MINIO_UPDATE=off MINIO_CALLHOME_ENABLE=off \
    setsid "$MINIO_BIN" server "$MDATA" \
    --address "127.0.0.1:$port" --console-address "127.0.0.1:$cport" \
    --certs-dir "$MDIR/certs" --quiet --anonymous \
    </dev/null >"$out" 2>&1 8>&- 9>&- &
  pid=$!
  unset user pass
  printf '%s\n' "$pid" >"$PIDFILE"

  if ! wait_healthy "$pid" "$port" "${MINIO_START_TIMEOUT:-60}"; then
    if proc_alive "$pid"; then
      warn "not healthy after ${MINIO_START_TIMEOUT:-60}s; stopping pid $pid"
      stop_pid "$pid" 10 minio
    fi
    rm -f "$PIDFILE"
    tail_logs "$out"
    die "MinIO did not start (logs: $MLOGS)"
  fi
  log "ready at http://127.0.0.1:$port (pid $pid) in $((SECONDS - t0))s"
  printf 'http://127.0.0.1:%s\n' "$port"
}

svc_answers() { healthy "$1"; }
svc_url() { printf 'http://127.0.0.1:%s\n' "$1"; }

cmd_reset() {
  lock
  svc_stop "${MINIO_STOP_TIMEOUT:-30}"
  rm -rf "$MDATA"
  log "data wiped ($MDATA)"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
  help | -h | --help) usage; return 0 ;;
  "") usage >&2; return "$EXIT_USAGE" ;;
  esac
  case $cmd in
  build | fetch | start | stop | status | reset | restart)
    [[ $# -eq 0 ]] || die "$EXIT_USAGE" "$cmd takes no arguments"
    ;;
  esac
  case $cmd in
  build | fetch) cmd_build; return 0 ;;
  esac
  set_paths
  case $cmd in
  start) cmd_start ;;
  stop) svc_stop "${MINIO_STOP_TIMEOUT:-30}" ;;
  restart) svc_stop "${MINIO_STOP_TIMEOUT:-30}" && cmd_start ;;
  status) svc_status ;;
  addr) svc_addr "$@" ;;
  reset) cmd_reset ;;
  *) die "$EXIT_USAGE" "unknown command '$cmd' (see: stack/minio.sh help)" ;;
  esac
}

main "$@"
