#!/usr/bin/env bash
# bench/peer/drain.sh: drain a JSON backlog with the peer, Kafka Connect 4.1.1
# (standalone) and Aiven's S3 sink connector 2.15.0 built from source, and
# print one JSON line:
#   {"events":N,"seconds":S,"cpu_seconds":C,"peak_rss_bytes":R,"objects":K,"version":"..."}
# See bench/peer/README.md for what is measured and how the peer is set up.
set -euo pipefail

readonly KAFKA_VERSION=4.1.1 # keep in sync with worker-pom.xml
readonly AIVEN_VERSION=2.15.0
readonly AIVEN_COMMIT=37e1ec265d27cd302bdf2144c29a84742042c62d # tag v2.15.0
readonly AIVEN_REPO=https://github.com/Aiven-Open/s3-connector-for-apache-kafka
readonly CONNECTOR_CLASS=io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
CACHE="${AUDITSTREAM_CACHE:-$HOME/.cache/auditstream}/peer"
readonly CACHE
SRC_CACHE="$CACHE-src-$AIVEN_VERSION" # the connector's source, kept for rebuilds
readonly SRC_CACHE

usage() {
  cat <<EOF
Usage: bench/peer/drain.sh --topic T --bucket B --prefix P --events N --group G

Starts a Kafka Connect $KAFKA_VERSION standalone worker running Aiven's S3 sink
connector $AIVEN_VERSION on topic T (consumer group G, from the earliest offset),
writing gzip JSON-lines objects to bucket B under prefix P; waits until G has
committed the topic's end offsets (N records), and prints one JSON line with
the wall time, the JVM's CPU seconds and peak RSS at that moment, and the
number of objects under P.

Environment:
  AUDITSTREAM_BROKERS                   Kafka bootstrap servers (required)
  AUDITSTREAM_S3_ENDPOINT               S3 endpoint, e.g. the local MinIO (required)
  AUDITSTREAM_S3_ACCESS_KEY_FILE        file holding the access key (required)
  AUDITSTREAM_S3_SECRET_KEY_FILE        file holding the secret key (required)
  AUDITSTREAM_CACHE                     cache root (default ~/.cache/auditstream);
                                        the built worker and plugin live in <cache>/peer
  AUDITSTREAM_PEER_SRC                  a checkout of $AIVEN_REPO
                                        at v$AIVEN_VERSION, for the first build (a copy is kept in
                                        <cache>/peer-src-$AIVEN_VERSION); without either, the build
                                        clones that tag with git
  KAFKA_HEAP_OPTS                       as in Kafka's connect-standalone.sh (default -Xms256M -Xmx2G)
  PEER_FLUSH_INTERVAL_MS                the worker's offset.flush.interval.ms (default 10000)
  PEER_TASKS_MAX                        the connector's tasks.max (default 1)
  PEER_KEEP                             1 keeps the work directory (configs, worker log)

Exit codes: 0 measured; 1 the build or the drain failed; 2 bad usage.
EOF
}

die() {
  echo "bench/peer/drain.sh: $*" >&2
  exit 1
}

# ---------------------------------------------------------------- arguments

