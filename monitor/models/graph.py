"""The encoder as a TorchScript graph, so inference runs without holding Python's GIL.

An eager PyTorch forward pass takes the GIL back between every operator. In the daemon the
event loop holds it for whole batches of effects (JSON, trends, the Kafka client), and every
inference worker stalls at its next operator meanwhile: measured on 2 cores (bench/README.md),
an event loop busy 30 % of the time cost eager workers 35 % of their throughput, and the
same workers running a traced graph 12 %, which is the CPU time the loop itself used.

``GraphStack`` states the BERT forward pass with tensor operations only (no Python branches
on shapes), so one trace serves every batch shape. It runs the base's modules
(``monitor.models.bert``: BERT's layout, loaded without transformers) and the stack's heads, and
computes what training's ``Stack.forward`` over transformers' ``BertModel`` computes in eval
mode; ``tests/models/test_bert.py`` compares the two on both shipped bases.

The dense layers (most of the arithmetic) run on the batch's real tokens only, packed into rows;
attention alone sees the padded layout. Over the sample stream on one core (AVX2, fp32) this ran
unsorted batches of 6, as a trickle forms them, 48 % faster, and length-sorted batches of 64 20 %
faster, than padding every layer (bench/README.md).

In bf16 on CPU the dense layers run on weights prepacked once into oneDNN's blocked layout
(a plain bf16 weight is reordered on every call), with GELU and the residual adds fused into
them; each fused form is checked against the plain layer at load, and fp32, CUDA or a build
without these operators keep plain ``nn.Linear`` calls.

``torch.jit`` is deprecated upstream in favour of ``torch.export``, whose CPU path compiles
C++ at load time; until that is practical in a slim container, tracing is used when it works
and the same module runs eagerly otherwise (``models.trace: false`` forces that).
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional, Union

import torch
import torch.nn.functional as F
from torch import nn

from monitor.logs import get_logger
from monitor.models.encoder import Stack

log = get_logger(__name__)

# dense layers see token rows rounded up to a multiple of 16 below 1,024 rows and of 64 above:
# about 180 distinct shapes up to the batch token budget, each built once, with little padding
SMALL_QUANTUM, LARGE_QUANTUM, LARGE_FROM = 16, 64, 1024

Runner = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], dict[str, torch.Tensor]]  # ids, mask, real


class GraphStack(nn.Module):
    """``Stack.forward`` (eval mode) written for tracing: sizes are read from the input's shape and
    never branched on, so the trace records them as operations and serves every batch shape."""

    def __init__(self, stack: Stack) -> None:
        super().__init__()
        self.bert, self.heads, self.pooling = stack.bert, stack.heads, stack.pooling
        self.tasks = list(stack.heads)
        # each dense layer's weight prepacked for oneDNN where that pays (bf16 on CPU), as buffers so
        # the trace reads them as the module's own state
        self.packed: list[list[str | None]] = []
        for i, layer in enumerate(stack.bert.encoder.layer):
            names: list[str | None] = []
            for j, linear in enumerate(_linears(layer)):
                packed = _prepack(linear)
                names.append(None if packed is None else f"packed_{i}_{j}")
                if packed is not None:
                    self.register_buffer(f"packed_{i}_{j}", packed, persistent=False)
            self.packed.append(names)
        self.exact_gelu = [_is_exact_gelu(layer.intermediate.intermediate_act_fn) for layer in stack.bert.encoder.layer]

    def forward(self, input_ids: torch.Tensor, mask: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Float32 probabilities per task, in ``self.tasks`` order, then the three inputs again (see
        ``traced_runner``). ``real`` lists the real tokens' places in ``input_ids.flatten()`` (``real_tokens``).

        The dense layers, most of the arithmetic, see the real tokens only, packed into rows: a batch's
        padding (a quarter of its tokens at a trickle, when few messages share a batch) costs them
        nothing. Only attention sees the padded ``[batch, width]`` layout, and the padded keys are masked."""
        emb = self.bert.embeddings
        batch, width = input_ids.shape
        tokens = real.shape[0]
        rows = _round_up(tokens)
        ids = input_ids.flatten().index_select(0, real)
        x = (emb.word_embeddings(ids) + emb.position_embeddings(torch.remainder(real, width))
             + emb.token_type_embeddings(torch.zeros_like(ids)))
        # the dense layers see [rows, hidden], rows rounded up (_round_up): few distinct shapes
        x = F.pad(emb.LayerNorm(x), (0, 0, 0, rows - tokens))
        keep = mask.bool()[:, None, None, :]  # every query attends to its row's real tokens
        for layer, packed, exact_gelu in zip(self.bert.encoder.layer, self.packed, self.exact_gelu):
            att = layer.attention.self
            query, key, value, att_out, inter, out = ((linear, None if name is None else getattr(self, name))
                                                      for linear, name in zip(_linears(layer), packed))
            shape = (batch, width, att.num_attention_heads, att.attention_head_size)
            q, k, v = (_unpack(_dense(x, *projection)[:tokens], real, batch * width).view(shape).transpose(1, 2)
                       for projection in (query, key, value))
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=att.scaling)
            context = context.transpose(1, 2).flatten(2).flatten(0, 1).index_select(0, real)
            context = F.pad(context, (0, 0, 0, rows - tokens))
            x = layer.attention.output.LayerNorm(_dense_add(context, x, *att_out))
            h = _dense_act(x, layer.intermediate.intermediate_act_fn, exact_gelu, *inter)
            x = layer.output.LayerNorm(_dense_add(h, x, *out))
        x = _unpack(x[:tokens], real, batch * width).view(batch, width, -1)
        if self.pooling == "cls":
            pooled = x[:, 0]
        else:
            m = mask.unsqueeze(-1).to(x.dtype)
            pooled = (x * m).sum(1) / m.sum(1).clamp(min=1.0)
        probs = tuple(torch.softmax(self.heads[task](pooled).float(), dim=-1) for task in self.tasks)
        return (*probs, input_ids, mask, real)


