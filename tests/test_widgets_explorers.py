"""The JavaScript explorers as Jupyter widgets, driven from Python.

Each explorer is an anywidget: Python holds its settings as traits and the JavaScript module
(``_esm``, the bundle anywidget loads) computes and draws in the front end. Here the front end is
headless Chromium, offline, running the widget's own ``_esm`` against a stand-in for the widget
model (``page.mjs``'s ``staticModel``: ``get``, ``set``, ``on``, ``save_changes``); the test
plays the part of the widget comm: it sets a trait in Python (where a bad value raises), sends
the change to the page, and copies what the page writes back (``text``, ``steps``, ``masks``,
...) into the widget with ``set_state``. What the page computed is then checked against PyTorch.
"""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest
import torch
import traitlets
from test_book_html import Browser, find_browser, serve

from arbook import masks as M
from arbook.bundle import JS, bundle, classic, static_html
from arbook.data import CharVocab
from arbook.models import GPT, CharRNN
from arbook.sampling import filter_logits
from arbook.widgets import MaskExplorer, SamplingExplorer

VOCAB = CharVocab("abcdefgh", specials=(".",))  # "." (index 0) ends a text

HARNESS = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="icon" href="data:,"><title>explorer</title></head><body>
<div id="widget"></div>
<script type="module">
import explorer from "./esm.mjs";
import { base64Bytes, staticModel } from "./page.mjs";
const values = await (await fetch("./state.json")).json();
for (const [name, value] of Object.entries(values)) {
  if (value && typeof value === "object" && typeof value.base64 === "string") values[name] = base64Bytes(value.base64);
}
window.model = staticModel(values);
explorer.render({ model: window.model, el: document.getElementById("widget") });
window.rendered = true;
</script></body></html>
"""


@pytest.fixture(scope="module")
def browser():
    chromium, driver, why = find_browser()
    if chromium is None:
        pytest.skip(why)
    b = Browser(chromium, driver)
    yield b
    b.close()


class Frontend:
    """The widget's front end in the browser, and the comm between it and Python."""

    def __init__(self, widget, browser: Browser, folder: Path) -> None:
        self.widget = widget
        self.driver = browser.driver
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "esm.mjs").write_text(widget._esm)
        shutil.copy(JS / "page.mjs", folder / "page.mjs")
        state = {name: getattr(widget, name) for name in widget._settings}
        for name, value in state.items():
            if isinstance(value, bytes):
                state[name] = {"base64": base64.b64encode(value).decode()}
        (folder / "state.json").write_text(json.dumps(state))
        (folder / "index.html").write_text(HARNESS)
        self._server = serve(folder)
        served = next(self._server)
        self.driver.get(served.base + "index.html")
        self.driver.execute_async_script(
            "const done = arguments[0];"
            "const wait = () => (window.rendered ? done() : setTimeout(wait, 20)); wait();"
        )
        self.pull()

    def close(self) -> None:
        self._server.close()

    def push(self, **changes) -> None:
        """Set traits in Python (validated there), send them to the page, read the result."""
        for name, value in changes.items():
            setattr(self.widget, name, value)
        self.driver.execute_script(
            "for (const [k, v] of Object.entries(arguments[0])) model.set(k, v);"
            "model.save_changes();",
            changes,
        )
        self.pull()

    def page_set(self, **changes) -> None:
        """Set values in the page only (as a front end could, bypassing Python's checks)."""
        self.driver.execute_script(
            "for (const [k, v] of Object.entries(arguments[0])) model.set(k, v);", changes
        )
        self.pull()

    def pull(self) -> None:
        names = [
            n
            for n in self.widget.trait_names(sync=True)
            if not n.startswith("_") and n not in self.widget._settings
        ]
        values = self.driver.execute_script(
            "return Object.fromEntries(arguments[0].map((n) => [n, model.get(n)]));", names
        )
        self.widget.set_state({k: v for k, v in values.items() if v is not None})

    def js(self, script: str, *args):
        return self.driver.execute_script(script, *args)

    def errors(self) -> list[str]:
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]


