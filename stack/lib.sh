# shellcheck shell=bash
# Shared helpers for the stack scripts. Sourced, never executed.
#
# Exit codes used by every stack script:
#   0 ok, 1 failure, 2 usage error, 3 not running, 4 missing prerequisite.

# The scripts' own directory and the repository root.
STACK_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_ROOT="$(cd "$STACK_SCRIPTS_DIR/.." && pwd -P)"
# Where logs, data, pid files and the env file live. Overridable.
STACK_DIR="${STACK_DIR:-$REPO_ROOT/.stack}"
# Where built binaries are cached across clones (keyed by version).
AUDITSTREAM_CACHE="${AUDITSTREAM_CACHE:-${HOME:-/root}/.cache/auditstream}"

# shellcheck disable=SC2034 # used by the scripts that source this file
readonly EXIT_FAIL=1 EXIT_USAGE=2 EXIT_NOT_RUNNING=3 EXIT_PREREQ=4

PROG="${PROG:-$(basename "$0" .sh)}"

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
warn() { printf '%s: warning: %s\n' "$PROG" "$*" >&2; }
# die [exit-code] message...
die() {
  local code=$EXIT_FAIL
  if [[ $# -gt 1 && $1 =~ ^[0-9]+$ ]]; then code=$1; shift; fi
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit "$code"
}

# Make STACK_DIR exist and absolute (so the env file holds absolute paths).
init_stack_dir() {
  mkdir -p "$STACK_DIR" || die "cannot create STACK_DIR=$STACK_DIR"
  STACK_DIR="$(cd "$STACK_DIR" && pwd -P)"
}

# Serialize start/stop/reset of one service: take an exclusive lock on FILE,
# held (on fd 9) until the script exits. Background children must close fd 9.
take_lock() {
  local file=$1
  exec 9>"$file"
  if ! flock -w "${STACK_LOCK_TIMEOUT:-600}" 9; then
    die "timed out waiting for lock $file (another stack script running?)"
  fi
}

# True if PID names a live process (not a zombie: PID 1 here may not reap).
proc_alive() {
  local pid=$1 stat
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }   # drop "pid (comm) "
  [[ ${stat:0:1} != Z && ${stat:0:1} != X ]]
}

# True if PID is alive and its command line contains NEEDLE (guards against
# a stale pid file whose pid was reused by an unrelated process).
proc_matches() {
  local pid=$1 needle=$2 cmd
  proc_alive "$pid" || return 1
  cmd=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ $cmd == *"$needle"* ]]
}

# Print the pid in PIDFILE if that process is alive and matches NEEDLE.
pidfile_pid() {
  local pidfile=$1 needle=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(<"$pidfile")
  proc_matches "$pid" "$needle" || return 1
  printf '%s\n' "$pid"
}

