#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft, combined broker+controller) run from
# its Maven Central jars. See stack/README.md.
set -euo pipefail

PROG=kafka
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Keep in sync with <kafka.version> in stack/kafka/pom.xml.
readonly KAFKA_VERSION=4.1.1
readonly KAFKA_POM="$STACK_SCRIPTS_DIR/kafka/pom.xml"
readonly DEFAULT_PORT=19092 DEFAULT_CONTROLLER_PORT=19093

usage() {
  cat <<EOF
Usage: stack/kafka.sh COMMAND

Apache Kafka $KAFKA_VERSION, single node KRaft (broker+controller), on 127.0.0.1.

Commands:
  fetch     fetch the broker jars with mvn into \$STACK_DIR/kafka/libs (cached)
  start     fetch, format storage once, start the broker and wait until it
            answers; reuses a broker that is already running. Prints host:port.
  stop      clean shutdown (SIGTERM, then SIGKILL after \$KAFKA_STOP_TIMEOUT s); keeps data
  restart   stop, then start (same port, same data)
  status    exit 0 if running and answering, 1 if alive but not answering,
            3 if not running
  addr      print 127.0.0.1:PORT (the persisted port; add --if-running to
            fail with exit 3 unless the broker is running)
  topics ARGS...
            run Kafka's TopicCommand against this broker, e.g.
              stack/kafka.sh topics --create --topic audit.events --partitions 6
              stack/kafka.sh topics --list
  reset     stop and wipe data (the libs and the port are kept)
  help      this text

Files (STACK_DIR=${STACK_DIR}):
  kafka/libs/            jars          kafka/data/         log.dirs + metadata
  kafka/config/          generated     kafka/logs/server.log  broker log (rolling)
  kafka/logs/kafka.out   JVM stdout/stderr of the last start
  kafka/port, kafka/controller_port    persisted ports    kafka/kafka.pid

Environment:
  STACK_DIR                default <repo>/.stack
  KAFKA_PORT               client port (default: persisted, else $DEFAULT_PORT; a
                           taken port falls back to a free one unless set here)
  KAFKA_CONTROLLER_PORT    controller port (default: persisted, else $DEFAULT_CONTROLLER_PORT)
  KAFKA_HEAP_OPTS          default "-Xms256m -Xmx768m"
  KAFKA_JVM_OPTS           extra JVM options
  KAFKA_EXTRA_CONFIG       extra server.properties lines (newline-separated)
  KAFKA_FORMAT_ARGS        extra 'kafka-storage format' arguments, used when the data
                           is (re)created, e.g. "--feature transaction.version=1"
  KAFKA_START_TIMEOUT      seconds to wait for readiness (default 120)
  KAFKA_STOP_TIMEOUT       seconds to wait for a clean exit (default 30)
  JAVA_HOME                Java 17+ to use (default: java on PATH)
  STACK_NO_INSTALL=1       never apt-get install java/maven when missing

Exit codes: 0 ok, 1 failure, 2 usage, 3 not running, 4 missing prerequisite.
EOF
}

set_paths() {
  init_stack_dir
  KDIR="$STACK_DIR/kafka"
  KLIBS="$KDIR/libs"
  KDATA="$KDIR/data"
  KLOGS="$KDIR/logs"
  KCONF="$KDIR/config"
  PIDFILE="$KDIR/kafka.pid"
  PORTFILE="$KDIR/port"
  CPORTFILE="$KDIR/controller_port"
  # Our broker's command line always contains this path.
  NEEDLE="$KCONF/server.properties"
  # shellcheck disable=SC2034 # lib.sh's lock uses it
  SVC_DIR="$KDIR"
  mkdir -p "$KDIR"
}

# ---------------------------------------------------------------- prerequisites

