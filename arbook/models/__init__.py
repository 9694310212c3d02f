"""The models of arbook. Every one follows the contract in :mod:`arbook.models.base`."""

from arbook.models.base import AutoregressiveModel
from arbook.models.gpt import GPT
from arbook.models.logistic import LogisticAR
from arbook.models.made import MADE
from arbook.models.pixelcnn import GatedPixelCNN, PixelCNN
from arbook.models.rnn import Bigram, CharRNN
from arbook.models.sequence import SequenceModel
from arbook.models.wavenet import WaveNet

#: Model classes by name, for checkpoints.
REGISTRY: dict[str, type[AutoregressiveModel]] = {
    cls.__name__: cls
    for cls in (
        MADE,
        LogisticAR,
        PixelCNN,
        GatedPixelCNN,
        CharRNN,
        Bigram,
        WaveNet,
        GPT,
    )
}

__all__ = [
    "GPT",
    "MADE",
    "REGISTRY",
    "AutoregressiveModel",
    "Bigram",
    "CharRNN",
    "GatedPixelCNN",
    "LogisticAR",
    "PixelCNN",
    "SequenceModel",
    "WaveNet",
]
