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
# The secured listeners (KAFKA_SECURITY=1).
readonly DEFAULT_SASL_SSL_PORT=19094 DEFAULT_MTLS_PORT=19095
# The user the secured listeners know (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512;
# OAUTHBEARER takes any subject: the broker checks only the unsecured JWT's form).
readonly SECURE_USER=alice

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
  security  print the secured listeners' settings as export lines (addresses,
            CA, client certificate, user and password file); exit 3 when the
            broker was not started with KAFKA_SECURITY=1
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
  KAFKA_SECURITY=1         also open the secured listeners (see "Security" below);
                           remembered by the next starts, KAFKA_SECURITY=0 turns it off
  KAFKA_SASL_SSL_PORT      SASL_SSL listener port (default: persisted, else $DEFAULT_SASL_SSL_PORT)
  KAFKA_MTLS_PORT          mTLS listener port (default: persisted, else $DEFAULT_MTLS_PORT)
  KAFKA_AUTHORIZER=1       with KAFKA_SECURITY=1: enforce ACLs (see "Authorizer" below);
                           remembered by the next starts, KAFKA_AUTHORIZER=0 turns it off
  KAFKA_LIBS               use the jars in this directory instead of \$STACK_DIR/kafka/libs
                           (e.g. another stack's, to start a second broker without a copy)
  KAFKA_STOP_TIMEOUT       seconds to wait for a clean exit (default 30)
  JAVA_HOME                Java 17+ to use (default: java on PATH)
  STACK_NO_INSTALL=1       never apt-get install java/maven when missing

Security (KAFKA_SECURITY=1): beside PLAINTEXT, two listeners with a TLS
certificate for 127.0.0.1 and localhost, signed by a CA made with openssl
on the first secured start (kafka/security/, kept across restarts):
  SASL_SSL  PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 for user $SECURE_USER (password in
            kafka/security/$SECURE_USER.password), and OAUTHBEARER with Kafka's
            unsecured JWTs (alg none; any sub; exp required)
  MTLS      TLS with ssl.client.auth=required (client.pem, client.key)
PLAINTEXT stays open for the broker's own tools and for admin in tests.

Authorizer (KAFKA_AUTHORIZER=1): KRaft's StandardAuthorizer, with
allow.everyone.if.no.acl.found=false, so that a principal may do only what an
ACL allows. The super users are User:ANONYMOUS (the PLAINTEXT and CONTROLLER
listeners: the broker itself, its tools, the tests' admin) and User:$SECURE_USER
(the secured listeners' admin). Any other SASL user needs ACLs (README.md,
"Least privilege"), made over PLAINTEXT, e.g. with kadm or kafka-acls.

Exit codes: 0 ok, 1 failure, 2 usage, 3 not running, 4 missing prerequisite.
EOF
}

set_paths() {
  init_stack_dir
  KDIR="$STACK_DIR/kafka"
  KLIBS="${KAFKA_LIBS:-$KDIR/libs}"
  KDATA="$KDIR/data"
  KLOGS="$KDIR/logs"
  KCONF="$KDIR/config"
  PIDFILE="$KDIR/kafka.pid"
  PORTFILE="$KDIR/port"
  CPORTFILE="$KDIR/controller_port"
  SPORTFILE="$KDIR/sasl_ssl_port"
  MPORTFILE="$KDIR/mtls_port"
  SECDIR="$KDIR/security"
  AUTHFILE="$SECDIR/authorizer"
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
  local port=$1 cport=$2 sport=${3:-} mport=${4:-}
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [[ -n $sport ]]; then
    listeners+=",SASL_SSL://127.0.0.1:$sport,MTLS://127.0.0.1:$mport"
    advertised+=",SASL_SSL://127.0.0.1:$sport,MTLS://127.0.0.1:$mport"
    protocols+=",SASL_SSL:SASL_SSL,MTLS:SSL"
  fi
  mkdir -p "$KCONF" "$KLOGS" "$KDATA"
  # It holds the PLAIN user's password when security is on.
  (umask 077 && : >"$KCONF/server.properties")
  cat >"$KCONF/server.properties" <<EOF
# Generated by stack/kafka.sh on every start; edits are overwritten.
# Single node, KRaft, combined broker+controller, 127.0.0.1 only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=$listeners
advertised.listeners=$advertised
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=$protocols
log.dirs=$KDATA

auto.create.topics.enable=false
num.partitions=1
# One broker: every topic has 1 replica and needs 1 in sync. The router
# and the producer CLI warn about it once at start (production: 3 and 2).
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
  if [[ -n $sport ]]; then security_config >>"$KCONF/server.properties"; fi
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

# ---------------------------------------------------------------- security

# security_on: whether this start opens the secured listeners. KAFKA_SECURITY
# wins; otherwise the choice of the last start (kafka/security/enabled), so
# that restart and the tests' stop/start keep the listeners.
security_on() {
  case ${KAFKA_SECURITY:-} in
  1) return 0 ;;
  0) return 1 ;;
  "") [[ -f $SECDIR/enabled ]] ;;
  *) die "$EXIT_USAGE" "KAFKA_SECURITY='$KAFKA_SECURITY': want 1 or 0" ;;
  esac
}