JAVA=
ensure_java() {
  if [[ -n ${JAVA_HOME:-} && -x $JAVA_HOME/bin/java ]]; then
    JAVA="$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    JAVA=java
  elif apt_install openjdk-17-jre-headless && command -v java >/dev/null 2>&1; then
    JAVA=java
  else
    die "$EXIT_PREREQ" "java (17 or newer) not found; install openjdk-17-jre-headless or set JAVA_HOME"
  fi
  local out ver='' major
  out=$("$JAVA" -version 2>&1) || die "$EXIT_PREREQ" "'$JAVA -version' failed: $out"
  [[ $out =~ version\ \"([^\"]*)\" ]] && ver=${BASH_REMATCH[1]}
  major=${ver%%.*}
  [[ $major == 1 ]] && major=$(cut -d. -f2 <<<"$ver")
  if ! [[ $major =~ ^[0-9]+$ ]] || ((major < 17)); then
    die "$EXIT_PREREQ" "Kafka $KAFKA_VERSION needs Java 17 or newer; $JAVA is '${ver:-unknown}'"
  fi
}

ensure_mvn() {
  command -v mvn >/dev/null 2>&1 && return 0
  apt_install maven && command -v mvn >/dev/null 2>&1 && return 0
  die "$EXIT_PREREQ" "mvn not found; install maven (apt-get install maven)"
}

# ---------------------------------------------------------------- fetch

stamp_wanted() {
  printf 'kafka %s pom-sha256 %s\n' "$KAFKA_VERSION" "$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)"
}

libs_complete() {
  [[ -f $KLIBS/.stamp && -f $KLIBS/kafka_2.13-$KAFKA_VERSION.jar ]] &&
    [[ $(<"$KLIBS/.stamp") == "$(stamp_wanted)" ]]
}

cmd_fetch() {
  lock
  if libs_complete; then
    log "jars for Kafka $KAFKA_VERSION already in $KLIBS"
    return 0
  fi
  if pidfile_pid "$PIDFILE" "$NEEDLE" >/dev/null; then
    die "the broker is running from $KLIBS; stop it before fetching other jars"
  fi
  ensure_mvn
  local tmp="$KDIR/libs.tmp.$$" t0=$SECONDS
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  log "fetching Kafka $KAFKA_VERSION jars with mvn (from ~/.m2 or Maven Central)"
  # -q prints only errors (plus stray ANSI resets, filtered out).
  if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" </dev/null 2>&1 |
    sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
    die "mvn could not fetch the Kafka jars (is Maven Central reachable? see the output above)"
  fi
  [[ -f $tmp/kafka_2.13-$KAFKA_VERSION.jar ]] || die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  stamp_wanted >"$tmp/.stamp"
  rm -rf "$KLIBS"
  mv "$tmp" "$KLIBS"
  trap - EXIT
  log "fetched $(find "$KLIBS" -name '*.jar' | wc -l) jars into $KLIBS in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- config

write_config() {
  local port=$1 cport=$2
  mkdir -p "$KCONF" "$KLOGS" "$KDATA"
  cat >"$KCONF/server.properties" <<EOF
# Generated by stack/kafka.sh on every start; edits are overwritten.
# Single node, KRaft, combined broker+controller, 127.0.0.1 only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KDATA

auto.create.topics.enable=false
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0

# The machine is small and shared.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
log.retention.hours=168
log.retention.check.interval.ms=300000
EOF
  if [[ -n ${KAFKA_EXTRA_CONFIG:-} ]]; then
    printf '\n# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$KCONF/server.properties"
  fi

  cat >"$KCONF/log4j2.properties" <<EOF
# Generated by stack/kafka.sh. Broker log: INFO to a rolling file, nothing on stdout.
status = warn
name = auditstream-kafka
appender.server.type = RollingFile
appender.server.name = server
appender.server.fileName = $KLOGS/server.log
appender.server.filePattern = $KLOGS/server.log.%i
appender.server.layout.type = PatternLayout
appender.server.layout.pattern = [%d] %p %m (%c)%n
appender.server.policies.type = Policies
appender.server.policies.size.type = SizeBasedTriggeringPolicy
appender.server.policies.size.size = 100MB
appender.server.strategy.type = DefaultRolloverStrategy
appender.server.strategy.max = 5
rootLogger.level = INFO
rootLogger.appenderRef.server.ref = server
logger.request.name = kafka.request.logger
logger.request.level = WARN
EOF

  cat >"$KCONF/tools-log4j2.properties" <<EOF
# Generated by stack/kafka.sh. Command-line tools: warnings to stderr.
status = warn
name = auditstream-kafka-tools
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stderr.ref = stderr
EOF
}

# Run a Kafka command-line class with the tools' logging.
run_tool() {
  "$JAVA" -Xms64m -Xmx256m -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$KCONF/tools-log4j2.properties" \
    -cp "$KLIBS/*" "$@"
}

# A Kafka Uuid: 16 random bytes, base64url without padding, not starting with '-'.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ ${#id} == 22 && ${id:0:1} != - ]] && break
  done
  printf '%s\n' "$id"
}

format_storage() {
  [[ -f $KDATA/meta.properties ]] && return 0
  local cid
  if [[ ! -s $KDIR/cluster_id ]]; then new_cluster_id >"$KDIR/cluster_id"; fi
  cid=$(<"$KDIR/cluster_id")
  local extra
  read -ra extra <<<"${KAFKA_FORMAT_ARGS:-}"
  log "formatting storage in $KDATA (cluster id $cid)"
  # Static quorum (controller.quorum.voters), so no --standalone: the
  # controller endpoint is not written into the metadata and may change.
  run_tool kafka.tools.StorageTool format --cluster-id "$cid" \
    --config "$KCONF/server.properties" --ignore-formatted "${extra[@]}" </dev/null >&2 ||
    die "kafka-storage format failed"
}

# ---------------------------------------------------------------- start/stop

# True if the broker on PORT answers: TCP connect, and a metadata request
# when kcat is installed.
answering() {
  local port=$1
  tcp_answers "$port" || return 1
  if command -v kcat >/dev/null 2>&1; then
    local md
    md=$(kcat -b "127.0.0.1:$port" -L -m 5 -J 2>/dev/null) || return 1
    [[ $md == *'"brokers":[{"id":1,'* ]] || return 1
  fi
}

# Pid of our broker: from the pid file, or adopted from whoever listens on
# the persisted port if that is our broker (pid file lost).
cmd_start() {
  lock
  local pid port cport t0=$SECONDS
  if pid=$(running_pid); then
    port=$(<"$PORTFILE")
    if wait_ready "$pid" "$port" -1 "${KAFKA_START_TIMEOUT:-120}"; then
      log "already running (pid $pid) at 127.0.0.1:$port"
      printf '127.0.0.1:%s\n' "$port"
      return 0
    fi
    die "our broker (pid $pid) is alive but does not answer on 127.0.0.1:$port; try: stack/kafka.sh stop"
  fi
  rm -f "$PIDFILE"

  cmd_fetch
  ensure_java
  port=$(choose_port "$PORTFILE" "$DEFAULT_PORT" "${KAFKA_PORT:-}" "$NEEDLE")
  cport=$(choose_port "$CPORTFILE" "$DEFAULT_CONTROLLER_PORT" "${KAFKA_CONTROLLER_PORT:-}" "$NEEDLE" "$port")
  [[ $port != "$cport" ]] || die "the client and controller ports must differ ($port)"
  write_config "$port" "$cport"
  format_storage

  local heap jvm
  read -ra heap <<<"${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}"
  read -ra jvm <<<"${KAFKA_JVM_OPTS:-}"
  local out="$KLOGS/kafka.out" offset=0
  [[ -f $out ]] && mv -f "$out" "$out.prev"
  [[ -f $KLOGS/server.log ]] && offset=$(stat -c %s "$KLOGS/server.log")

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller 127.0.0.1:$cport), logs in $KLOGS"
  # setsid: survive the caller's process group; fd 9 (our lock) must not leak.
  setsid "$JAVA" "${heap[@]}" \
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
    -XX:+ExplicitGCInvokesConcurrent -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "${jvm[@]}" \
    -Dlog4j2.configurationFile="$KCONF/log4j2.properties" -Dkafka.logs.dir="$KLOGS" \
    -cp "$KLIBS/*" kafka.Kafka "$KCONF/server.properties" \
    </dev/null >"$out" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PIDFILE"

  if ! wait_ready "$pid" "$port" "$offset" "${KAFKA_START_TIMEOUT:-120}"; then
    if proc_alive "$pid"; then
      warn "not ready after ${KAFKA_START_TIMEOUT:-120}s; stopping pid $pid"
      stop_pid "$pid" 10 kafka
    fi
    rm -f "$PIDFILE"
    tail_logs "$out" "$KLOGS/server.log"
    die "Kafka did not start (logs: $KLOGS)"
  fi
  log "ready at 127.0.0.1:$port (pid $pid) in $((SECONDS - t0))s"
  printf '127.0.0.1:%s\n' "$port"
}

# wait_ready PID PORT LOG_OFFSET TIMEOUT: wait until the process answers on
# PORT and (when LOG_OFFSET >= 0) server.log past LOG_OFFSET says it started.
wait_ready() {
  local pid=$1 port=$2 offset=$3 timeout=$4 deadline size
  local log="$KLOGS/server.log" started=0
  ((offset < 0)) && started=1
  deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    proc_alive "$pid" || { warn "the broker process $pid exited"; return 1; }
    if ((!started)) && [[ -f $log ]]; then
      size=$(stat -c %s "$log")
      ((size < offset)) && offset=0 # rolled over
      # (|| true: grep -q may close the pipe early; pipefail must not see SIGPIPE.)
      { tail -c "+$((offset + 1))" "$log" || true; } | grep -q 'Kafka Server started' && started=1
    fi
    if ((started)) && answering "$port"; then return 0; fi
    sleep 0.25
  done
  return 1
}

cmd_topics() {
  running_pid >/dev/null || die "$EXIT_NOT_RUNNING" "not running; run: stack/kafka.sh start"
  ensure_java
  run_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$(<"$PORTFILE")" "$@"
}

svc_answers() { tcp_answers "$1"; }
svc_url() { printf '127.0.0.1:%s\n' "$1"; }

cmd_reset() {
  lock
  svc_stop "${KAFKA_STOP_TIMEOUT:-30}"
  rm -rf "$KDATA" "$KDIR/cluster_id"
  log "data wiped ($KDATA)"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
  help | -h | --help) usage; return 0 ;;
  "") usage >&2; return "$EXIT_USAGE" ;;
  esac
  set_paths
  case $cmd in
  fetch | start | stop | status | reset | restart)
    [[ $# -eq 0 ]] || die "$EXIT_USAGE" "$cmd takes no arguments"
    ;;
  esac
  case $cmd in
  fetch) cmd_fetch ;;
  start) cmd_start ;;
  stop) svc_stop "${KAFKA_STOP_TIMEOUT:-30}" ;;
  restart) svc_stop "${KAFKA_STOP_TIMEOUT:-30}" && cmd_start ;;
  status) svc_status ;;
  addr) svc_addr "$@" ;;
  topics) cmd_topics "$@" ;;
  reset) cmd_reset ;;
  *) die "$EXIT_USAGE" "unknown command '$cmd' (see: stack/kafka.sh help)" ;;
  esac
}

main "$@"
