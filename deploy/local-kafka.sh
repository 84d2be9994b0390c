#!/usr/bin/env bash
# A single-node Apache Kafka broker (KRaft mode) on localhost, for the demo and the tests.
#
#   deploy/local-kafka.sh start|stop|status|bootstrap
#   deploy/local-kafka.sh topics ARGS...   # kafka-topics.sh ARGS (e.g. --bootstrap-server ... --list)
#   deploy/local-kafka.sh configs ARGS...  # kafka-configs.sh ARGS (e.g. client quotas)
#   deploy/local-kafka.sh acls ARGS...     # kafka-acls.sh ARGS (with KAFKA_AUTHORIZER=1)
#
# The broker's jars come from Maven Central once (org.apache.kafka:kafka_2.13 with its
# dependencies) into $TEXTMON_CACHE/kafka-$KAFKA_VERSION; each start gets a fresh log dir
# under $KAFKA_DATA unless KAFKA_KEEP_DATA=1. `topics` fetches the command line tools' jar
# (org.apache.kafka:kafka-tools) the first time it is used.
#
# Environment: KAFKA_PORT (default 19092), KAFKA_DATA (default $TEXTMON_CACHE/kafka-run-$KAFKA_PORT),
# KAFKA_VERSION (default 4.1.1), TEXTMON_CACHE (default ~/.cache/textmon), KAFKA_HEAP (default 512m),
# KAFKA_JIT (default "quick": the JVM's first compiler only, so short-lived test brokers start fast;
# "full": both compilers, as a production broker runs, for benchmarks under sustained load),
# KAFKA_METADATA_IDLE_MS (default 500, Kafka's: how often the controller writes a no-op record).
# KAFKA_SASL_SSL_DIR: a folder with ca.pem, server.pem and server.key (unencrypted PKCS#8); when set, the
# client port speaks SASL_SSL with SCRAM-SHA-512 for the user KAFKA_SCRAM_USER / KAFKA_SCRAM_PASSWORD
# (the broker talks to itself in plain text on KAFKA_PORT + 2, loopback only).
# KAFKA_SCRAM_MORE_USERS: more SCRAM users on that port, "name=password" separated by spaces.
# KAFKA_AUTHORIZER=1 (with KAFKA_SASL_SSL_DIR): ACLs are enforced (StandardAuthorizer, nothing allowed
# without one); KAFKA_SCRAM_USER and the plain-text loopback port are super users, the other users
# may do only what `acls` grants them.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-4.1.1}"
TEXTMON_CACHE="${TEXTMON_CACHE:-$HOME/.cache/textmon}"
KAFKA_PORT="${KAFKA_PORT:-19092}"
CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HOME="$TEXTMON_CACHE/kafka-$KAFKA_VERSION"
KAFKA_DATA="${KAFKA_DATA:-$TEXTMON_CACHE/kafka-run-$KAFKA_PORT}"
PID_FILE="$KAFKA_DATA/broker.pid"
LOG_FILE="$KAFKA_DATA/broker.log"
BOOTSTRAP="127.0.0.1:$KAFKA_PORT"

fetch() {
  if [[ -f "$KAFKA_HOME/.complete" ]]; then return; fi
  echo "fetching Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME" >&2
  local tmp
  tmp="$(mktemp -d)"
  cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>textmon.local</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-server</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
EOF
  mkdir -p "$KAFKA_HOME"
  (cd "$tmp" && mvn -q -B dependency:copy-dependencies -DoutputDirectory="$KAFKA_HOME/libs.tmp") >&2
  rm -rf "$KAFKA_HOME/libs" && mv "$KAFKA_HOME/libs.tmp" "$KAFKA_HOME/libs"
  cat >"$KAFKA_HOME/log4j2.properties" <<'EOF'
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.out.ref = out
logger.server.name = kafka.server.BrokerServer
logger.server.level = INFO
EOF
  touch "$KAFKA_HOME/.complete"
  rm -rf "$tmp"
}

# kafka-topics.sh without a Kafka distribution: the tools jar beside the broker's own libraries.
tools_jar() {
  fetch
  if [[ ! -f "$KAFKA_HOME/tools/.complete" ]]; then
    echo "fetching org.apache.kafka:kafka-tools $KAFKA_VERSION from Maven Central into $KAFKA_HOME/tools" >&2
    local tmp
    tmp="$(mktemp -d)"
    cat >"$tmp/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
  <groupId>textmon.local</groupId><artifactId>kafka-tools</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
  </dependencies>
</project>
EOF
    # the tools jar alone: TopicCommand needs nothing the broker's libraries do not already have
    (cd "$tmp" && mvn -q -B dependency:copy-dependencies -DexcludeTransitive=true -DoutputDirectory="$KAFKA_HOME/tools.tmp") >&2
    rm -rf "$KAFKA_HOME/tools" && mv "$KAFKA_HOME/tools.tmp" "$KAFKA_HOME/tools"
    touch "$KAFKA_HOME/tools/.complete"
    rm -rf "$tmp"
  fi
}

