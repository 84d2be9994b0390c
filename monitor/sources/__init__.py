"""Where records come from: a Kafka consumer group, or a file replayed into Kafka."""
