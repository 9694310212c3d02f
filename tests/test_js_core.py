"""The JavaScript inference core (``arbook/js/core.mjs``) against PyTorch.

pytest exports small models (:func:`arbook.export.export_model`, float32 and float16), writes
PyTorch's conditionals for fixed prefixes and ``arbook.sampling.filter_logits`` on shared
logits (ties included) as fixtures, then runs ``node --test tests/js`` on them: the
JavaScript conditionals and filters must agree to 1e-5. Distributions are compared, not
sampled strings (the random generators differ); greedy continuations are compared exactly.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import torch

from arbook import GPT, MADE, CharRNN
from arbook.export import export_model, export_tensors
from arbook.masks import allowed, connectivity, made_degrees, made_masks
from arbook.sampling import filter_logits

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def _sharpen(model, scale=3.0):
    """Larger random weights, so conditionals differ clearly from uniform."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model.eval()


def _models():
    torch.manual_seed(0)
    yield "gru", _sharpen(CharRNN(7, 12, num_layers=2, cell="gru", embedding_size=5)), None
    torch.manual_seed(1)
    yield "lstm", _sharpen(CharRNN(7, 10, cell="lstm", stop_index=0)), None
    torch.manual_seed(2)
    yield "rnn", _sharpen(CharRNN(7, 9, cell="rnn")), None
    torch.manual_seed(3)
    model = GPT(7, block_size=8, num_layers=2, num_heads=2, embed_dim=16, stride=3)
    yield "gpt", _sharpen(model, 4.0), None
    torch.manual_seed(4)
    yield "made-binary", MADE(6, [20, 20], order="random", seed=3).eval(), None
    torch.manual_seed(5)
    yield "made-3-classes", MADE(4, [24], num_classes=3, num_masks=2, seed=1).eval(), None


def _rounded(model):
    """The model with every exported tensor rounded to float16, as its float16 export holds."""
    copy_ = copy.deepcopy(model)
    with torch.no_grad():
        for p in copy_.parameters():
            p.copy_(p.half().float())
    return copy_


def _sequence_fixture(model, length=20):
    x = torch.randint(model.num_classes, (1, length), generator=torch.Generator().manual_seed(9))
    if model.stop_index is not None:  # no stop marker inside: every position counts
        x[x == model.stop_index] = 1
    with torch.no_grad():
        probs = model(x).double().softmax(-1)[0]
        greedy = model.sample(1, prompt=x[0, :3], length=12, greedy=True)[0]
    return {
        "tokens": x[0].tolist(),
        "probs": probs.tolist(),
        "greedy_prompt": x[0, :3].tolist(),
        "greedy": greedy.tolist(),
    }


def _made_fixture(model):
    x = torch.randint(
        model.num_classes, (5, model.num_dims), generator=torch.Generator().manual_seed(9)
    )
    with torch.no_grad():
        probs = model(x).double().softmax(-1)
    return {"values": x.tolist(), "probs": probs.tolist(), "order": model.order.tolist()}


def _filter_fixtures():
    g = torch.Generator().manual_seed(0)
    rows = [
        torch.randn(9, generator=g) * 2,
        torch.tensor([1.0, 1.0, 1.0, 1.0, 0.0]),  # ties at the top
        torch.tensor([0.0, 2.0, 2.0, 2.0, -1.0, 2.0]),  # a tie across the top-k cut
        torch.tensor([3.0, 1.0, 3.0, 3.0]),
        torch.tensor([5.0, -2.0, 0.5, 0.4, 0.3, 0.2, 0.1]),
        torch.zeros(4),  # the mass before a value reaches p exactly (0.25, 0.5, 0.75)
    ]
    options = [
        {},
        {"temperature": 0.5},
        {"temperature": 2.0},
        {"top_k": 1},
        {"top_k": 2},
        {"top_k": 3, "temperature": 0.7},
        {"top_p": 0.5},
        {"top_p": 0.93},
        {"top_k": 4, "top_p": 0.6, "temperature": 1.3},
        {"top_p": 0.75},
        {"temperature": 1e-30},
        {"temperature": 1e-308},  # logits / t overflows even in float64: shifted first
    ]
    cases = []
    for logits in rows:
        for opts in options:
            probs = filter_logits(logits, **opts).double().softmax(-1)
            cases.append({"logits": logits.tolist(), "options": opts, "probs": probs.tolist()})
    return cases