tool() {
  tools_jar
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*:$KAFKA_HOME/tools/*" "$@"
}

# kafka-configs.sh (client quotas, topic and broker configs): the broker's own libraries hold it.
configs() {
  fetch
  java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.admin.ConfigCommand "$@"
}

running() {
  [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_PORT") 2>/dev/null
}

JAVA_ARGS=()
java_args() {
  local jit=(-XX:TieredStopAtLevel=1)
  if [[ "${KAFKA_JIT:-quick}" == "full" ]]; then jit=(); fi
  JAVA_ARGS=(java -Xms128m -Xmx"${KAFKA_HEAP:-512m}" -XX:+UseSerialGC "${jit[@]}"
    -Dlog4j2.configurationFile="$KAFKA_HOME/log4j2.properties" -cp "$KAFKA_HOME/libs/*")
}

start() {
  if running; then echo "$BOOTSTRAP"; return; fi
  fetch
  if [[ "${KAFKA_KEEP_DATA:-0}" != "1" ]]; then rm -rf "$KAFKA_DATA"; fi
  mkdir -p "$KAFKA_DATA/logs"
  java_args
  local listeners="PLAINTEXT://127.0.0.1:$KAFKA_PORT" scram=()
  if [[ -n "${KAFKA_SASL_SSL_DIR:-}" ]]; then
    listeners="SASL_SSL://127.0.0.1:$KAFKA_PORT,PLAINTEXT://127.0.0.1:$((KAFKA_PORT + 2))"
    scram=(--add-scram "SCRAM-SHA-512=[name=${KAFKA_SCRAM_USER:?},password=${KAFKA_SCRAM_PASSWORD:?}]")
    local more
    for more in ${KAFKA_SCRAM_MORE_USERS:-}; do
      scram+=(--add-scram "SCRAM-SHA-512=[name=${more%%=*},password=${more#*=}]")
    done
    cat "$KAFKA_SASL_SSL_DIR/server.key" "$KAFKA_SASL_SSL_DIR/server.pem" >"$KAFKA_DATA/keystore.pem"
  fi
  cat >"$KAFKA_DATA/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=$listeners,CONTROLLER://127.0.0.1:$CONTROLLER_PORT
advertised.listeners=$listeners
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$KAFKA_DATA/logs
num.partitions=3
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
log.retention.hours=24
metadata.max.idle.interval.ms=${KAFKA_METADATA_IDLE_MS:-500}
EOF
  if [[ -n "${KAFKA_SASL_SSL_DIR:-}" ]]; then
    cat >>"$KAFKA_DATA/server.properties" <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_DATA/keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_SASL_SSL_DIR/ca.pem
ssl.client.auth=none
EOF
    if [[ "${KAFKA_AUTHORIZER:-0}" == "1" ]]; then
      cat >>"$KAFKA_DATA/server.properties" <<EOF
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:ANONYMOUS;User:$KAFKA_SCRAM_USER
EOF
    fi
  fi
  if [[ ! -f "$KAFKA_DATA/logs/meta.properties" ]]; then
    local cluster_id
    # 16 random bytes in URL-safe base64, as Kafka's own ids; the first byte's top bit cleared so the id
    # never begins with "-", which the storage tool would read as an option (one start in 64 failed so)
    cluster_id="$(python3 -c 'import base64, uuid; b = bytearray(uuid.uuid4().bytes); b[0] &= 0x7F; print(base64.urlsafe_b64encode(bytes(b)).decode().rstrip("="))')"
    "${JAVA_ARGS[@]}" kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_DATA/server.properties" "${scram[@]}" \
      >>"$LOG_FILE" 2>&1
  fi
  nohup "${JAVA_ARGS[@]}" kafka.Kafka "$KAFKA_DATA/server.properties" >>"$LOG_FILE" 2>&1 &
  echo $! >"$PID_FILE"
  local started=$SECONDS
  until port_open; do
    if ! running; then echo "broker exited; see $LOG_FILE" >&2; tail -20 "$LOG_FILE" >&2; exit 1; fi
    if (( SECONDS - started > 90 )); then echo "broker not listening after 90 s; see $LOG_FILE" >&2; exit 1; fi
    sleep 0.5
  done
  echo "kafka broker up in $((SECONDS - started)) s" >&2
  echo "$BOOTSTRAP"
}

stop() {
  if ! running; then echo "not running" >&2; return; fi
  local pid
  pid="$(cat "$PID_FILE")"
  kill "$pid"
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  echo "stopped" >&2
}

status() {
  if running && port_open; then echo "running at $BOOTSTRAP (pid $(cat "$PID_FILE"))"; else echo "not running"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  fetch) fetch ;;
  bootstrap) echo "$BOOTSTRAP" ;;
  topics) shift; tool org.apache.kafka.tools.TopicCommand "$@" ;;
  configs) shift; configs "$@" ;;
  acls) shift; tool org.apache.kafka.tools.AclCommand "$@" ;;
  *) echo "usage: $0 start|stop|status|fetch|bootstrap|topics ARGS...|configs ARGS...|acls ARGS..." >&2; exit 2 ;;
esac
