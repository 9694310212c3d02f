"""Recipes: which model reads which data set, and the models they build fit the data."""

from __future__ import annotations

import pytest
import torch

from arbook import recipes
from arbook.models import GPT, SequenceModel, WaveNet

IMAGE_SETS = [n for n, spec in recipes.DATASETS.items() if spec.kind == "image"]


def test_reads_follows_the_kinds():
    assert recipes.reads("made", "digits") and not recipes.reads("made", "names")
    assert recipes.reads("lstm", "shakespeare") and not recipes.reads("lstm", "tones")
    assert recipes.reads("wavenet", "tones") and not recipes.reads("wavenet", "names")
    for model in recipes.SEQUENCE_MODELS:
        for name in IMAGE_SETS:
            assert recipes.reads(model, name), (model, name)
    for model in ("made", "logistic", "pixelcnn", "gated-pixelcnn"):
        assert not recipes.reads(model, "tones")


@pytest.mark.parametrize("profile", ["quick", "full"])
@pytest.mark.parametrize("model_name", sorted(recipes.SEQUENCE_MODELS))
@pytest.mark.parametrize("dataset_name", ["digits", "fashion-mnist-binary"])
def test_sequence_models_on_images_see_the_whole_image(model_name, dataset_name, profile):
    spec = recipes.dataset(dataset_name)
    torch.manual_seed(0)
    model, fit_kwargs = recipes.recipe(model_name, dataset_name, profile)
    assert isinstance(model, SequenceModel)
    assert model.num_classes == spec.num_classes
    assert model.event_shape == (spec.num_dims,)
    if isinstance(model, WaveNet):  # the raster sequence fits in the receptive field
        assert model.receptive_field >= spec.num_dims
        assert model.config["amplitude_embedding"] is False  # grey levels are not mu-law codes
    if isinstance(model, GPT):  # and in one block: no sliding window within an image
        assert model.block_size >= spec.num_dims
    assert fit_kwargs["patience"] is not None  # early stopping on the validation images
    assert (fit_kwargs["max_seconds"] is None) == (profile == "full")


def test_load_split_gives_raster_sequences_to_sequence_models():
    images = recipes.load_split("pixelcnn", "digits", "test")
    sequences = recipes.load_split("gru", "digits", "test")
    assert images.shape == (360, 8, 8) and sequences.shape == (360, 64)
    assert torch.equal(sequences, images.flatten(1))
    assert torch.equal(recipes.load_split("made", "digits", "test"), sequences)


def test_a_pixel_sequence_model_is_causal_over_the_raster():
    from arbook import checks

    torch.manual_seed(0)
    for name in ("gpt", "wavenet", "gru"):
        model, _ = recipes.recipe(name, "digits")
        assert checks.causality_violations(model.eval()) == [], name


def test_wrong_pairs_are_clear_errors():
    with pytest.raises(ValueError, match="'pixelcnn' is an image model"):
        recipes.recipe("pixelcnn", "shakespeare")
    with pytest.raises(ValueError, match="read as a sequence of pixels"):
        recipes.recipe("gru", "tones")
