#!/usr/bin/env bash
# Create the two-tier layout's topics, or check the ones that exist; safe to run again.
#
#   create-topics.sh                  # in the apache/kafka image (compose kafka-init-tiers, the Kubernetes Job)
#   KAFKA_TOPICS="deploy/local-kafka.sh topics" MONITOR_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092 \
#     deploy/kubernetes/overlays/two-tier/create-topics.sh          # against deploy/local-kafka.sh
#
# Topic names come from the daemon's own settings variables, with the daemon's defaults, so the tiers
# and this script read the same names. The layout:
#   input topics      INPUT_PARTITIONS (12): classify replicas scale up to this
#   enriched          TIER_PARTITIONS (6): one judge per partition at most; keyed by topic label
#   changelog         TIER_PARTITIONS, cleanup.policy=compact: a judge restores enriched partition n from
#                     changelog partition n, so the counts must be equal
#   aggregates        1 partition, cleanup.policy=delete: an event stream read by the one owner of the
#                     market-wide series (compaction would keep only the last bucket per key)
#   alerts            1 partition: delivery sees every label's alerts in one order
#   dead letters      INPUT_PARTITIONS
# Existing topics are never altered; the script fails when one breaks the layout and says how to fix it.
#
# Other variables: KAFKA_TOPICS (the kafka-topics.sh command), REPLICATION_FACTOR (default: the
# cluster's default.replication.factor), COMMAND_CONFIG (a client properties file for TLS/SASL).
set -euo pipefail

KAFKA_TOPICS="${KAFKA_TOPICS:-/opt/kafka/bin/kafka-topics.sh}"
BOOTSTRAP="${MONITOR_KAFKA__BOOTSTRAP_SERVERS:-localhost:9092}"
INPUT_TOPICS="${MONITOR_KAFKA__INPUT_TOPICS:-news}"
ENRICHED="${MONITOR_KAFKA__OUTPUT_TOPIC:-news.enriched}"
DEADLETTER="${MONITOR_KAFKA__DEAD_LETTER_TOPIC:-news.deadletter}"
CHANGELOG="${MONITOR_TIERS__CHANGELOG_TOPIC:-news.changelog}"
AGGREGATES="${MONITOR_TIERS__AGGREGATES_TOPIC:-news.aggregates}"
ALERTS="${MONITOR_TIERS__ALERTS_TOPIC:-news.alerts}"
INPUT_PARTITIONS="${INPUT_PARTITIONS:-12}"
TIER_PARTITIONS="${TIER_PARTITIONS:-6}"

topics() {
  # KAFKA_TOPICS may be a command with arguments ("deploy/local-kafka.sh topics"): split on purpose.
  # shellcheck disable=SC2086
  $KAFKA_TOPICS --bootstrap-server "$BOOTSTRAP" ${COMMAND_CONFIG:+--command-config "$COMMAND_CONFIG"} "$@"
}

create() {  # name partitions [kafka-topics.sh options...]
  local name="$1" partitions="$2"
  shift 2
  topics --create --if-not-exists --topic "$name" --partitions "$partitions" \
    ${REPLICATION_FACTOR:+--replication-factor "$REPLICATION_FACTOR"} "$@"
}

# One --describe for every topic (a JVM start each call is slow): the summary lines, one per topic,
# "Topic: x  TopicId: ...  PartitionCount: 6  ReplicationFactor: 1  Configs: a=b,c=d".
describe() {
  local pattern
  pattern="$(printf '%s\n' "$@" | sed 's/[.]/\\./g' | paste -sd'|')"  # --topic is a regular expression
  described="$(topics --describe --topic "$pattern" | grep "PartitionCount" || true)"
}
summary() { awk -v t="$1" '$1 == "Topic:" && $2 == t {print; exit}' <<<"$described"; }
partitions_of() { summary "$1" | sed -E 's/.*PartitionCount:[[:space:]]*([0-9]+).*/\1/'; }

# "news,chat" or ["news", "chat"], as the daemon accepts them
IFS=, read -r -a inputs <<<"$(tr -d '[]" ' <<<"$INPUT_TOPICS")"
for topic in "${inputs[@]}"; do
  create "$topic" "$INPUT_PARTITIONS"
done
create "$ENRICHED" "$TIER_PARTITIONS"
create "$CHANGELOG" "$TIER_PARTITIONS" --config cleanup.policy=compact
create "$AGGREGATES" 1 --config cleanup.policy=delete
create "$ALERTS" 1 --config cleanup.policy=delete
create "$DEADLETTER" "$INPUT_PARTITIONS"

all=("${inputs[@]}" "$ENRICHED" "$CHANGELOG" "$AGGREGATES" "$ALERTS" "$DEADLETTER")
describe "${all[@]}"
for topic in "${all[@]}"; do
  if [[ -z "$(summary "$topic")" ]]; then
    echo "create-topics: $topic is not described by $BOOTSTRAP although it was just created; see the output above" >&2
    exit 1
  fi
done
failed=0
enriched_n="$(partitions_of "$ENRICHED")"
changelog_n="$(partitions_of "$CHANGELOG")"
if [[ "$enriched_n" != "$changelog_n" ]]; then
  echo "create-topics: $ENRICHED has $enriched_n partitions but $CHANGELOG has $changelog_n; a judge restores" \
    "enriched partition n from changelog partition n, so they must be equal. Recreate $CHANGELOG with" \
    "$enriched_n partitions (it is rebuilt from the judges' state) or add partitions to $ENRICHED." >&2
  failed=1
fi
if ! summary "$CHANGELOG" | grep -Eq 'cleanup\.policy=([a-z,]*)?compact'; then
  echo "create-topics: $CHANGELOG is not compacted; run kafka-configs.sh --alter --entity-type topics" \
    "--entity-name $CHANGELOG --add-config cleanup.policy=compact" >&2
  failed=1
fi
for topic in "$AGGREGATES" "$ALERTS"; do
  n="$(partitions_of "$topic")"
  if [[ "$n" != 1 ]]; then
    echo "create-topics: $topic has $n partitions; it needs 1 so that one consumer sees every label in order." \
      "Delete and recreate it with 1 partition while the tiers are stopped." >&2
    failed=1
  fi
done
for topic in "${inputs[@]}"; do
  n="$(partitions_of "$topic")"
  if ((n < INPUT_PARTITIONS)); then
    # not fatal: classify still works, it just cannot scale past n replicas
    echo "create-topics: note: $topic has $n partitions, fewer than $INPUT_PARTITIONS; classify uses at most $n replicas" >&2
  fi
done
if ((failed)); then exit 1; fi
echo "create-topics: ${inputs[*]} ($INPUT_PARTITIONS), $ENRICHED and $CHANGELOG ($enriched_n, compacted)," \
  "$AGGREGATES and $ALERTS (1), $DEADLETTER: ready" >&2