def real_tokens(mask: torch.Tensor) -> torch.Tensor:
    """The real tokens' places in the flattened batch, in order (int64): ``GraphStack``'s third input."""
    return mask.flatten().nonzero().squeeze(1)


def _unpack(packed: torch.Tensor, real: torch.Tensor, places: int) -> torch.Tensor:
    """Packed rows put back at their ``real`` places among ``places`` rows; padding rows are zero."""
    return packed.new_zeros((places, packed.shape[1])).index_copy(0, real, packed)


def _linears(layer: nn.Module) -> list[nn.Linear]:
    """A BERT layer's dense layers, in the order ``GraphStack.forward`` uses them."""
    att = layer.attention
    return [att.self.query, att.self.key, att.self.value, att.output.dense, layer.intermediate.dense, layer.output.dense]


def _prepack(linear: nn.Linear) -> torch.Tensor | None:
    """The weight in oneDNN's blocked layout for bf16 on CPU, or None (plain ``F.linear``).

    A bf16 linear with a plain weight reorders it on every call: a fixed cost per batch that
    was half of a 16-row call and a quarter of a 1,024-row one (384 -> 1,536, one thread).
    """
    if not isinstance(linear, nn.Linear):  # int8's dynamically quantised layers run as they are
        return None
    w, run = linear.weight, _packed_linear()
    if w.device.type != "cpu" or w.dtype != torch.bfloat16 or run is None:
        return None
    try:
        with torch.no_grad():  # the op has no gradient formula: outside no_grad it refuses the weights
            packed = torch.ops.mkldnn._reorder_linear_weight(w.detach(), None)
            probe = torch.ones((2, w.shape[1]), dtype=w.dtype)
            plain = linear(probe).float()
            linear_, linear_gelu, linear_add = run
            same = all(torch.allclose(got.float(), want, atol=0.05, rtol=0.05) for got, want in (
                (linear_(probe, packed, linear.bias), plain),
                (linear_gelu(probe, packed, linear.bias), F.gelu(plain)),
                (linear_add(probe, plain.to(w.dtype), packed, linear.bias), 2 * plain),
            ))
    except (RuntimeError, AttributeError):  # a build or CPU without oneDNN bf16: plain layout
        return None
    return packed if same else None


