"""WaveNet: causal dilated convolutions, the receptive field, and fast generation that equals
the naive loop. (The contract's property tests run on tiny WaveNets from ``conftest``.)"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch

from arbook import checks, data, plots
from arbook.layers import CausalConv1d
from arbook.models import WaveNet
from arbook.train import evaluate, fit


def _scaled(model: WaveNet, factor: float = 2.0) -> WaveNet:
    """Larger weights than at initialisation: peaked conditionals that tell paths apart."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(factor)
    return model.eval()


def test_causal_conv1d_sees_only_the_past():
    torch.manual_seed(0)
    conv = CausalConv1d(2, 3, kernel_size=3, dilation=2)
    assert conv.lags == [4, 2, 0]
    x = torch.randn(1, 2, 12, requires_grad=True)
    y = conv(x)
    assert y.shape == (1, 3, 12)
    for t in range(12):
        (grad,) = torch.autograd.grad(y[0, :, t].sum(), x, retain_graph=True)
        seen = grad[0].abs().sum(dim=0).nonzero().flatten().tolist()
        assert seen == [s for s in (t - 4, t - 2, t) if s >= 0]
    with pytest.raises(ValueError, match="dilation"):
        CausalConv1d(1, 1, 2, dilation=0)


def test_receptive_field():
    assert WaveNet(256, 8, 8, layers_per_block=10, blocks=3).receptive_field == 3070
    assert WaveNet(4, 4, 4, layers_per_block=3, blocks=2, kernel_size=3).receptive_field == 29


@pytest.mark.parametrize("kernel_size", [2, 3])
def test_logits_see_exactly_the_receptive_field(kernel_size):
    torch.manual_seed(0)
    model = _scaled(WaveNet(5, 4, 6, layers_per_block=2, blocks=2, kernel_size=kernel_size))
    rf = model.receptive_field
    x = torch.randint(5, (2, rf + 8))
    deps = checks.dependencies(model, x)
    t = torch.arange(x.shape[1])
    expected = (t[None] < t[:, None]) & (t[None] >= t[:, None] - rf)
    assert torch.equal(deps, expected)


def test_bad_configurations_and_data():
    with pytest.raises(ValueError, match="residual_channels"):
        WaveNet(256, 0)
    with pytest.raises(ValueError, match="num_classes"):
        WaveNet(1)
    model = WaveNet(16, 4, 4, layers_per_block=2, blocks=1)
    with pytest.raises(TypeError, match="integer"):
        model(torch.rand(1, 10))
    with pytest.raises(ValueError, match=r"\[0, 16\)"):
        model(torch.full((1, 10), 16))
    with pytest.raises(ValueError, match="length"):
        model.sample(1, length=-1)


@pytest.mark.parametrize("prompt_length", [0, 1, 6, 20])
def test_queues_give_the_full_forward_pass(prompt_length):
    torch.manual_seed(1)
    model = _scaled(WaveNet(7, 6, 10, layers_per_block=3, blocks=2, dilation_channels=5))
    x = torch.randint(7, (3, 40))
    full = model.logits(x)
    with torch.no_grad():
        logits, state = model.prefill(x[:, :prompt_length])
        torch.testing.assert_close(logits, full[:, prompt_length], rtol=1e-5, atol=1e-5)
        for t in range(prompt_length, 39):
            logits, state = model.extend(x[:, t], state)
            torch.testing.assert_close(logits, full[:, t + 1], rtol=1e-5, atol=1e-5)
        # the naive step reads only the receptive field and agrees too
        for t in (0, 3, 39):
            torch.testing.assert_close(model.recompute(x[:, :t]), full[:, t], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "config",
    [
        dict(layers_per_block=4, blocks=2),  # two blocks: dilations 1, 2, 4, 8, 1, 2, 4, 8
        dict(layers_per_block=3, blocks=2, kernel_size=3),
    ],
    ids=["kernel-2", "kernel-3"],
)
def test_fast_generation_equals_naive_over_thousands_of_steps(config):
    torch.manual_seed(2)
    model = _scaled(WaveNet(32, 8, 16, **config), 1.5)
    length = 3000
    seen = {}

    def run(use_cache: bool):
        steps = []
        out = model.sample(
            2,
            length=length,
            prompt=torch.tensor([3, 17, 5]),
            use_cache=use_cache,
            generator=torch.Generator().manual_seed(7),
            on_step=lambda t, logits, token: steps.append(logits.clone()),
        )
        seen[use_cache] = torch.stack(steps)
        return out

    fast, naive = run(True), run(False)
    assert fast.shape == (2, length + 3)
    assert torch.equal(fast, naive)
    torch.testing.assert_close(seen[True], seen[False], rtol=1e-4, atol=1e-4)
    assert len(set(fast[0, 3:].tolist())) > 5  # a real sample, not a constant