def _mask_fixtures():
    """Degrees, masks and connectivity from arbook.masks: sequential degrees (which the page
    computes itself) and random ones drawn by PyTorch (which the page is given)."""
    g = torch.Generator().manual_seed(0)
    cases = []
    for order, hidden, method in [
        ([0, 1, 2, 3], [5], "sequential"),
        ([3, 1, 0, 4, 2], [7, 6], "sequential"),
        ([2, 0, 1], [4, 4, 4], "random"),
        ([5, 4, 3, 2, 1, 0, 6, 7], [16, 9], "random"),
    ]:
        degrees = made_degrees(len(order), hidden, order, generator=g, method=method)
        masks = made_masks(degrees)
        cases.append(
            {
                "order": order,
                "hidden": hidden,
                "method": method,
                "degrees": [d.tolist() for d in degrees],
                "masks": [m.long().tolist() for m in masks],
                "connectivity": connectivity(masks).long().tolist(),
                "allowed": allowed(order).tolist(),
            }
        )
    return cases


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("js-core")
    index = []
    for name, model, symbols in _models():
        for dtype in ("float32", "float16"):
            stem = f"{name}-{dtype}"
            export_model(model, folder / stem, dtype=dtype, symbols=symbols)
            reference = model if dtype == "float32" else _rounded(model)
            make = _made_fixture if isinstance(model, MADE) else _sequence_fixture
            (folder / f"{stem}.expected.json").write_text(json.dumps(make(reference)))
            index.append(stem)
    (folder / "models.json").write_text(json.dumps(index))
    (folder / "filters.json").write_text(json.dumps(_filter_fixtures()))
    (folder / "masks.json").write_text(json.dumps(_mask_fixtures()))
    return folder


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_javascript_core_agrees_with_pytorch(fixtures):
    result = subprocess.run(
        [NODE, "--test", str(ROOT / "tests" / "js")],
        env={**os.environ, "ARBOOK_JS_FIXTURES": str(fixtures)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "# fail 0" in result.stdout and "# pass 0" not in result.stdout


def test_export_writes_a_header_and_the_weights(tmp_path):
    torch.manual_seed(0)
    model = CharRNN(5, 8, cell="gru")
    head, weights = export_model(model, tmp_path / "sub" / "names.pt", symbols=list("abcde"))
    assert (head.name, weights.name) == ("names.json", "names.bin")
    header = json.loads(head.read_text())
    assert header["model"] == "CharRNN" and header["config"] == model.config
    assert header["symbols"] == list("abcde") and header["dtype"] == "float32"
    total = sum(t.numel() for t in export_tensors(model).values())
    assert weights.stat().st_size == 4 * total
    assert sum(entry["bytes"] for entry in header["tensors"]) == 4 * total
    _, half = export_model(model, tmp_path / "half", dtype="float16")
    assert half.stat().st_size == 2 * total


def test_export_errors_name_the_problem(tmp_path):
    from arbook import WaveNet

    with pytest.raises(TypeError, match="exports CharRNN, GPT and MADE"):
        export_model(WaveNet(8, 4, 8, layers_per_block=2, blocks=1), tmp_path / "w")
    with pytest.raises(ValueError, match="dtype"):
        export_model(CharRNN(5, 8), tmp_path / "m", dtype="int8")
    with pytest.raises(ValueError, match="symbols"):
        export_model(CharRNN(5, 8), tmp_path / "m", symbols=list("abc"))
    with pytest.raises(TypeError):
        export_model(CharRNN(5, 8), tmp_path / "m", metadata={"bad": object()})
    assert list(tmp_path.iterdir()) == [], "nothing written when the export fails"
