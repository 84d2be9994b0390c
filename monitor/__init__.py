"""textmon: streaming topic and sentiment monitoring for news and chat on Kafka."""

__version__ = "0.1.0"