@functools.cache
def _packed_linear() -> Any:
    """oneDNN's linear over a prepacked weight, plain, followed by GELU, or plus a residual;
    scripted (the tracer cannot record the empty ``Scalar?[]`` argument), or None where this
    build of PyTorch lacks them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit's deprecation notice

            @torch.jit.script
            def linear(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
                no_scalars: List[Optional[Union[int, float, complex]]] = []
                return torch.ops.mkldnn._linear_pointwise(x, w, b, "none", no_scalars, "")

            @torch.jit.script
            def linear_gelu(x: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
                no_scalars: List[Optional[Union[int, float, complex]]] = []
                return torch.ops.mkldnn._linear_pointwise(x, w, b, "gelu", no_scalars, "none")

            @torch.jit.script
            def linear_add(x: torch.Tensor, other: torch.Tensor, w: torch.Tensor, b: Optional[torch.Tensor]) -> torch.Tensor:
                return torch.ops.mkldnn._linear_pointwise(x, other, w, b, "add")
    except Exception:  # noqa: BLE001 - any failure means: plain linear layers
        return None
    return linear, linear_gelu, linear_add


def _dense(x: torch.Tensor, linear: nn.Linear, packed: torch.Tensor | None) -> torch.Tensor:
    if packed is None:
        return linear(x)
    return _packed_linear()[0](x, packed, linear.bias)


def _dense_add(x: torch.Tensor, residual: torch.Tensor, linear: nn.Linear, packed: torch.Tensor | None) -> torch.Tensor:
    """``linear(x) + residual``, in one pass when the weight is prepacked."""
    if packed is None:
        return linear(x) + residual
    return _packed_linear()[2](x, residual, packed, linear.bias)


def _dense_act(x: torch.Tensor, act: nn.Module, exact_gelu: bool, linear: nn.Linear,
               packed: torch.Tensor | None) -> torch.Tensor:
    """``act(linear(x))``; exact GELU is fused into the prepacked linear."""
    if packed is None:
        return act(linear(x))
    if exact_gelu:
        return _packed_linear()[1](x, packed, linear.bias)
    return act(_packed_linear()[0](x, packed, linear.bias))


def _is_exact_gelu(act: nn.Module) -> bool:
    """The activation is erf GELU (BERT's ``hidden_act: gelu``), which oneDNN can fuse."""
    probe = torch.linspace(-4, 4, 81)
    with torch.no_grad():
        return bool(torch.allclose(act(probe), F.gelu(probe), atol=1e-6))


def row_buckets(most: int) -> list[int]:
    """Every padded row count the dense layers can see for batches of up to ``most`` real tokens."""
    return sorted({_round_up(tokens) for tokens in range(1, most + 1)})


@dataclass(frozen=True, slots=True)
class DenseShapes:
    """What a stack's dense layers build on first use of a row count, and how to build it ahead.

    On CPU in bf16 each dense layer is a oneDNN primitive (JIT code) built per input shape, 1-7 ms
    each on first use (bench/README.md); the forward pass's other operators, and fp32 (MKL's
    sgemm), int8 and CUDA, build nothing per shape. Every layer of a stack, and stacks of the same
    widths, share the primitives of one shape, so one layer's four kinds of dense call (the plain
    projection, the output projection plus residual, the intermediate with its activation, the
    output plus residual) cover them all."""

    KINDS = 4  # kinds of dense call, each a primitive per row count

    hidden: int
    intermediate: int
    dtype: torch.dtype
    packed: bool  # weights prepacked for oneDNN (``_prepack``), else plain ``nn.Linear``
    exact_gelu: bool

    @classmethod
    def of(cls, stack: Stack) -> DenseShapes | None:
        """The stack's dense shapes where building them ahead pays (bf16 on CPU), else None."""
        layers = stack.bert.encoder.layer
        if not len(layers):
            return None
        layer = layers[0]
        first = _linears(layer)
        if not all(isinstance(linear, nn.Linear) for linear in first):  # int8's quantised layers
            return None
        weight = first[0].weight
        if weight.device.type != "cpu" or weight.dtype != torch.bfloat16:
            return None
        return cls(first[0].in_features, first[4].out_features, weight.dtype, _prepack(first[0]) is not None,
                   _is_exact_gelu(layer.intermediate.intermediate_act_fn))

    def build(self, rows: Iterable[int]) -> int:
        """Run each kind of dense call once per row count, on zero weights laid out as the stack's are;
        returns how many calls that made."""
        with torch.inference_mode():
            shapes = ((self.hidden, self.hidden), (self.hidden, self.intermediate), (self.intermediate, self.hidden))
            plain, expand, shrink = (nn.Linear(i, o, dtype=self.dtype).requires_grad_(False) for i, o in shapes)
            for linear in (plain, expand, shrink):
                linear.weight.zero_()
                linear.bias.zero_()
            packs = [_prepack(linear) if self.packed else None for linear in (plain, expand, shrink)]
            act = nn.GELU()
            calls = 0
            for count in rows:
                x = torch.zeros((count, self.hidden), dtype=self.dtype)
                h = _dense_act(x, act, self.exact_gelu, expand, packs[1])
                _dense(x, plain, packs[0])
                _dense_add(x, x, plain, packs[0])
                _dense_add(h, x, shrink, packs[2])
                calls += 4
        return calls


def _round_up(tokens: int) -> int:
    """The padded row count for ``tokens`` rows, written without branches so one trace serves every size."""
    small = (tokens + SMALL_QUANTUM - 1) // SMALL_QUANTUM * SMALL_QUANTUM
    large = (tokens + LARGE_QUANTUM - 1) // LARGE_QUANTUM * LARGE_QUANTUM
    return small + (large - small) * (tokens >= LARGE_FROM)


def eager_runner(stack: Stack) -> Runner:
    """``GraphStack`` run eagerly (no trace): float32 probabilities per task."""
    graph = GraphStack(stack).eval()

    def run(input_ids: torch.Tensor, attention_mask: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        return dict(zip(graph.tasks, graph(input_ids, attention_mask, real)))

    return run


def traced_runner(stack: Stack, device: torch.device, name: str) -> Runner | None:
    """A frozen TorchScript trace of ``GraphStack``, or None (logged) if tracing fails or disagrees."""
    graph = GraphStack(stack).eval()
    ids = torch.tensor([[101, 7, 8, 9, 102], [101, 7, 102, 0, 0]], device=device)
    mask = (ids != 0).long()
    real = real_tokens(mask)
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # the deprecation notice and tracer hints; parity is checked below
            expected = graph(ids, mask, real)  # the same module run eagerly: what the trace replaces
            traced = torch.jit.freeze(torch.jit.trace(graph, (ids, mask, real), check_trace=False))
            got = traced(ids, mask, real)
        for task, probs, want in zip(graph.tasks, got, expected):
            if not torch.allclose(probs, want, atol=0.02):
                raise RuntimeError(f"traced probabilities for {task!r} differ from the eager ones")
    except Exception as exc:  # noqa: BLE001 - any failure means: run eagerly, and say so
        log.warning("encoder runs eagerly: tracing failed", model=name, error=repr(exc))
        return None
    tasks = graph.tasks

    def run(input_ids: torch.Tensor, attention_mask: torch.Tensor, real: torch.Tensor) -> dict[str, torch.Tensor]:
        # The graph runs without the GIL, but a tensor that Python also holds needs the GIL whenever
        # its C++ references fall from two to one (to release the Python side's claim), and the
        # inputs' last uses inside the graph would do that, each a wait behind the event loop of up
        # to the 5 ms switch interval. Handed back as outputs, they are released here, GIL held.
        return dict(zip(tasks, traced(input_ids, attention_mask, real)))

    return run