# True if something listens on TCP PORT (any address).
port_in_use() {
  local port=$1
  if command -v ss >/dev/null 2>&1; then
    [[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
  else
    tcp_answers "$port"
  fi
}

# Pid of the process listening on TCP PORT, if ss can tell.
port_owner_pid() {
  local port=$1 line
  command -v ss >/dev/null 2>&1 || return 1
  line=$(ss -Hltnp "sport = :$port" 2>/dev/null) || return 1
  [[ $line =~ pid=([0-9]+) ]] || return 1
  printf '%s\n' "${BASH_REMATCH[1]}"
}

# True if a TCP connection to 127.0.0.1:PORT succeeds.
tcp_answers() {
  local port=$1
  # shellcheck disable=SC2016 # $1 expands in the inner shell
  timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$port" 2>/dev/null
}

# Print a port in [20000, 32000) that nothing listens on, avoiding the
# kernel's ephemeral range and any ports given as arguments.
pick_free_port() {
  local p tries ex skip
  for ((tries = 0; tries < 500; tries++)); do
    p=$((20000 + RANDOM % 12000))
    skip=0
    for ex in "$@"; do [[ $p == "$ex" ]] && skip=1; done
    ((skip)) && continue
    port_in_use "$p" || { printf '%s\n' "$p"; return 0; }
  done
  die "could not find a free TCP port on 127.0.0.1"
}

valid_port() { [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536)); }

# Choose the port for one listener and persist it in FILE.
#   choose_port FILE DEFAULT OVERRIDE OWNER_NEEDLE [ports to avoid...]
# Order: OVERRIDE (env; must be free) > persisted > DEFAULT; a persisted or
# default port taken by something that is not ours falls back to a free one.
choose_port() {
  local file=$1 default=$2 override=$3 needle=$4
  shift 4
  local want owner
  if [[ -n $override ]]; then
    valid_port "$override" || die "$EXIT_USAGE" "invalid port '$override'"
    want=$override
  elif [[ -s $file ]]; then
    want=$(<"$file")
    valid_port "$want" || want=$default
  else
    want=$default
  fi
  if port_in_use "$want"; then
    owner=$(port_owner_pid "$want" || true)
    if [[ -n $owner ]] && proc_matches "$owner" "$needle"; then
      die "port $want is held by our own process $owner, which is not answering; run '$PROG stop' first"
    fi
    if [[ -n $override ]]; then
      die "port $want (from the environment) is already in use by another process"
    fi
    local old=$want
    want=$(pick_free_port "$@")
    warn "port $old is in use by another process; using $want instead"
  fi
  printf '%s\n' "$want" >"$file"
  printf '%s\n' "$want"
}

# Stop PID: SIGTERM, wait up to TIMEOUT seconds, then SIGKILL.
stop_pid() {
  local pid=$1 timeout=$2 name=$3 deadline
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + timeout))
  while proc_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      warn "$name (pid $pid) did not exit within ${timeout}s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      deadline=$((SECONDS + 10))
      while proc_alive "$pid"; do
        ((SECONDS >= deadline)) && die "$name (pid $pid) survived SIGKILL"
        sleep 0.2
      done
      return 0
    fi
    sleep 0.2
  done
}

# Print the last lines of each existing file to stderr.
tail_logs() {
  local f
  for f in "$@"; do
    [[ -s $f ]] || continue
    printf -- '----- last lines of %s -----\n' "$f" >&2
    tail -n "${STACK_TAIL_LINES:-40}" "$f" >&2
  done
}

# Install Debian packages if we may (root, apt-get present, not disabled).
apt_install() {
  if [[ ${STACK_NO_INSTALL:-} == 1 ]]; then return 1; fi
  [[ $(id -u) == 0 ]] || return 1
  command -v apt-get >/dev/null 2>&1 || return 1
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y -q --no-install-recommends "$@" </dev/null >&2; then
    apt-get update -q </dev/null >&2 || return 1
    apt-get install -y -q --no-install-recommends "$@" </dev/null >&2 || return 1
  fi
}

# Quote a value for the env file only when needed, so the file stays readable
# and also works with `set -a; . env` and make's `include`.
env_quote() {
  local v=$1
  if [[ $v =~ ^[A-Za-z0-9_./:@,+=-]*$ ]]; then
    printf '%s' "$v"
  else
    printf "'%s'" "${v//\'/\'\\\'\'}"
  fi
}

# Rewrite $STACK_DIR/env with the lines for the services that are up.
write_env() {
  local tmp="$STACK_DIR/.env.tmp.$$" addr
  {
    printf '# Written by stack/up.sh / stack/down.sh; only running services are listed.\n'
    if addr=$("$STACK_SCRIPTS_DIR/kafka.sh" addr --if-running 2>/dev/null); then
      printf 'export AUDITSTREAM_BROKERS=%s\n' "$(env_quote "$addr")"
      # The secured listeners, when Kafka runs with KAFKA_SECURITY=1.
      "$STACK_SCRIPTS_DIR/kafka.sh" security 2>/dev/null || true
    fi
    if addr=$("$STACK_SCRIPTS_DIR/minio.sh" addr --if-running 2>/dev/null); then
      printf 'export AUDITSTREAM_S3_ENDPOINT=%s\n' "$(env_quote "$addr")"
      printf 'export AUDITSTREAM_S3_ACCESS_KEY_FILE=%s\n' "$(env_quote "$STACK_DIR/minio/access_key")"
      printf 'export AUDITSTREAM_S3_SECRET_KEY_FILE=%s\n' "$(env_quote "$STACK_DIR/minio/secret_key")"
    fi
    printf 'export AUDITSTREAM_STACK_DIR=%s\n' "$(env_quote "$STACK_DIR")"
  } >"$tmp"
  mv -f "$tmp" "$STACK_DIR/env"
}

