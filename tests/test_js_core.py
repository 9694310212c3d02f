"""The JavaScript inference core (``arbook/js/core.mjs``) against PyTorch.

pytest exports small models (:func:`arbook.export.export_model`, float32, float16 and int8),
writes PyTorch's conditionals for fixed prefixes (of :func:`arbook.export.rounded_copy`: the model
with exactly the weights the file holds) and ``arbook.sampling.filter_logits`` on shared
logits (ties included) as fixtures, then runs ``node --test tests/js`` on them: the
JavaScript conditionals and filters must agree to 1e-5. Distributions are compared, not
sampled strings (the random generators differ); greedy continuations are compared exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from arbook import GPT, MADE, CharRNN
from arbook.export import export_model, export_tensors, quantize_rows, rounded_copy
from arbook.masks import allowed, connectivity, made_degrees, made_masks
from arbook.sampling import filter_logits

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")
DTYPES = ("float32", "float16", "int8")


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
        for dtype in DTYPES:
            stem = f"{name}-{dtype}"
            export_model(model, folder / stem, dtype=dtype, symbols=symbols)
            reference = rounded_copy(model, dtype)
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
    with pytest.raises(ValueError, match="dtype must be one of float32, float16, int8"):
        export_model(CharRNN(5, 8), tmp_path / "m", dtype="int4")
    with pytest.raises(ValueError, match="int8"):
        rounded_copy(CharRNN(5, 8), "bfloat16")
    with pytest.raises(ValueError, match="symbols"):
        export_model(CharRNN(5, 8), tmp_path / "m", symbols=list("abc"))
    with pytest.raises(TypeError):
        export_model(CharRNN(5, 8), tmp_path / "m", metadata={"bad": object()})
    assert list(tmp_path.iterdir()) == [], "nothing written when the export fails"


def _read_bin(head, weights):
    """The tensors of an export decoded in NumPy (as the JavaScript core reads them)."""
    header = json.loads(head.read_text())
    data = weights.read_bytes()
    tensors = {}
    for entry in header["tensors"]:
        count = int(np.prod(entry["shape"]))
        kind = np.dtype({"float32": "<f4", "float16": "<f2", "int8": "i1"}[entry["dtype"]])
        values = np.frombuffer(data, kind, count, entry["offset"]).astype(np.float64)
        assert entry["bytes"] == count * kind.itemsize
        if entry["dtype"] == "int8":
            rows = entry["shape"][0]
            scales = np.frombuffer(data, "<f4", rows, entry["scale_offset"]).astype(np.float64)
            values = np.float32(values.reshape(rows, -1) * scales[:, None]).ravel()
        tensors[entry["name"]] = values.reshape(entry["shape"])
    return header, tensors


@pytest.mark.parametrize("dtype", DTYPES)
def test_rounded_copy_holds_what_the_file_holds(tmp_path, dtype):
    for name, model, _ in _models():
        header, stored = _read_bin(*export_model(model, tmp_path / name, dtype=dtype))
        assert header["dtype"] == dtype and header["version"] == (2 if dtype == "int8" else 1)
        copy_ = rounded_copy(model, dtype)
        assert not copy_.training
        # the copy's effective weights (a MADE's masked ones included) are the file's, exactly
        for key, tensor in export_tensors(copy_).items():
            np.testing.assert_array_equal(tensor.detach().double().numpy(), stored[key], key)
        for entry in header["tensors"]:
            matrix = len(entry["shape"]) >= 2
            expected = dtype if dtype != "int8" or matrix else "float32"
            assert entry["dtype"] == expected, entry["name"]
            if dtype == "int8":  # every block 4-byte aligned
                assert entry["offset"] % 4 == 0 and entry.get("scale_offset", 0) % 4 == 0
                assert ("scale_offset" in entry) == matrix
        if dtype != "float32":  # the original is untouched, and differs from its copy
            original = export_tensors(model)
            assert any(
                not torch.equal(original[k].detach(), t.detach())
                for k, t in export_tensors(copy_).items()
            )


def test_int8_error_is_at_most_half_a_scale():
    g = torch.Generator().manual_seed(0)
    values = (
        torch.randn(6, 5, 4, generator=g) * torch.tensor([1e-3, 0.1, 1, 10, 1e4, 0])[:, None, None]
    )
    integers, scales = quantize_rows(values.numpy())
    assert integers.dtype == np.int8 and integers.shape == (6, 5, 4) and scales.dtype == np.float32
    assert np.abs(integers).max() <= 127 and scales[-1] == 1 and not integers[-1].any()
    rows = values.double().numpy().reshape(6, -1)
    back = integers.reshape(6, -1) * scales[:, None].astype(np.float64)
    error = np.abs(back - rows).max(axis=1)
    assert (error <= scales * 0.5 * (1 + 1e-6)).all(), (error, scales)
    # the largest value of each row is kept to within float32 rounding
    peak = np.abs(rows).max(axis=1)
    assert np.allclose(np.abs(back).max(axis=1), peak, rtol=1e-6)


def test_int8_is_about_a_quarter_of_float32(tmp_path):
    torch.manual_seed(0)
    model = GPT(40, block_size=32, num_layers=2, num_heads=4, embed_dim=64)
    sizes = {}
    for dtype in DTYPES:
        _, weights = export_model(model, tmp_path / dtype, dtype=dtype)
        sizes[dtype] = weights.stat().st_size
    assert sizes["float16"] == sizes["float32"] / 2
    assert 0.25 < sizes["int8"] / sizes["float32"] < 0.3, sizes


def test_int8_export_of_a_row_of_zeros(tmp_path):
    torch.manual_seed(0)
    model = CharRNN(5, 8, cell="lstm")
    with torch.no_grad():
        model.embed.weight[2] = 0
        model.head.weight.zero_()
    header, stored = _read_bin(*export_model(model, tmp_path / "zeros", dtype="int8"))
    assert not stored["embed.weight"][2].any() and not stored["head.weight"].any()
    entry = next(e for e in header["tensors"] if e["name"] == "head.weight")
    data = (tmp_path / "zeros.bin").read_bytes()
    assert (np.frombuffer(data, "<f4", 5, entry["scale_offset"]) == 1).all()
    with pytest.raises(ValueError, match="finite"):
        with torch.no_grad():
            model.embed.weight[0, 0] = float("nan")
        export_model(model, tmp_path / "nan", dtype="int8")


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_export_reads_back_as_the_rounded_model(dtype):
    from arbook.export import exported, imported

    for name, model, _ in _models():
        header, data = exported(model, dtype=dtype)
        back, expected = imported(json.loads(json.dumps(header)), data), rounded_copy(model, dtype)
        assert type(back) is type(model) and back.config == model.config, name
        for (k, a), (_, b) in zip(
            back.state_dict().items(), expected.state_dict().items(), strict=True
        ):
            if k.endswith("weight") or k in ("start", "h0", "c0") or "bias" in k:
                assert torch.equal(a, b), (name, k)


def test_imported_refuses_what_is_not_an_export():
    from arbook.export import exported, imported

    torch.manual_seed(0)
    header, data = exported(CharRNN(5, 8, cell="gru"))
    with pytest.raises(ValueError, match="not an arbook weights header"):
        imported({**header, "format": "other"}, data)
    with pytest.raises(ValueError, match="CharRNN, GPT and MADE"):
        imported({**header, "model": "WaveNet"}, data)
    with pytest.raises(ValueError, match="shape"):
        imported({**header, "config": {**header["config"], "hidden_size": 9}}, data)
