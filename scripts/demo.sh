#!/usr/bin/env bash
# The whole job on an embedded default: a local Kafka broker, the bundled sample stream,
# the daemon with the shipped models. Prints the alerts it raised and where the metrics are.
#
#   scripts/demo.sh            # process the sample, show alerts, stop
#   scripts/demo.sh --follow   # keep the daemon running (Ctrl-C stops it cleanly)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh

FOLLOW=0
[[ "${1:-}" == "--follow" ]] && FOLLOW=1
export KAFKA_PORT="${KAFKA_PORT:-19092}"
export MONITOR_KAFKA__BOOTSTRAP_SERVERS="127.0.0.1:$KAFKA_PORT"
export MONITOR_KAFKA__INPUT_TOPICS="${MONITOR_KAFKA__INPUT_TOPICS:-news}"
export MONITOR_HTTP__PORT="${MONITOR_HTTP__PORT:-9464}"
export MONITOR_LOG__FORMAT=json
# The sample covers 30 minutes of event time: let baselines judge after 10 minutes, not the default hour.
export MONITOR_TRENDS__WARMUP_BUCKETS="${MONITOR_TRENDS__WARMUP_BUCKETS:-10}"
export MONITOR_STATE__DIR="${MONITOR_STATE__DIR:-$(mktemp -d)}"
RUN_DIR="$(mktemp -d)"
LOG="$RUN_DIR/daemon.log"
DAEMON_PID=""

cleanup() {
  if [[ -n "$DAEMON_PID" ]] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID"; wait "$DAEMON_PID" || true
  fi
  bash deploy/local-kafka.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== starting the local Kafka broker"
started=$SECONDS
BOOTSTRAP="$(bash deploy/local-kafka.sh start)"
echo "   broker at $BOOTSTRAP (up in $((SECONDS - started)) s)"

# One partition keeps the replayed half hour in strict event-time order. The alerts still vary a
# little from run to run: the replay moves the sample's times to end now, so where the minute
# buckets fall within it depends on the second it starts, and the open bucket is judged as
# messages arrive.
python - "$BOOTSTRAP" "$MONITOR_KAFKA__INPUT_TOPICS" <<'PY'
import asyncio, sys
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
async def main():
    admin = AIOKafkaAdminClient(bootstrap_servers=sys.argv[1]); await admin.start()
    try:
        if sys.argv[2] not in await admin.list_topics():
            await admin.create_topics([NewTopic(sys.argv[2], 1, 1)])
    finally:
        await admin.close()
asyncio.run(main())
PY
echo "== replaying the bundled sample stream into topic '$MONITOR_KAFKA__INPUT_TOPICS'"
monitor replay --retime

echo "== starting the daemon (log: $LOG)"
monitor run >"$LOG" 2>&1 &
DAEMON_PID=$!
echo "   metrics: http://127.0.0.1:$MONITOR_HTTP__PORT/metrics   health: /healthz   readiness: /readyz"
python - "$LOG" "$MONITOR_HTTP__PORT" "$DAEMON_PID" <<'PY'
import json, sys, time, urllib.request, os
log_path, port, pid = sys.argv[1], sys.argv[2], int(sys.argv[3])
expected = sum(1 for _ in __import__("gzip").open(
    __import__("monitor.sources.replay", fromlist=["SAMPLE_STREAM"]).SAMPLE_STREAM, "rt"))
def metric(name):
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
    except OSError:
        return None
    return sum(float(l.split()[-1]) for l in text.splitlines() if l.startswith(name) and not l.startswith("#"))
deadline = time.time() + 900
shown_models = False
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit("daemon exited early; see " + log_path)
    if not shown_models:
        for line in open(log_path, encoding="utf-8"):
            if '"models loaded"' in line:
                print("   models:", json.dumps(json.loads(line)["routes"], ensure_ascii=False))
                shown_models = True
    done = (metric("textmon_messages_processed_total") or 0) + (metric("textmon_dead_letters_total") or 0)
    if done >= expected:
        break
    time.sleep(1)
print(f"== processed {int(done)} of {expected} sample messages")
print("== alerts raised")
for line in open(log_path, encoding="utf-8"):
    if '"alert"' in line and '"sink"' in line:
        e = json.loads(line)
        print(f"   [{e['state']}] {e['summary']}")
        for part in e.get("parts") or []:
            print(f"            - {part}")
        if e.get("terms"):
            print(f"            terms: {', '.join(e['terms'])}")
        print(f"            exemplars: {', '.join(e['exemplars'])}")
PY
if [[ "$FOLLOW" == 1 ]]; then
  echo "== daemon running; Ctrl-C to stop"
  wait "$DAEMON_PID"
fi