def _sharpen(model, scale):
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(scale)
    return model.eval()


@pytest.fixture(scope="module")
def gru():
    torch.manual_seed(0)
    return _sharpen(CharRNN(len(VOCAB), 16, cell="gru", length=12, stop_index=0), 3.0)


@pytest.fixture
def sampling(gru, browser, tmp_path):
    widget = SamplingExplorer(gru, VOCAB, prompt="ab", seed=1, dtype="float32")
    front = Frontend(widget, browser, tmp_path / "sampling")
    yield front
    assert front.errors() == []
    front.close()


def _pytorch_steps(model, tokens, num_prompt, options):
    """The model's conditionals before and after the filters at every generated position."""
    with torch.no_grad():
        logits = model(torch.tensor([tokens]))[0].double()
    positions = range(num_prompt, len(tokens))
    before = [logits[t].softmax(-1) for t in positions]
    after = [filter_logits(logits[t], **options).double().softmax(-1) for t in positions]
    return before, after


def _check_conditionals(widget, model):
    assert widget.error == ""
    tokens = widget.tokens
    assert widget.text == "".join(VOCAB.symbols[t] for t in tokens)
    assert widget.text.startswith(widget.prompt)
    before, after = _pytorch_steps(model, tokens, len(widget.prompt), widget.options())
    assert len(widget.steps) == len(tokens) - len(widget.prompt) >= 1
    for step, p, q in zip(widget.steps, before, after, strict=True):
        assert step["token"] == tokens[step["position"]]
        torch.testing.assert_close(
            torch.tensor(step["probs"], dtype=torch.float64), p, atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            torch.tensor(step["filtered"], dtype=torch.float64), q, atol=1e-5, rtol=0
        )
        assert step["filtered"][step["token"]] > 0, "the drawn symbol was allowed"


def test_the_page_shows_the_models_conditionals(sampling, gru):
    _check_conditionals(sampling.widget, gru)
    settings = [
        dict(temperature=0.5),
        dict(top_k=3, seed=4),
        dict(top_p=0.6, top_k=0, prompt="h"),
        dict(temperature=1.7, top_k=5, top_p=0.9, prompt=""),
    ]
    for changes in settings:
        sampling.push(**changes)
        _check_conditionals(sampling.widget, gru)


def test_top_k_one_is_greedy_for_every_seed(sampling, gru):
    greedy = gru.sample(1, prompt=VOCAB.encode("ab"), greedy=True)[0].tolist()
    for seed in (0, 5, 9):
        sampling.push(top_k=1, seed=seed)
        n = len(sampling.widget.tokens)
        assert sampling.widget.tokens == greedy[:n]
        assert n == len(greedy) or greedy[n - 1] == gru.stop_index


def test_seed_and_temperature_change_the_text(sampling):
    texts = set()
    for seed in range(6):
        sampling.push(seed=seed)
        texts.add(sampling.widget.text)
    assert len(texts) > 2
    sampling.push(seed=3)
    first = sampling.widget.text
    sampling.push(seed=4)
    sampling.push(seed=3)
    assert sampling.widget.text == first, "a seed gives the same text again"


def test_bars_sum_to_one_and_mark_the_chosen_symbol(sampling):
    for step in range(len(sampling.widget.steps)):
        sampling.push(step=step)
        record = sampling.widget.steps[step]
        charts = sampling.js(
            "return [...document.querySelectorAll('.x-chart')].map((c) => "
            "[...c.querySelectorAll('.x-bar')].map((b) => "
            "[Number(b.dataset.p), b.classList.contains('x-chosen'), Number(b.dataset.index)]))"
        )
        assert len(charts) == 2
        for bars in charts:
            assert len(bars) == len(VOCAB)
            assert abs(sum(p for p, _, _ in bars) - 1) < 1e-9
            assert [i for _, chosen, i in bars if chosen] == [record["token"]]
        selected = sampling.js("return document.querySelector('.x-selected').dataset.step")
        assert int(selected) == step