# ---------------------------------------------------------------- services
# The lifecycle commands kafka.sh and minio.sh share. A service script sets
# PIDFILE, PORTFILE, SVC_DIR (its directory) and NEEDLE (a string its
# server's command line always holds), and defines svc_answers PORT (is it
# serving) and svc_url PORT (the address clients use).

# lock: hold the service's lock for the rest of this process, so that two
# scripts never start or stop the same server at once.
LOCKED=0
lock() {
  ((LOCKED)) && return 0
  take_lock "$SVC_DIR/.lock"
  LOCKED=1
}

# running_pid: print the pid of our running server. The pid file is the
# first guess; a server whose pid file was lost is found by its port.
# shellcheck disable=SC2153 # PIDFILE and NEEDLE are the service script's
running_pid() {
  local pid port
  if pid=$(pidfile_pid "$PIDFILE" "$NEEDLE"); then
    printf '%s\n' "$pid"
    return 0
  fi
  [[ -s $PORTFILE ]] || return 1
  port=$(<"$PORTFILE")
  pid=$(port_owner_pid "$port") || return 1
  proc_matches "$pid" "$NEEDLE" || return 1
  printf '%s\n' "$pid" >"$PIDFILE"
  printf '%s\n' "$pid"
}

# svc_stop TIMEOUT: SIGTERM, then SIGKILL after TIMEOUT seconds.
svc_stop() {
  lock
  local pid
  if ! pid=$(running_pid); then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  log "stopping (pid $pid)"
  stop_pid "$pid" "$1" "$PROG"
  rm -f "$PIDFILE"
  log "stopped"
}

svc_status() {
  local pid port
  if ! pid=$(running_pid); then
    echo "$PROG: not running"
    return "$EXIT_NOT_RUNNING"
  fi
  port=$(<"$PORTFILE")
  if ! svc_answers "$port"; then
    echo "$PROG: pid $pid alive but not answering on 127.0.0.1:$port"
    return "$EXIT_FAIL"
  fi
  echo "$PROG: running, pid $pid, $(svc_url "$port")"
}

# svc_addr [--if-running]: print the address, from the persisted port.
svc_addr() {
  if [[ ${1:-} == --if-running ]]; then
    running_pid >/dev/null || die "$EXIT_NOT_RUNNING" "not running"
  elif [[ -n ${1:-} ]]; then
    die "$EXIT_USAGE" "addr: unknown option '$1'"
  fi
  [[ -s $PORTFILE ]] || die "$EXIT_NOT_RUNNING" "no port chosen yet; run: stack/$PROG.sh start"
  svc_url "$(<"$PORTFILE")"
}

# parse_services ARGS...: the services up.sh and down.sh act on (kafka,
# minio; "all" or none means both), into the array services.
parse_services() {
  services=()
  local arg
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
}

# for_services COMMAND: run each service's COMMAND (start, stop) in
# parallel, its stdout discarded; the exit code is the worst of theirs.
for_services() {
  local s code rc=0
  local -A pids=()
  for s in "${services[@]}"; do
    "$STACK_SCRIPTS_DIR/$s.sh" "$1" >/dev/null &
    pids[$s]=$!
  done
  for s in "${services[@]}"; do
    if wait "${pids[$s]}"; then :; else
      code=$?
      warn "$s failed to $1 (exit $code)"
      ((code > rc)) && rc=$code
    fi
  done
  return "$rc"
}
