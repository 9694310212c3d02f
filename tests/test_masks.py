"""MADE degrees, masks and connectivity over random orders and sizes."""

from __future__ import annotations

import pytest
import torch

from arbook import masks as M


def _random_cases(count=40):
    g = torch.Generator().manual_seed(0)
    for case in range(count):
        d = int(torch.randint(2, 12, (1,), generator=g))
        layers = int(torch.randint(0, 4, (1,), generator=g))
        sizes = torch.randint(1, 20, (layers,), generator=g).tolist()
        order = torch.randperm(d, generator=g)
        yield case, d, sizes, order


@pytest.mark.parametrize(("case", "d", "sizes", "order"), list(_random_cases()))
@pytest.mark.parametrize("method", ["random", "sequential"])
def test_connectivity_is_strictly_triangular_in_the_order(case, d, sizes, order, method):
    degrees = M.made_degrees(
        d, sizes, order, generator=torch.Generator().manual_seed(case), method=method
    )
    masks = M.made_masks(degrees)
    assert len(masks) == len(sizes) + 1
    conn = M.connectivity(masks)
    assert conn.shape == (d, d)
    assert ((conn > 0) <= M.allowed(order)).all()
    # Reordered by the order, the connectivity is strictly lower triangular.
    reordered = conn[order][:, order]
    assert torch.equal(reordered, reordered.tril(-1))
    # Hidden degrees stay in [1, D-1]: a unit of degree D could feed no output.
    for hidden in degrees[1:]:
        assert hidden.min() >= 1 and hidden.max() <= d - 1


def test_no_hidden_layers_is_the_full_triangle():
    order = torch.tensor([2, 0, 3, 1])
    (mask,) = M.made_masks(M.made_degrees(4, [], order))
    assert torch.equal(mask.bool(), M.allowed(order))


def test_input_degrees_follow_the_order():
    assert M.input_degrees([2, 0, 1]).tolist() == [2, 3, 1]


def test_sequential_degrees_cover_every_dependency_with_wide_layers():
    masks = M.made_masks(M.made_degrees(6, [30, 30], method="sequential"))
    assert torch.equal(M.connectivity(masks) > 0, M.allowed(torch.arange(6)))


def test_connectivity_counts_paths():
    masks = [torch.tensor([[1.0, 0.0], [1.0, 0.0]]), torch.tensor([[0.0, 0.0], [1.0, 1.0]])]
    assert M.connectivity(masks).tolist() == [[0.0, 0.0], [2.0, 0.0]]


def test_degrees_reproducible_from_generator():
    a = M.made_degrees(8, [10, 10], generator=torch.Generator().manual_seed(3))
    b = M.made_degrees(8, [10, 10], generator=torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=False))


@pytest.mark.parametrize(
    ("order", "error", "match"),
    [
        ([0, 0, 1], ValueError, "permutation"),
        ([0, 1], ValueError, "shape"),
        ([0.0, 1.0, 2.0], TypeError, "integers"),
        ([0, 1, 3], ValueError, "permutation"),
    ],
)
def test_bad_orders(order, error, match):
    with pytest.raises(error, match=match):
        M.check_order(order, 3)


def test_bad_hidden_and_masks():
    with pytest.raises(ValueError, match="at least one unit"):
        M.made_degrees(4, [0])
    with pytest.raises(ValueError, match="degree method"):
        M.made_degrees(4, [3], method="magic")
    with pytest.raises(ValueError, match="do not chain"):
        M.connectivity([torch.ones(3, 2), torch.ones(2, 4)])


def test_causal_mask_and_expand():
    assert M.causal_mask(3).tolist() == [
        [True, False, False],
        [True, True, False],
        [True, True, True],
    ]
    assert M.causal_mask(3, strict=True).sum() == 3
    # two queries after three earlier positions: the last two rows of the square mask
    assert torch.equal(M.causal_mask(2, 5), M.causal_mask(5)[3:])
    assert torch.equal(M.causal_mask(2, 5, strict=True), M.causal_mask(5, strict=True)[3:])
    with pytest.raises(ValueError, match="queries <= keys"):
        M.causal_mask(3, 2)
    expanded = M.expand_mask(torch.tensor([[1.0, 0.0]]), out_repeat=2, in_repeat=3)
    assert expanded.tolist() == [[1, 1, 1, 0, 0, 0]] * 2


def test_masked_linear_has_zero_gradient_on_masked_weights():
    from arbook.layers import MaskedLinear

    layer = MaskedLinear(3, 2)
    layer.set_mask(torch.tensor([[1.0, 0.0, 1.0], [0.0, 0.0, 1.0]]))
    layer(torch.randn(5, 3)).sum().backward()
    assert (layer.weight.grad[layer.mask == 0] == 0).all()
    with pytest.raises(ValueError, match="does not match"):
        layer.set_mask(torch.ones(3, 3))