TOPIC="" BUCKET="" PREFIX="" EVENTS="" GROUP=""
while (($#)); do
  case $1 in
    --topic) TOPIC=${2-} ;;
    --bucket) BUCKET=${2-} ;;
    --prefix) PREFIX=${2-} ;;
    --events) EVENTS=${2-} ;;
    --group) GROUP=${2-} ;;
    -h | --help | help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      exit 2
      ;;
  esac
  (($# >= 2)) || {
    echo "bench/peer/drain.sh: $1 needs a value" >&2
    exit 2
  }
  shift 2
done
if [[ -z $TOPIC || -z $BUCKET || -z $EVENTS || -z $GROUP ]]; then
  usage >&2
  exit 2
fi
[[ $EVENTS =~ ^[1-9][0-9]*$ ]] || {
  echo "bench/peer/drain.sh: --events must be a positive number" >&2
  exit 2
}
for v in AUDITSTREAM_BROKERS AUDITSTREAM_S3_ENDPOINT AUDITSTREAM_S3_ACCESS_KEY_FILE AUDITSTREAM_S3_SECRET_KEY_FILE; do
  [[ -n ${!v:-} ]] || die "$v is not set (. .stack/env)"
done
PREFIX=${PREFIX#/}
PREFIX=${PREFIX%/}

# ---------------------------------------------------------------- build (once)

# stamp names everything the cached build depends on; a change rebuilds.
stamp() {
  printf 'aiven-s3 %s %s kafka %s poms %s\n' "$AIVEN_VERSION" "$AIVEN_COMMIT" "$KAFKA_VERSION" \
    "$(cat "$HERE/worker-pom.xml" "$HERE/plugin-pom.xml" | sha256sum | cut -d' ' -f1)"
}

built() {
  [[ -f $CACHE/.stamp && $(<"$CACHE/.stamp") == "$(stamp)" ]]
}

ensure_tools() {
  command -v java >/dev/null && command -v javac >/dev/null && command -v jar >/dev/null ||
    die "java, javac and jar (a JDK, 17 or newer) are needed"
  if ! command -v mvn >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      echo "bench/peer/drain.sh: installing maven" >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends maven </dev/null >&2 ||
        { apt-get update -q </dev/null >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends maven </dev/null >&2; } ||
        die "could not install maven"
    else
      die "mvn not found; install maven"
    fi
  fi
}

# mvn_copy POM DIR copies the POM's runtime dependencies into DIR.
mvn_copy() {
  if ! mvn -B -q -Dstyle.color=never -f "$1" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$2" </dev/null 2>&1 | sed -e 's/\x1b\[[0-9;]*m//g' -e '/^[[:space:]]*$/d' >&2; then
    die "mvn could not fetch the jars of $1 (is Maven Central reachable?)"
  fi
}

# source_tree DIR puts the connector's source at v$AIVEN_VERSION in DIR
# (src/, LICENSE): from AUDITSTREAM_PEER_SRC, else from the copy an earlier
# build kept in $SRC_CACHE, else from a clone of the tag. It keeps a copy in
# $SRC_CACHE, so that a rebuild needs neither.
source_tree() {
  local dir=$1
  if [[ -n ${AUDITSTREAM_PEER_SRC:-} ]]; then
    [[ -f $AUDITSTREAM_PEER_SRC/src/main/java/io/aiven/kafka/connect/s3/S3SinkTask.java ]] ||
      die "AUDITSTREAM_PEER_SRC=$AUDITSTREAM_PEER_SRC is not a checkout of $AIVEN_REPO"
    if git -C "$AUDITSTREAM_PEER_SRC" rev-parse HEAD >/dev/null 2>&1; then
      [[ $(git -C "$AUDITSTREAM_PEER_SRC" rev-parse HEAD) == "$AIVEN_COMMIT" ]] ||
        die "AUDITSTREAM_PEER_SRC is at $(git -C "$AUDITSTREAM_PEER_SRC" rev-parse HEAD), not v$AIVEN_VERSION ($AIVEN_COMMIT)"
    fi
    grep -qx "version=$AIVEN_VERSION" "$AUDITSTREAM_PEER_SRC/gradle.properties" ||
      die "AUDITSTREAM_PEER_SRC/gradle.properties does not say version=$AIVEN_VERSION"
    cp -r "$AUDITSTREAM_PEER_SRC/src" "$AUDITSTREAM_PEER_SRC/LICENSE" "$dir/"
  elif [[ -f $SRC_CACHE/COMMIT && $(<"$SRC_CACHE/COMMIT") == "$AIVEN_COMMIT" ]]; then
    cp -r "$SRC_CACHE/src" "$SRC_CACHE/LICENSE" "$dir/"
    return
  else
    command -v git >/dev/null || die "git is needed to fetch the connector's source (or set AUDITSTREAM_PEER_SRC)"
    git clone -q --depth 1 --branch "v$AIVEN_VERSION" "$AIVEN_REPO" "$dir/git" </dev/null >&2 ||
      die "could not clone $AIVEN_REPO v$AIVEN_VERSION; set AUDITSTREAM_PEER_SRC to a checkout of it"
    [[ $(git -C "$dir/git" rev-parse HEAD) == "$AIVEN_COMMIT" ]] ||
      die "tag v$AIVEN_VERSION of $AIVEN_REPO is $(git -C "$dir/git" rev-parse HEAD), not $AIVEN_COMMIT"
    mv "$dir/git/src" "$dir/git/LICENSE" "$dir/"
    rm -rf "$dir/git"
  fi
  rm -rf "$SRC_CACHE.tmp"
  mkdir -p "$SRC_CACHE.tmp"
  cp -r "$dir/src" "$dir/LICENSE" "$SRC_CACHE.tmp/"
  echo "$AIVEN_COMMIT" >"$SRC_CACHE.tmp/COMMIT"
  rm -rf "$SRC_CACHE"
  mv "$SRC_CACHE.tmp" "$SRC_CACHE"
}

# build fetches the worker's jars, compiles the connector and lays out
# $CACHE/worker (the classpath) and $CACHE/plugins/aiven-s3 (plugin.path).
build() {
  ensure_tools
  local tmp=$CACHE.tmp.$$ t0=$SECONDS
  rm -rf "$tmp"
  trap 'rm -rf "$tmp"' EXIT
  mkdir -p "$tmp/src" "$tmp/classes" "$tmp/plugins/aiven-s3"
  echo "bench/peer/drain.sh: building the peer once into $CACHE" >&2
  mvn_copy "$HERE/worker-pom.xml" "$tmp/worker"
  mvn_copy "$HERE/plugin-pom.xml" "$tmp/plugins/aiven-s3"
  source_tree "$tmp/src"
  # Gradle's processResources expands ${version} in this file; Version.java reads it.
  sed "s/^version=.*/version=$AIVEN_VERSION/" \
    "$tmp/src/src/main/resources/s3-connector-for-apache-kafka-version.properties" \
    >"$tmp/classes/s3-connector-for-apache-kafka-version.properties"
  # The build targets Java 11 (sourceCompatibility in build.gradle); connect-api
  # comes from the worker, as Gradle's compileOnly has it.
  find "$tmp/src/src/main/java" -name '*.java' >"$tmp/sources"
  javac --release 11 -nowarn -encoding UTF-8 -d "$tmp/classes" \
    -cp "$tmp/plugins/aiven-s3/*:$tmp/worker/*" @"$tmp/sources" >&2 ||
    die "javac could not compile the connector"
  printf 'Version: %s\nImplementation-Version: %s\nBuilt-From: %s %s\n' \
    "$AIVEN_VERSION" "$AIVEN_VERSION" "$AIVEN_REPO" "$AIVEN_COMMIT" >"$tmp/manifest"
  jar --create --file "$tmp/plugins/aiven-s3/s3-connector-for-apache-kafka-$AIVEN_VERSION.jar" \
    --manifest "$tmp/manifest" -C "$tmp/classes" . || die "jar failed"
  cp "$tmp/src/LICENSE" "$tmp/plugins/aiven-s3/LICENSE"
  rm -rf "$tmp/src" "$tmp/classes" "$tmp/sources" "$tmp/manifest"
  stamp >"$tmp/.stamp"
  rm -rf "$CACHE"
  mv "$tmp" "$CACHE"
  trap - EXIT
  echo "bench/peer/drain.sh: built in $((SECONDS - t0))s" >&2
}

# A build holds the lock exclusively; a drain holds it shared until it ends,
# so that no build replaces the jars under a running worker.
mkdir -p "$(dirname "$CACHE")"
exec 9>"$CACHE.lock"
flock -x 9
built || build
# The watcher: bench/peer/cmd/peerdrain, in the bench module. Renamed into
# place, so that a drain already running it keeps its copy.
mkdir -p "$CACHE/bin"
(cd "$HERE/.." && go build -o "$CACHE/bin/peerdrain.$$" ./peer/cmd/peerdrain) ||
  die "could not build bench/peer/cmd/peerdrain"
mv -f "$CACHE/bin/peerdrain.$$" "$CACHE/bin/peerdrain"
flock -s 9

# ---------------------------------------------------------------- run

WORK=$(mktemp -d "${TMPDIR:-/tmp}/auditstream-peer.XXXXXX")
chmod 700 "$WORK"
cleanup() {
  if [[ ${PEER_KEEP:-0} == 1 ]]; then
    echo "bench/peer/drain.sh: kept $WORK" >&2
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

FLUSH_MS=${PEER_FLUSH_INTERVAL_MS:-10000}
TASKS=${PEER_TASKS_MAX:-1}
ACCESS_KEY=$(tr -d '[:space:]' <"$AUDITSTREAM_S3_ACCESS_KEY_FILE") || die "cannot read $AUDITSTREAM_S3_ACCESS_KEY_FILE"
SECRET_KEY=$(tr -d '[:space:]' <"$AUDITSTREAM_S3_SECRET_KEY_FILE") || die "cannot read $AUDITSTREAM_S3_SECRET_KEY_FILE"
KEY_PREFIX=${PREFIX:+$PREFIX/}

cat >"$WORK/worker.properties" <<EOF
bootstrap.servers=$AUDITSTREAM_BROKERS
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
offset.storage.file.filename=$WORK/connect.offsets
# How often the worker asks the task to flush (and so to write its objects)
# and then commits the group's offsets. Connect's default is 60000.
offset.flush.interval.ms=$FLUSH_MS
plugin.path=$CACHE/plugins
listeners=http://127.0.0.1:0
# Lets the connector name the consumer group (consumer.override.group.id).
connector.client.config.override.policy=All
EOF

umask 077
cat >"$WORK/s3.properties" <<EOF
name=auditstream-peer
connector.class=$CONNECTOR_CLASS
tasks.max=$TASKS
topics=$TOPIC
consumer.override.group.id=$GROUP
consumer.override.auto.offset.reset=earliest
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=false
format.output.type=jsonl
format.output.fields=value
format.output.envelope=false
file.compression.type=gzip
file.max.records=10000
file.name.template=${KEY_PREFIX}{{topic}}-{{partition:padding=true}}-{{start_offset:padding=true}}.jsonl.gz
aws.s3.bucket.name=$BUCKET
aws.s3.endpoint=$AUDITSTREAM_S3_ENDPOINT
aws.s3.region=us-east-1
aws.access.key.id=$ACCESS_KEY
aws.secret.access.key=$SECRET_KEY
EOF
umask 022

# Kafka's connect-log4j2.yaml logs INFO; here to stderr, which is the worker log.
cat >"$WORK/log4j2.properties" <<'EOF'
status = warn
appender.stderr.type = Console
appender.stderr.name = STDERR
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = [%d] %p %X{connector.context}%m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stderr.ref = STDERR
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
EOF

# The JVM options of Kafka's bin/connect-standalone.sh and kafka-run-class.sh.
read -r -a HEAP <<<"${KAFKA_HEAP_OPTS:--Xms256M -Xmx2G}"
JVM=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
  -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
  -Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false
  -Dcom.sun.management.jmxremote.ssl=false
  "-Dlog4j2.configurationFile=$WORK/log4j2.properties")
JAVA_VERSION=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.runtime.version = //p')
VERSION="aiven-s3 $AIVEN_VERSION (${AIVEN_COMMIT:0:12}, built from source) / kafka-connect $KAFKA_VERSION standalone / java $JAVA_VERSION ${HEAP[*]} / tasks.max=$TASKS offset.flush.interval.ms=$FLUSH_MS file.max.records=10000 jsonl gzip"

if ! "$CACHE/bin/peerdrain" run --topic "$TOPIC" --group "$GROUP" --events "$EVENTS" \
  --bucket "$BUCKET" --prefix "$KEY_PREFIX" --version "$VERSION" --log "$WORK/connect.log" -- \
  java "${HEAP[@]}" "${JVM[@]}" -cp "$CACHE/worker/*" org.apache.kafka.connect.cli.ConnectStandalone \
  "$WORK/worker.properties" "$WORK/s3.properties"; then
  if [[ -s $WORK/connect.log ]]; then
    PEER_KEEP=1
    die "the drain failed; the worker's log is in $WORK/connect.log"
  fi
  die "the drain failed"
fi
