"""Shared fixtures. ``TINY_MODELS`` lists every model the property tests run on: add a model's
tiny configurations here and it gets the causality, normalisation, sampling and validation
tests for free."""

from __future__ import annotations

import matplotlib
import pytest
import torch

from arbook import MADE, LogisticAR
from arbook.models import GPT, Bigram, CharRNN, GatedPixelCNN, PixelCNN, WaveNet

matplotlib.use("Agg")


def _made_multi():
    return MADE(4, [12, 12], num_masks=3, order="random", seed=1)


#: name -> factory of a freshly initialised tiny model (few positions and values, so every
#: possible input can be enumerated).
TINY_MODELS = {
    "logistic-binary": lambda: LogisticAR(4),
    "logistic-3-classes-ordered": lambda: LogisticAR(3, num_classes=3, order=[2, 0, 1]),
    "made-single": lambda: MADE(4, [16, 16], seed=0),
    "made-explicit-order": lambda: MADE(4, [10], order=[3, 1, 0, 2]),
    "made-random-order": lambda: MADE(5, [12], order="random", seed=2),
    "made-3-classes": lambda: MADE(3, [12, 12], num_classes=3, seed=3),
    "made-masks-natural": lambda: MADE(4, [12], num_masks=4, seed=4),
    "made-masks-random": _made_multi,
    "pixelcnn-2x2-3-levels": lambda: PixelCNN(
        3, (2, 2), channels=8, num_layers=2, first_kernel_size=3
    ),
    "pixelcnn-3x3-binary": lambda: PixelCNN(2, (3, 3), channels=8, num_layers=2),
    "gated-pixelcnn-2x2-3-levels": lambda: GatedPixelCNN(3, (2, 2), channels=8, num_layers=2),
    "gated-pixelcnn-3x3-binary-dilated": lambda: GatedPixelCNN(
        2, (3, 3), channels=8, num_layers=2, dilations=[1, 2]
    ),
    "rnn-3-symbols": lambda: CharRNN(3, 8, cell="rnn", length=4),
    "lstm-2-layers": lambda: CharRNN(3, 8, 2, cell="lstm", length=4),
    "gru-binary-5": lambda: CharRNN(2, 8, cell="gru", length=5),
    "lstm-stop-marker": lambda: CharRNN(3, 8, cell="lstm", length=4, stop_index=0),
    "gru-stop-marker": lambda: CharRNN(3, 8, 2, cell="gru", length=4, stop_index=2),
    "rnn-stop-marker": lambda: CharRNN(3, 8, cell="rnn", length=4, stop_index=1),
    "bigram-stop-marker": lambda: Bigram(3, length=4, stop_index=0),
    "gpt-3-symbols": lambda: GPT(3, block_size=4, num_layers=2, num_heads=2, embed_dim=8, length=4),
    "gpt-binary-sliding": lambda: GPT(
        2, block_size=3, num_layers=1, num_heads=2, embed_dim=8, length=5, stride=1
    ),
    "gpt-stop-marker": lambda: GPT(
        3, block_size=8, num_layers=1, num_heads=2, embed_dim=8, length=4, stop_index=0
    ),
    "wavenet-3-levels": lambda: WaveNet(3, 4, 6, layers_per_block=2, blocks=2, length=4),
    "wavenet-binary-kernel-3": lambda: WaveNet(
        2, 4, 6, layers_per_block=2, blocks=1, kernel_size=3, length=5
    ),
}


def pytest_addoption(parser):
    parser.addoption(
        "--book-html",
        metavar="PATH",
        default=None,
        help="check the built book at PATH in headless Chromium (tests/test_book_html.py); "
        "fails, instead of skipping, when PATH holds no build or no browser is installed",
    )


@pytest.fixture(params=sorted(TINY_MODELS), ids=sorted(TINY_MODELS))
def tiny_model(request):
    torch.manual_seed(0)
    model = TINY_MODELS[request.param]()
    # Larger weights than at initialisation, so conditionals are far from uniform and the
    # tests would notice a model whose probabilities are wrong.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    return model.eval()
