"""GPT: causal self-attention (explicit mask and SDPA agree), the KV cache equals recomputation
within and beyond the block size, the sliding context, dropout only in training, and a model
without its mask fails the causality check. (The contract's property tests run on tiny GPTs from
``conftest``.)"""

from __future__ import annotations

import pytest
import torch

from arbook import checks, data, evaluate, fit, load, save
from arbook.layers import CausalSelfAttention, KVCache
from arbook.masks import allowed, causal_mask
from arbook.models import GPT


def _model(block_size=8, stride=None, dropout=0.0, stop_index=None, num_classes=11):
    torch.manual_seed(0)
    model = GPT(
        num_classes,
        block_size=block_size,
        num_layers=2,
        num_heads=2,
        embed_dim=16,
        dropout=dropout,
        length=30,
        stride=stride,
        stop_index=stop_index,
    )
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()


def test_causal_mask():
    assert torch.equal(causal_mask(3, 3), torch.ones(3, 3).tril().bool())
    # two new queries after three cached keys see those and themselves
    assert causal_mask(2, 5).tolist() == [
        [True, True, True, True, False],
        [True, True, True, True, True],
    ]


def test_explicit_attention_equals_sdpa():
    torch.manual_seed(0)
    attn = CausalSelfAttention(32, 4).eval()
    x = torch.randn(3, 10, 32)
    fast = attn(x)
    attn.explicit = True
    torch.testing.assert_close(attn(x), fast, rtol=1e-5, atol=1e-6)
    weights = attn.attention(x)
    assert weights.shape == (3, 4, 10, 10)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 4, 10))
    assert (weights.triu(1) == 0).all()
    # the same with a cache: three positions at once, then one at a time
    for explicit in (True, False):
        attn.explicit = explicit
        cache = KVCache(3, 4, 10, 8, x)
        steps = [attn(x[:, :3], cache)] + [attn(x[:, t : t + 1], cache) for t in range(3, 10)]
        torch.testing.assert_close(torch.cat(steps, dim=1), fast, rtol=1e-5, atol=1e-6)
        assert cache.nbytes() == 2 * 3 * 4 * 10 * 8 * 4


def test_whole_model_explicit_equals_sdpa():
    model = _model()
    x = torch.randint(11, (2, 30))
    fast = model.logits(x)
    model.set_attention(explicit=True)
    torch.testing.assert_close(model.logits(x), fast, rtol=1e-4, atol=1e-5)


def test_bad_configurations():
    with pytest.raises(ValueError, match="multiple of num_heads"):
        GPT(10, block_size=8, num_layers=1, num_heads=3, embed_dim=16)
    with pytest.raises(ValueError, match="stride"):
        GPT(10, block_size=8, num_layers=1, num_heads=2, embed_dim=16, stride=9)
    with pytest.raises(ValueError, match="dropout"):
        GPT(10, block_size=8, num_layers=1, num_heads=2, embed_dim=16, dropout=1.0)
    with pytest.raises(ValueError, match="block_size"):
        GPT(10, block_size=0, num_layers=1, num_heads=2, embed_dim=16)


@pytest.mark.parametrize("stride", [1, 3, 4, 8])
def test_context_slides_beyond_the_block(stride):
    """The logits of x_t see exactly x_{w(t)-1} .. x_{t-1} (and the start vector while w = 0)."""
    model = _model(block_size=8, stride=stride)
    x = torch.randint(11, (2, 30))
    deps = checks.dependencies(model, x)
    for t in range(30):
        w = model.window_start(t)
        seen = deps[t].nonzero().flatten().tolist()
        assert seen == list(range(max(w, 1) - 1, t)), (t, w)
        assert t - (max(w, 1) - 1) >= (1 if t else 0)
        if t >= 8:
            assert 8 - stride + 1 <= t - (w - 1) <= 8  # between B - stride + 1 and B symbols


