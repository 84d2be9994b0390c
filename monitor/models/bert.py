"""A base encoder's weights in BERT's module layout, for inference, loaded without transformers.

The bundles' inference path (``monitor.models.graph.GraphStack``) states the forward pass itself and
needs from the base only its weights, in the modules and under the names that ``transformers``'
``BertModel`` gives them (so the bundles' adapter deltas apply by name). Importing transformers'
BERT code would also import torch's compiler stack (dynamo, and triton where installed), which
inference never runs: some 180 MB of the daemon's memory, and loading the two shipped bundles took
6.2-6.5 s with it against 3.6-4.0 s without.
Training fine-tunes the ``transformers`` model (``monitor.models.encoder.load_base_model``);
``tests/models/test_bert.py`` checks that both compute the same thing.

These modules have no ``forward``: ``GraphStack`` runs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from monitor.models.base import ModelLoadError

# transformers' names for the activations these encoders use: "gelu" is the exact (erf) GELU
ACTIVATIONS = {"gelu": lambda: nn.GELU(), "gelu_new": lambda: nn.GELU(approximate="tanh"),
               "gelu_pytorch_tanh": lambda: nn.GELU(approximate="tanh"), "relu": lambda: nn.ReLU()}


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The fields of a ``config.json`` that shape the modules."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    hidden_act: str
    pad_token_id: int

    @classmethod
    def read(cls, folder: Path) -> BertConfig:
        file = folder / "config.json"
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ModelLoadError(f"{file} is missing or not JSON: {exc}") from exc
        if raw.get("model_type", "bert") != "bert" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ModelLoadError(f"{file}: only BERT encoders with absolute positions are supported")
        if raw.get("hidden_act", "gelu") not in ACTIVATIONS:
            raise ModelLoadError(f"{file}: activation {raw['hidden_act']!r} is not one of {sorted(ACTIVATIONS)}")
        try:
            return cls(
                vocab_size=int(raw["vocab_size"]), hidden_size=int(raw["hidden_size"]),
                num_hidden_layers=int(raw["num_hidden_layers"]), num_attention_heads=int(raw["num_attention_heads"]),
                intermediate_size=int(raw["intermediate_size"]),
                max_position_embeddings=int(raw.get("max_position_embeddings", 512)),
                type_vocab_size=int(raw.get("type_vocab_size", 2)), layer_norm_eps=float(raw.get("layer_norm_eps", 1e-12)),
                hidden_act=str(raw.get("hidden_act", "gelu")), pad_token_id=int(raw.get("pad_token_id") or 0),
            )
        except KeyError as exc:
            raise ModelLoadError(f"{file}: required field {exc.args[0]!r} is missing") from exc


class Embeddings(nn.Module):
    """Built on the file's tables: a random initialisation of a 250,000-token vocabulary would cost
    a second and its memory for nothing (and building on the meta device imports the compiler stack)."""

    def __init__(self, c: BertConfig, tables: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding.from_pretrained(tables["word_embeddings"], padding_idx=c.pad_token_id)
        self.position_embeddings = nn.Embedding.from_pretrained(tables["position_embeddings"])
        self.token_type_embeddings = nn.Embedding.from_pretrained(tables["token_type_embeddings"])
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        if c.hidden_size % c.num_attention_heads:
            raise ModelLoadError(f"hidden size {c.hidden_size} is not a multiple of {c.num_attention_heads} heads")
        self.num_attention_heads = c.num_attention_heads
        self.attention_head_size = c.hidden_size // c.num_attention_heads
        self.scaling = self.attention_head_size**-0.5
        self.query = nn.Linear(c.hidden_size, c.hidden_size)
        self.key = nn.Linear(c.hidden_size, c.hidden_size)
        self.value = nn.Linear(c.hidden_size, c.hidden_size)


class DenseNorm(nn.Module):
    """A dense layer whose output, plus the residual, is layer-normalised (``attention.output``, ``output``)."""

    def __init__(self, c: BertConfig, inputs: int) -> None:
        super().__init__()
        self.dense = nn.Linear(inputs, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)


class Attention(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c, c.hidden_size)


class Intermediate(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size)
        self.intermediate_act_fn = ACTIVATIONS[c.hidden_act]()


class Layer(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c.intermediate_size)


class Encoder(nn.Module):
    def __init__(self, c: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class Bert(nn.Module):
    """Embeddings and layers, named as in ``transformers.BertModel`` (without its pooler)."""

    def __init__(self, config: BertConfig, tables: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config, tables)
        self.encoder = Encoder(config)


def load_bert(folder: Path) -> Bert:
    """The encoder in ``folder`` (``config.json`` and ``model.safetensors``), fp32, eval mode."""
    from safetensors.torch import load_file

    config = BertConfig.read(folder)
    file = folder / "model.safetensors"
    try:
        weights = load_file(str(file))
    except (OSError, RuntimeError) as exc:
        raise ModelLoadError(f"{file} cannot be read: {exc}") from exc
    # saved from a task model, names carry a "bert." prefix; the pooler and position ids are not used
    weights = {k.removeprefix("bert."): v.float() for k, v in weights.items()}
    weights = {k: v for k, v in weights.items() if not k.startswith("pooler.") and k != "embeddings.position_ids"}
    try:
        tables = {name: weights[f"embeddings.{name}.weight"]
                  for name in ("word_embeddings", "position_embeddings", "token_type_embeddings")}
    except KeyError as exc:
        raise ModelLoadError(f"{file} does not hold a BERT encoder: no {exc.args[0]!r}") from exc
    # the tables become the embeddings as they are, so their shapes are checked against config.json here
    for name, rows in (("word_embeddings", config.vocab_size), ("position_embeddings", config.max_position_embeddings),
                       ("token_type_embeddings", config.type_vocab_size)):
        if tuple(tables[name].shape) != (rows, config.hidden_size):
            raise ModelLoadError(f"{file}: {name} is {tuple(tables[name].shape)}, config.json says "
                                 f"{(rows, config.hidden_size)}")
    model = Bert(config, tables)
    expected = model.state_dict()
    missing, unknown = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unknown:
        raise ModelLoadError(f"{file} does not hold a BERT encoder of its config's shape: "
                             f"missing {missing[:3]}, unexpected {unknown[:3]}")
    try:
        with torch.no_grad():
            model.load_state_dict(weights, assign=True)  # the file's tensors become the weights, uncopied
    except RuntimeError as exc:  # a shape that disagrees with config.json
        raise ModelLoadError(f"{file}: {exc}") from exc
    return model.eval()
