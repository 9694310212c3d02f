"""MADE and the logistic model beyond the shared properties: orders, mask ensembles as exact
mixtures, order-agnostic training."""

from __future__ import annotations

import math

import pytest
import torch

from arbook import MADE, LogisticAR, checks
from arbook.chain_rule import all_values


def test_order_options():
    assert MADE(5, [8]).order.tolist() == [0, 1, 2, 3, 4]
    assert MADE(5, [8], order=[4, 3, 2, 1, 0]).order.tolist() == [4, 3, 2, 1, 0]
    random = MADE(6, [8], num_masks=5, order="random", seed=0)
    orders = {tuple(o) for o in random.orders.tolist()}
    assert len(orders) > 1, "each mask gets its own random order"
    for m in range(5):
        random.set_mask(m)
        assert sorted(random.order.tolist()) == list(range(6))


def test_same_seed_same_masks():
    a, b = (
        MADE(6, [8, 8], num_masks=3, order="random", seed=7),
        MADE(6, [8, 8], num_masks=3, order="random", seed=7),
    )
    assert torch.equal(a.orders, b.orders)
    assert all(torch.equal(x, y) for x, y in zip(a.masks(2), b.masks(2), strict=False))


def test_mixture_log_prob_is_log_mean_exp():
    torch.manual_seed(0)
    model = MADE(4, [12], num_masks=3, order="random", seed=1).eval()
    x = torch.randint(2, (6, 4))
    per_mask = model.log_prob_per_mask(x)
    assert per_mask.shape == (3, 6)
    expected = torch.log(per_mask.exp().mean(0))
    torch.testing.assert_close(model.log_prob(x), expected)
    assert model.mask_index == 0, "evaluating the mixture leaves the current mask in place"


def test_averaged_logits_would_not_be_normalised():
    """Why log_prob is a mixture: averaging the logits of different orders is no distribution."""
    torch.manual_seed(0)
    model = MADE(3, [16], num_masks=4, order="random", seed=0).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    everything = all_values(2, 3)
    logits = []
    for m in range(4):
        model.set_mask(m)
        logits.append(model.logits(everything))
    averaged = torch.stack(logits).mean(0).log_softmax(-1)
    total = averaged.gather(-1, everything.unsqueeze(-1)).squeeze(-1).sum(1).exp().sum()
    assert abs(total.item() - 1.0) > 1e-3
    assert checks.total_probability(model) == pytest.approx(1.0, abs=1e-6)


def test_training_cycles_masks():
    model = MADE(4, [8], num_masks=3, order="random")
    x = torch.randint(2, (5, 4))
    model.train()
    seen = []
    for _ in range(4):
        model.loss(x)
        seen.append(model.mask_index)
    assert seen == [1, 2, 0, 1]
    model.eval()
    torch.testing.assert_close(model.loss(x), -model.log_prob(x).mean())


def test_sampling_uses_every_mask():
    model = MADE(4, [8], num_masks=3, order="random", seed=0)
    model.sample(30, generator=torch.Generator().manual_seed(0))
    assert model.mask_index == 0


def test_logistic_is_made_without_hidden_layers():
    model = LogisticAR(5)
    assert len(model.hidden) == 0
    assert torch.equal(
        model.output.mask.bool(), torch.ones(5, 5).tril(-1).repeat_interleave(2, 0).bool()
    )
    assert model.config == {"num_inputs": 5, "num_classes": 2, "order": None}
    with pytest.raises(ValueError, match="permutation"):
        LogisticAR(3, order="random")