# make_certs: a CA, the broker's certificate (SAN 127.0.0.1 and localhost)
# and a client certificate, all PEM, made once. Kafka reads PEM key stores
# directly (ssl.keystore.type=PEM), so no keytool and no store passwords.
make_certs() {
  [[ -s $SECDIR/broker-keystore.pem && -s $SECDIR/client.key ]] && return 0
  command -v openssl >/dev/null 2>&1 || apt_install openssl || die "$EXIT_PREREQ" "openssl not found; install openssl"
  local d="$SECDIR/tmp.$$"
  rm -rf "$d" && (umask 077 && mkdir -p "$d")
  log "making a CA and certificates in $SECDIR"
  # EC keys: fast to make on a small machine; Java and Go both take them.
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  {
    openssl req -x509 "${key[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 3650 \
      -subj "/CN=Auditstream local CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
      openssl req "${key[@]}" -keyout "$d/broker.key" -out "$d/broker.csr" -subj "/CN=localhost" &&
      openssl x509 -req -in "$d/broker.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/broker.pem" -days 825 \
        -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n') &&
      openssl req "${key[@]}" -keyout "$d/client.key" -out "$d/client.csr" -subj "/CN=auditstream-client" &&
      openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -out "$d/client.pem" -days 825 \
        -extfile <(printf 'extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature\n')
  } >/dev/null 2>"$d/openssl.err" || {
    cat "$d/openssl.err" >&2
    die "openssl could not make the certificates"
  }
  cat "$d/broker.key" "$d/broker.pem" >"$d/broker-keystore.pem"
  rm -f "$d"/*.csr "$d"/*.srl "$d/openssl.err"
  mkdir -p "$SECDIR"
  mv -f "$d"/* "$SECDIR"/
  rmdir "$d"
}

# make_password: the user's password, made once (mode 600).
make_password() {
  local f="$SECDIR/$SECURE_USER.password"
  if [[ ! -s $f ]]; then
    (umask 077 && head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$f")
  fi
  tr -d '\n' <"$f"
}

# security_config: the server.properties lines of the secured listeners.
security_config() {
  local pw
  pw=$(make_password)
  cat <<EOF

# KAFKA_SECURITY=1: SASL_SSL and mTLS listeners (see stack/kafka.sh help).
ssl.keystore.type=PEM
ssl.keystore.location=$SECDIR/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECDIR/ca.pem
listener.name.mtls.ssl.client.auth=required
listener.name.sasl_ssl.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SECURE_USER="$pw";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
listener.name.sasl_ssl.oauthbearer.sasl.server.callback.handler.class=org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler
EOF
  if [[ -f $AUTHFILE ]]; then
    cat <<EOF

# KAFKA_AUTHORIZER=1: ACLs are enforced. ANONYMOUS is the principal of the
# PLAINTEXT and CONTROLLER listeners (the broker itself, its tools, the
# tests' admin); $SECURE_USER is the secured listeners' admin.
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:ANONYMOUS;User:$SECURE_USER
allow.everyone.if.no.acl.found=false
EOF
  fi
}

# authorizer_on: whether this start enforces ACLs; like security_on, the
# choice of the last start unless KAFKA_AUTHORIZER says.
authorizer_on() {
  case ${KAFKA_AUTHORIZER:-} in
  1) return 0 ;;
  0) return 1 ;;
  "") [[ -f $AUTHFILE ]] ;;
  *) die "$EXIT_USAGE" "KAFKA_AUTHORIZER='$KAFKA_AUTHORIZER': want 1 or 0" ;;
  esac
}

# scram_args: the --add-scram arguments that create the user's SCRAM
# credentials when the storage is formatted.
scram_args() {
  local pw
  pw=$(make_password)
  printf -- '--add-scram\nSCRAM-SHA-256=[name=%s,password="%s"]\n--add-scram\nSCRAM-SHA-512=[name=%s,password="%s"]\n' \
    "$SECURE_USER" "$pw" "$SECURE_USER" "$pw"
}

# ensure_scram_users: data formatted before security was turned on has no
# SCRAM credentials; create them through the PLAINTEXT listener.
ensure_scram_users() {
  local port=$1 pw
  [[ -f $KDATA/.scram-users ]] && return 0
  pw=$(make_password)
  log "creating the SCRAM credentials of $SECURE_USER (kafka-configs)"
  local m
  # One mechanism per request: Kafka refuses two changes of one user in one.
  for m in SCRAM-SHA-256 SCRAM-SHA-512; do
    run_tool kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$port" --alter \
      --entity-type users --entity-name "$SECURE_USER" \
      --add-config "$m=[password=$pw]" </dev/null >/dev/null ||
      die "kafka-configs could not create the $m credentials of $SECURE_USER"
  done
  : >"$KDATA/.scram-users"
}

cmd_security() {
  [[ -f $SECDIR/enabled && -s $SPORTFILE && -s $MPORTFILE ]] ||
    die "$EXIT_NOT_RUNNING" "the secured listeners are off; start with: KAFKA_SECURITY=1 stack/kafka.sh start"
  local q=env_quote
  printf 'export AUDITSTREAM_KAFKA_SASL_SSL=%s\n' "$($q "127.0.0.1:$(<"$SPORTFILE")")"
  printf 'export AUDITSTREAM_KAFKA_MTLS=%s\n' "$($q "127.0.0.1:$(<"$MPORTFILE")")"
  printf 'export AUDITSTREAM_KAFKA_CA_FILE=%s\n' "$($q "$SECDIR/ca.pem")"
  printf 'export AUDITSTREAM_KAFKA_CLIENT_CERT_FILE=%s\n' "$($q "$SECDIR/client.pem")"
  printf 'export AUDITSTREAM_KAFKA_CLIENT_KEY_FILE=%s\n' "$($q "$SECDIR/client.key")"
  printf 'export AUDITSTREAM_KAFKA_SASL_USER=%s\n' "$SECURE_USER"
  printf 'export AUDITSTREAM_KAFKA_SASL_PASSWORD_FILE=%s\n' "$($q "$SECDIR/$SECURE_USER.password")"
  if [[ -f $AUTHFILE ]]; then printf 'export AUDITSTREAM_KAFKA_AUTHORIZER=1\n'; fi
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
  local extra scram=()
  read -ra extra <<<"${KAFKA_FORMAT_ARGS:-}"
  if security_on; then mapfile -t scram < <(scram_args); fi
  log "formatting storage in $KDATA (cluster id $cid)"
  # Static quorum (controller.quorum.voters), so no --standalone: the
  # controller endpoint is not written into the metadata and may change.
  run_tool kafka.tools.StorageTool format --cluster-id "$cid" \
    --config "$KCONF/server.properties" --ignore-formatted "${extra[@]}" "${scram[@]}" </dev/null >&2 ||
    die "kafka-storage format failed"
  if ((${#scram[@]})); then : >"$KDATA/.scram-users"; fi
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
    if [[ ${KAFKA_SECURITY:-} == 1 && ! -f $SECDIR/enabled ]]; then
      die "the broker (pid $pid) runs without the secured listeners; stop it first (stack/kafka.sh stop)"
    fi
    if [[ ${KAFKA_AUTHORIZER:-} == 1 && ! -f $AUTHFILE ]]; then
      die "the broker (pid $pid) runs without the authorizer; stop it first (stack/kafka.sh stop)"
    fi
    if [[ ${KAFKA_AUTHORIZER:-} == 0 && -f $AUTHFILE ]]; then
      die "the broker (pid $pid) runs with the authorizer; stop it first (stack/kafka.sh stop)"
    fi
    if wait_ready "$pid" "$port" -1 "${KAFKA_START_TIMEOUT:-120}"; then
      log "already running (pid $pid) at 127.0.0.1:$port"
      printf '127.0.0.1:%s\n' "$port"
      return 0
    fi
    die "our broker (pid $pid) is alive but does not answer on 127.0.0.1:$port; try: stack/kafka.sh stop"
  fi
  rm -f "$PIDFILE"
  # Bad values fail before anything is made.
  authorizer_on || true
  security_on || true

  cmd_fetch
  ensure_java
  port=$(choose_port "$PORTFILE" "$DEFAULT_PORT" "${KAFKA_PORT:-}" "$NEEDLE")
  cport=$(choose_port "$CPORTFILE" "$DEFAULT_CONTROLLER_PORT" "${KAFKA_CONTROLLER_PORT:-}" "$NEEDLE" "$port")
  [[ $port != "$cport" ]] || die "the client and controller ports must differ ($port)"
  local sport='' mport=''
  if security_on; then
    sport=$(choose_port "$SPORTFILE" "$DEFAULT_SASL_SSL_PORT" "${KAFKA_SASL_SSL_PORT:-}" "$NEEDLE" "$port" "$cport")
    mport=$(choose_port "$MPORTFILE" "$DEFAULT_MTLS_PORT" "${KAFKA_MTLS_PORT:-}" "$NEEDLE" "$port" "$cport" "$sport")
    [[ $sport != "$mport" && $sport != "$port" && $mport != "$port" && $sport != "$cport" && $mport != "$cport" ]] ||
      die "the listener ports must differ ($port $cport $sport $mport)"
    mkdir -p "$SECDIR"
    make_certs
    : >"$SECDIR/enabled"
    if authorizer_on; then : >"$AUTHFILE"; else rm -f "$AUTHFILE"; fi
  else
    [[ ${KAFKA_AUTHORIZER:-} != 1 ]] ||
      die "$EXIT_USAGE" "KAFKA_AUTHORIZER=1 needs KAFKA_SECURITY=1: without SASL every client is ANONYMOUS, a super user"
    rm -f "$SECDIR/enabled" "$AUTHFILE"
  fi
  write_config "$port" "$cport" "$sport" "$mport"
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
  if [[ -n $sport ]]; then
    ensure_scram_users "$port"
    log "ready at 127.0.0.1:$port, SASL_SSL 127.0.0.1:$sport, mTLS 127.0.0.1:$mport (pid $pid) in $((SECONDS - t0))s"
  else
    log "ready at 127.0.0.1:$port (pid $pid) in $((SECONDS - t0))s"
  fi
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
  fetch | start | stop | status | reset | restart | security)
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
  security) cmd_security ;;
  reset) cmd_reset ;;
  *) die "$EXIT_USAGE" "unknown command '$cmd' (see: stack/kafka.sh help)" ;;
  esac
}

main "$@"