@pytest.mark.parametrize("stride", [1, 4])
@pytest.mark.parametrize("prompt_length", [0, 5, 12])
def test_cache_gives_the_full_forward_pass(stride, prompt_length):
    model = _model(block_size=8, stride=stride)
    x = torch.randint(11, (3, 30))
    full = model.logits(x)
    with torch.no_grad():
        logits, state = model.prefill(x[:, :prompt_length])
        torch.testing.assert_close(logits, full[:, prompt_length], rtol=1e-4, atol=1e-5)
        for t in range(prompt_length, 29):
            logits, state = model.extend(x[:, t], state)
            torch.testing.assert_close(logits, full[:, t + 1], rtol=1e-4, atol=1e-5)
            assert state.caches[0].length == t + 2 - model.window_start(t + 1)
        for t in range(30):
            torch.testing.assert_close(model.recompute(x[:, :t]), full[:, t], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("stop_index", [None, 0])
def test_cached_and_recomputed_samples_agree_beyond_the_block(stop_index):
    model = _model(block_size=8, stop_index=stop_index, num_classes=5)
    seen = {}
    for use_cache in (True, False):
        steps = []
        out = model.sample(
            4,
            length=40,
            prompt=torch.tensor([1, 2, 3]),
            use_cache=use_cache,
            generator=torch.Generator().manual_seed(3),
            on_step=lambda t, logits, token, steps=steps: steps.append(logits.clone()),
        )
        seen[use_cache] = (out, torch.stack(steps))
    assert torch.equal(seen[True][0], seen[False][0])
    torch.testing.assert_close(seen[True][1], seen[False][1], rtol=1e-4, atol=1e-5)


def test_dropout_only_in_training():
    model = _model(dropout=0.5)
    x = torch.randint(11, (2, 8))
    assert torch.equal(model.logits(x), model.logits(x))  # eval mode: deterministic
    model.train()
    assert not torch.equal(model.logits(x), model.logits(x))
    model.eval()
    a = model.sample(2, length=10, generator=torch.Generator().manual_seed(0))
    b = model.sample(2, length=10, generator=torch.Generator().manual_seed(0), use_cache=False)
    assert torch.equal(a, b)


def test_removing_the_mask_fails_the_causality_check():
    """The test of the tests: without the mask, future symbols leak into the logits, and the
    gradient check says so."""
    model = _model()
    assert checks.causality_violations(model) == []
    model.set_attention(causal=False)
    violations = checks.causality_violations(model)
    assert violations, "the causality check missed a model that sees the future"
    deps = checks.dependencies(model, torch.randint(11, (2, 8)))
    assert (deps & ~allowed(torch.arange(8))).any()
    model.set_attention(causal=True)
    assert checks.causality_violations(model) == []


def test_tied_embeddings_and_init():
    model = GPT(20, block_size=16, num_layers=3, num_heads=2, embed_dim=32)
    x = torch.randint(20, (1, 5))
    # the output layer is the input embedding: changing the embedding changes the logits
    assert not any(n.endswith("head.weight") for n, _ in model.named_parameters())
    before = model.logits(x)
    with torch.no_grad():
        model.wte.weight[7] += 1.0
    assert not torch.allclose(model.logits(x)[..., 7], before[..., 7])
    std = model.blocks[0].attn.proj.weight.std().item()
    assert std == pytest.approx(0.02 / (2 * 3) ** 0.5, rel=0.2)


def test_training_and_checkpoint(tmp_path):
    vocab = data.CharVocab("abcdefgh ")
    text = vocab.encode("abc def gha " * 200)
    torch.manual_seed(0)
    model = GPT(len(vocab), block_size=16, num_layers=2, num_heads=2, embed_dim=32)
    history = fit(
        model,
        data.Windows(text, 16),
        batch_size=16,
        lr=3e-3,
        max_steps=150,
        eval_every=75,
        patience=None,
        cosine=True,
        warmup_steps=10,
        betas=(0.9, 0.99),
        weight_decay=0.1,
        progress=False,
    )
    assert history.positions_per_second and history.positions_per_second[-1] > 0
    result = evaluate(model, data.text_chunks(text, 16))
    assert result.nll_nats_per_dim < 0.5  # a periodic text is nearly deterministic
    again = load(save(model, tmp_path / "gpt.pt"))
    torch.testing.assert_close(again.logits(text[None, :40]), model.logits(text[None, :40]))


@pytest.mark.parametrize(
    "options",
    [dict(amp=True), pytest.param(dict(compile=True), marks=pytest.mark.slow)],
    ids=["bf16-autocast", "torch-compile"],
)
def test_training_options_of_the_gpu_path_run_on_cpu(options):
    """bf16 autocast and torch.compile are what the trainer uses on a GPU; the same code runs
    (and learns) on the CPU."""
    vocab = data.CharVocab("abcdefgh ")
    text = vocab.encode("abc def gha " * 100)
    torch.manual_seed(0)
    model = GPT(len(vocab), block_size=16, num_layers=1, num_heads=2, embed_dim=16)
    history = fit(
        model,
        data.Windows(text, 16),
        batch_size=8,
        lr=1e-2,
        max_steps=30,
        eval_every=15,
        patience=None,
        progress=False,
        **options,
    )
    assert history.val_nll[-1] < history.val_nll[0]
    assert next(model.parameters()).dtype == torch.float32


def test_attention_weights_are_those_of_the_forward_pass():
    model = _model()
    x = torch.randint(11, (3, 8))
    maps = model.attention_weights(x)
    assert maps.shape == (2, 3, 2, 8, 8)  # [L, B, H, T, T]
    torch.testing.assert_close(maps.sum(-1), torch.ones(2, 3, 2, 8))
    assert (maps.triu(1) == 0).all()
    # the explicit path of a logits pass computes exactly these weights
    seen = []
    model.set_attention(explicit=True)
    for block in model.blocks:
        block.attn.register_forward_hook(
            lambda attn, inputs, _: seen.append(attn.attention(inputs[0]))
        )
    model.logits(x)
    torch.testing.assert_close(maps, torch.stack(seen))
    # rows 0..4 read s_0..s_4 = (start, x_0..x_3): changing x_4 moves only the later rows
    changed = x.clone()
    changed[:, 4] = (x[:, 4] + 1) % 11
    later = model.attention_weights(changed)
    torch.testing.assert_close(later[..., :5, :], maps[..., :5, :])
    assert not torch.allclose(later[..., 5:, :], maps[..., 5:, :])


def test_attention_weights_reads_one_window():
    model = _model()
    with pytest.raises(ValueError, match="block_size=8"):
        model.attention_weights(torch.randint(11, (1, 9)))
    with pytest.raises(TypeError, match="integer"):
        model.attention_weights(torch.rand(1, 4))