def test_multiclass_inputs_are_one_hot():
    model = MADE(3, [6], num_classes=4)
    assert model.features(torch.tensor([[0, 3, 1]])).shape == (1, 3, 4)
    assert model.hidden[0].in_features == 12


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_inputs": 0, "hidden_sizes": [4]}, "num_inputs"),
        ({"num_inputs": 4, "hidden_sizes": [0]}, "hidden sizes"),
        ({"num_inputs": 4, "hidden_sizes": [4], "num_masks": 0}, "num_masks"),
        ({"num_inputs": 4, "hidden_sizes": [4], "num_classes": 1}, "num_classes"),
        ({"num_inputs": 4, "hidden_sizes": [4], "order": "shuffled"}, "order"),
        ({"num_inputs": 4, "hidden_sizes": [4], "order": [0, 1, 2]}, "shape"),
        (
            {"num_inputs": 3, "hidden_sizes": [4], "num_masks": 3, "order": [[0, 1, 2]] * 2},
            "one order per mask: got 2 orders for 3 masks",
        ),
        (
            {"num_inputs": 3, "hidden_sizes": [4], "num_masks": 2, "order": [[0, 1, 2], [0, 0, 1]]},
            "permutation",
        ),
        ({"num_inputs": 4, "hidden_sizes": [4], "dropout": 1.0}, "dropout"),
    ],
)
def test_bad_configuration(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MADE(**kwargs)


def test_dropout_only_in_training():
    torch.manual_seed(0)
    model = MADE(6, [32], dropout=0.5)
    x = torch.randint(2, (4, 6))
    model.eval()
    torch.testing.assert_close(model.log_prob(x), model.log_prob(x))
    model.train()
    assert not torch.equal(model.logits(x), model.logits(x))


def test_nll_units():
    model = MADE(4, [8]).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    x = torch.randint(2, (3, 4))
    torch.testing.assert_close(model.log_prob(x), torch.full((3,), -4 * math.log(2)))


def test_parameter_count_excludes_masked_weights():
    model = LogisticAR(5)
    # Two logits per variable, each with a bias and weights on the earlier variables.
    assert model.num_parameters() == 2 * (5 * 4 // 2 + 5)
    made = MADE(4, [6])
    kept = int(made.hidden[0].mask.sum() + made.output.mask.sum())
    assert made.num_parameters() == kept + 6 + 8


def test_cached_masks_follow_loaded_degrees():
    a = MADE(5, [7], num_masks=2, order="random", seed=0)
    b = MADE(5, [7], num_masks=2, order="random", seed=1)
    a.set_mask(0)
    _ = a._layer_masks(1)  # cached from a's own degrees
    b.set_mask(1)
    a.load_state_dict(b.state_dict())  # b's degrees, and b's current mask set
    assert a.mask_index == 1 and torch.equal(a.output.mask, b._layer_masks(1)[-1])
    for m in (0, 1):
        a.set_mask(m)
        b.set_mask(m)
        assert torch.equal(a.output.mask, b.output.mask) and torch.equal(
            a.hidden[0].mask, b.hidden[0].mask
        )
        assert torch.equal(a.order, b.order)


def test_one_order_per_mask():
    from arbook import checks

    orders = [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 1, 3]]
    model = MADE(5, [16], num_masks=3, order=orders, seed=0).eval()
    assert model.orders.tolist() == orders
    assert model.config["order"] == orders
    for m, order in enumerate(orders):
        model.set_mask(m)
        assert model.order.tolist() == order
        assert checks.causality_violations(model) == []
    model.set_mask(0)
    assert abs(checks.total_probability(model) - 1) < 1e-5
    # one permutation still means the same order for every mask
    same = MADE(5, [16], num_masks=2, order=[1, 0, 2, 3, 4])
    assert same.orders.tolist() == [[1, 0, 2, 3, 4]] * 2
    assert same.config["order"] == [1, 0, 2, 3, 4]


def test_one_order_per_mask_survives_a_checkpoint(tmp_path):
    from arbook import load, save

    orders = [[0, 1, 2, 3], [3, 1, 0, 2]]
    model = MADE(4, [8], num_masks=2, order=orders, seed=0).eval()
    back = load(save(model, tmp_path / "made.pt")).eval()
    assert back.orders.tolist() == orders
    x = torch.randint(2, (6, 4))
    torch.testing.assert_close(back.log_prob(x), model.log_prob(x))
