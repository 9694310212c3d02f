"""The chain rule on toy joint tables: conditionals from the joint and back, exactly."""

from __future__ import annotations

import itertools

import pytest
import torch

from arbook import chain_rule as cr


@pytest.mark.parametrize("order", [None, [2, 0, 3, 1], [3, 2, 1, 0]])
def test_conditionals_multiply_back_to_the_joint(order):
    joint = cr.random_joint(4, 3, seed=0)
    tables = cr.conditionals(joint, order)
    assert [t.shape for t in tables] == [torch.Size([3] * (i + 1)) for i in range(4)]
    for table in tables:
        torch.testing.assert_close(table.sum(-1), torch.ones(table.shape[:-1], dtype=torch.float64))
    torch.testing.assert_close(cr.joint_from_conditionals(tables, order), joint, atol=1e-15, rtol=0)


def test_conditional_values_by_definition():
    joint = cr.random_joint(3, 2, seed=1)
    tables = cr.conditionals(joint, [1, 2, 0])
    # p(x0 | x1, x2) = p(x0, x1, x2) / p(x1, x2)
    for x0, x1, x2 in itertools.product(range(2), repeat=3):
        expected = joint[x0, x1, x2] / joint[:, x1, x2].sum()
        assert tables[2][x1, x2, x0] == pytest.approx(expected.item(), rel=1e-12)


def test_zero_probability_prefix_gets_a_uniform_conditional():
    joint = torch.zeros(2, 2, dtype=torch.float64)
    joint[0] = torch.tensor([0.3, 0.7])
    tables = cr.conditionals(joint)
    assert tables[1][1].tolist() == [0.5, 0.5]
    torch.testing.assert_close(cr.joint_from_conditionals(tables), joint)


def test_all_values_match_table_indexing():
    values = cr.all_values(3, 4)
    assert values.shape == (81, 4)
    joint = cr.random_joint(4, 3, seed=2)
    torch.testing.assert_close(joint[tuple(values.T)], joint.flatten())
    assert cr.all_values(2, (2, 2)).shape == (16, 2, 2)
    with pytest.raises(ValueError, match="too many"):
        cr.all_values(17, 64)


def test_table_sizes_add_up_to_the_joint():
    sizes = cr.table_sizes(5, 3)
    assert sizes["joint"] == 3**5 - 1
    assert sum(v for k, v in sizes.items() if k != "joint") == sizes["joint"]


def test_bad_joints():
    with pytest.raises(ValueError, match="sum to 1"):
        cr.conditionals(torch.ones(2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="negative"):
        cr.check_joint(torch.tensor([1.5, -0.5]))
    with pytest.raises(ValueError, match="shape"):
        cr.check_joint(torch.ones(2, 3) / 6)
    with pytest.raises(ValueError, match="at least"):
        cr.random_joint(0, 2)