def test_controls_in_the_page_write_the_settings(sampling):
    sampling.js(
        "const input = document.querySelector('input[name=top_k]');"
        "input.value = 1; input.dispatchEvent(new Event('input'));"
        "const prompt = document.querySelector('input[name=prompt]');"
        "prompt.value = 'cd'; prompt.dispatchEvent(new Event('change'));"
    )
    sampling.pull()
    assert sampling.js("return [model.get('top_k'), model.get('prompt')]") == [1, "cd"]
    assert sampling.widget.text.startswith("cd")
    assert all(sum(v > 0 for v in s["filtered"]) == 1 for s in sampling.widget.steps)
    clicked = sampling.js(
        "const spans = document.querySelectorAll('.x-generated');"
        "const last = spans[spans.length - 1]; last.dispatchEvent(new Event('click'));"
        "return Number(last.dataset.step);"
    )
    assert sampling.js("return model.get('step')") == clicked == len(sampling.widget.steps) - 1


def test_bad_settings_are_refused_in_python_and_in_the_page(sampling):
    before = sampling.widget.text
    with pytest.raises(traitlets.TraitError, match="'z'"):
        sampling.widget.prompt = "az"
    with pytest.raises(traitlets.TraitError, match="end marker"):
        sampling.widget.prompt = "a."
    with pytest.raises(traitlets.TraitError, match="temperature"):
        sampling.widget.temperature = 0.0
    with pytest.raises(traitlets.TraitError, match="top_p"):
        sampling.widget.top_p = 1.5
    sampling.page_set(prompt="az")
    assert "'z'" in sampling.widget.error or '"z"' in sampling.widget.error
    assert sampling.widget.text == before, "the last valid text stays"
    assert "error" in sampling.js("return document.querySelector('.x-status').textContent")
    sampling.page_set(prompt="a")
    assert sampling.widget.error == ""


def test_a_gpt_with_many_symbols_shows_the_rest_in_one_bar(browser, tmp_path):
    vocab = CharVocab("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ ,.")
    torch.manual_seed(3)
    model = GPT(len(vocab), block_size=8, num_layers=2, num_heads=2, embed_dim=16, stride=3)
    model = _sharpen(model, 4.0)
    widget = SamplingExplorer(model, vocab, prompt="To be", length=12, dtype="float32")
    front = Frontend(widget, browser, tmp_path / "gpt")
    try:
        tokens = widget.tokens
        with torch.no_grad():
            logits = model(torch.tensor([tokens]))[0].double()
        for step in widget.steps:
            expected = logits[step["position"]].softmax(-1)
            torch.testing.assert_close(
                torch.tensor(step["probs"], dtype=torch.float64), expected, atol=1e-5, rtol=0
            )
        bars = front.js(
            "return [...document.querySelectorAll('.x-before .x-bar')].map((b) => "
            "[Number(b.dataset.p), Number(b.dataset.index)])"
        )
        assert len(bars) == 40 and bars[-1][1] == -1, "39 symbols and one bar for the rest"
        assert abs(sum(p for p, _ in bars) - 1) < 1e-9
        assert front.errors() == []
    finally:
        front.close()


def test_the_explorer_refuses_other_models_and_vocabularies(gru):
    from arbook.models import MADE

    with pytest.raises(TypeError, match="sequence model"):
        SamplingExplorer(MADE(4, [8]), VOCAB)
    with pytest.raises(ValueError, match="vocabulary has 3 symbols"):
        SamplingExplorer(gru, CharVocab("ab", specials=(".",)))


# -- the masks explorer --------------------------------------------------------------------------


@pytest.fixture
def masks(browser, tmp_path):
    front = Frontend(MaskExplorer(num_inputs=5, hidden_sizes="8, 6"), browser, tmp_path / "m")
    yield front
    assert front.errors() == []
    front.close()


def _check_masks(widget):
    assert widget.error == ""
    d = widget.num_inputs
    order = widget.order_values
    assert sorted(order) == list(range(d))
    degrees = [torch.tensor(x) for x in widget.degree_values]
    assert degrees[0].tolist() == M.input_degrees(order).tolist()
    expected = M.made_masks(degrees)
    assert [torch.tensor(m).tolist() for m in widget.masks] == [m.int().tolist() for m in expected]
    paths = M.connectivity(expected)
    assert torch.tensor(widget.connectivity).tolist() == paths.int().tolist()
    assert ((paths > 0) <= M.allowed(torch.tensor(order))).all()
    assert widget.message.startswith(f"order {order}: causal".replace(",", ","))