def test_generation_is_reproducible_and_batched():
    torch.manual_seed(3)
    model = _scaled(WaveNet(16, 4, 8, layers_per_block=3, blocks=1))
    a = model.sample(3, length=50, generator=torch.Generator().manual_seed(0))
    b = model.sample(3, length=50, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == (3, 50)
    assert not torch.equal(a[0], a[1])


def test_amplitude_embedding_puts_every_code_in_its_place():
    from arbook.audio import mu_law_decode

    torch.manual_seed(0)
    model = WaveNet(256, 16, 32, layers_per_block=2, blocks=1)
    weight = model.embed.weight.detach()
    codes = torch.arange(256)
    assert torch.allclose(weight[:, 0], 2 * codes / 255 - 1)
    assert torch.allclose(weight[:, 1], 3 * mu_law_decode(codes))
    # both channels are monotone in the code, so neighbouring codes start close together
    assert (weight[:, :2].diff(dim=0) > 0).all()
    assert 0.05 < float(weight[:, 2:].std()) < 0.2
    assert model.config["amplitude_embedding"] is True
    torch.manual_seed(0)
    plain = WaveNet(256, 16, 32, layers_per_block=2, blocks=1, amplitude_embedding=False)
    assert not torch.allclose(plain.embed.weight[:, 0], weight[:, 0])
    one = WaveNet(3, 1, 4, layers_per_block=1, blocks=1)  # a single channel keeps the ramp
    assert torch.allclose(one.embed.weight[:, 0], torch.tensor([-1.0, 0.0, 1.0]))


def test_training_on_tones_beats_uniform():
    torch.manual_seed(0)
    clips = data.tones_data("train", num_clips=12, seconds=0.25)
    test = data.tones_data("test", num_clips=4, seconds=0.25)
    model = WaveNet(256, 16, 32, layers_per_block=5, blocks=1)
    history = fit(
        model,
        data.Windows(clips, 256),
        batch_size=8,
        lr=1e-2,
        max_steps=60,
        eval_every=30,
        patience=None,
        progress=False,
    )
    result = evaluate(model, test)
    assert result.num_dims == 2000
    # below the 8 bits of a uniform model, and the ~7.5 bits of the codes' marginal distribution,
    # after a few seconds of training
    assert result.bits_per_dim < 7.3, result
    assert history.val_nll[-1] < history.val_nll[0]
    # windows of 256 samples in training, whole clips of 2000 in validation: the curves in
    # bits per sample divide each by its own length, and so land close together
    assert (history.train_num_dims, history.num_dims) == (256, 2000)
    ax = plots.loss_curves(history, per_dim=True)
    train_bits, val_bits = (line.get_ydata()[-1] for line in ax.get_lines()[:2])
    assert 4 < val_bits < 7.3 and abs(train_bits - val_bits) < 1.0, (train_bits, val_bits)
    plt.close("all")


def test_checkpoint_round_trip(tmp_path):
    from arbook.checkpoint import load, save

    torch.manual_seed(4)
    model = _scaled(WaveNet(16, 4, 8, layers_per_block=3, blocks=2, length=100))
    path = save(model, tmp_path / "wavenet.pt")
    again = load(path)
    x = torch.randint(16, (2, 30))
    assert torch.equal(model.logits(x), again.logits(x))
    assert again.receptive_field == model.receptive_field
