"""Topics defined by example: a head on a base encoder's sentence embeddings (``head``, ``embedder``),
the user's definitions and quality (``topics``), and ``/api/topics`` (``api``)."""

from monitor.examples.head import ExampleHead, Quality, TopicExamples
from monitor.examples.topics import ExampleTopics, TopicDefinitionError

__all__ = ["ExampleHead", "ExampleTopics", "Quality", "TopicDefinitionError", "TopicExamples"]