def test_the_masks_are_those_of_arbook_masks(masks):
    _check_masks(masks.widget)
    assert masks.widget.order_values == [0, 1, 2, 3, 4]
    for changes in (
        dict(order="reversed"),
        dict(order="random", seed=7),
        dict(hidden_sizes="12", degrees="sequential"),
        dict(num_inputs=9, hidden_sizes="3, 20, 4"),
        dict(hidden_sizes=""),
    ):
        masks.push(**changes)
        _check_masks(masks.widget)
    assert len(masks.widget.masks) == 1, "no hidden layer: one mask"
    grids = masks.js("return document.querySelectorAll('.x-grid').length")
    assert grids == 2, "the mask and the connectivity"


def test_masks_seed_draws_another_order(masks):
    orders = set()
    for seed in range(5):
        masks.push(order="random", seed=seed)
        orders.add(tuple(masks.widget.order_values))
    assert len(orders) > 1


def test_bad_hidden_sizes_are_refused(masks):
    with pytest.raises(traitlets.TraitError, match="whole numbers"):
        masks.widget.hidden_sizes = "ten"
    with pytest.raises(traitlets.TraitError, match="between 1 and 256"):
        masks.widget.hidden_sizes = "0"
    with pytest.raises(traitlets.TraitError, match="num_inputs"):
        masks.widget.num_inputs = 40
    with pytest.raises(traitlets.TraitError, match="order must be one of"):
        masks.widget.order = "upwards"
    with pytest.raises(traitlets.TraitError, match="degrees must be one of"):
        masks.widget.degrees = "even"
    last = masks.widget.masks
    masks.page_set(hidden_sizes="3, x")
    assert "whole numbers" in masks.widget.error
    assert masks.widget.masks == last


# -- the markup of static pages ----------------------------------------------------------------


def test_static_markup_runs_from_a_file_url(browser, tmp_path, gru):
    """The markup a chapter's page holds shows the explorer from file://, offline."""
    widget = SamplingExplorer(gru, VOCAB, prompt="a", seed=2)
    data, metadata = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    markup = metadata["arbook/static-html"]
    page = tmp_path / "page.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'></head><body>{markup}"
        f"{MaskExplorer(num_inputs=4).static_html()}</body></html>"
    )
    browser.driver.get(page.as_uri())
    shown = browser.driver.execute_script(
        "return [document.querySelectorAll('.x-bar').length,"
        " document.querySelectorAll('.arbook-masks .x-grid').length,"
        " Object.keys(window.arbookExplorers).sort()]"
    )
    assert shown == [2 * len(VOCAB), 4, ["masks_explorer", "sampling_explorer"]]
    errors = [e for e in browser.driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


def test_bundles_follow_the_rules(tmp_path, monkeypatch):
    module = bundle("sampling_explorer.mjs")
    assert module.count("export default") == 1
    assert "import " not in module.replace("import {", "").split("// ----")[0]
    assert classic("masks_explorer.mjs").startswith("(function () {")
    with pytest.raises(ValueError, match="plain HTML id"):
        static_html("masks_explorer.mjs", "1 bad", {})
    # two files that declare the same name cannot be joined
    import arbook.bundle as B

    (tmp_path / "a.mjs").write_text('import { f } from "./b.mjs";\nexport function f() {}\n')
    (tmp_path / "b.mjs").write_text("export function f() {}\n")
    (tmp_path / "c.mjs").write_text('import x from "./b.mjs";\n')
    monkeypatch.setattr(B, "JS", tmp_path)
    with pytest.raises(ValueError, match="declared in both"):
        B._joined(B._files("a.mjs"), "a.mjs")
    with pytest.raises(ValueError, match="single lines"):
        B._joined(B._files("c.mjs"), "c.mjs")
