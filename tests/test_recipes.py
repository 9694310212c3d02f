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
    r = recipes.recipe(model_name, dataset_name, profile)
    model = r.build()
    assert isinstance(model, SequenceModel)
    assert model.num_classes == spec.num_classes
    assert model.event_shape == (spec.num_dims,)
    if isinstance(model, WaveNet):  # the raster sequence fits in the receptive field
        assert model.receptive_field >= spec.num_dims
        assert model.config["amplitude_embedding"] is False  # grey levels are not mu-law codes
    if isinstance(model, GPT):  # and in one block: no sliding window within an image
        assert model.block_size >= spec.num_dims
    assert r.fit.patience is not None  # early stopping on the validation images


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
        model = recipes.recipe(name, "digits").build()
        assert checks.causality_violations(model.eval()) == [], name


def test_wrong_pairs_are_clear_errors():
    with pytest.raises(ValueError, match="'pixelcnn' is an image model"):
        recipes.recipe("pixelcnn", "shakespeare")
    with pytest.raises(ValueError, match="read as a sequence of pixels"):
        recipes.recipe("gru", "tones")


def _every_recipe():
    for model_name in recipes.MODELS:
        for dataset_name in recipes.DATASETS:
            if recipes.reads(model_name, dataset_name):
                for profile in ("quick", "full"):
                    yield model_name, dataset_name, profile


def test_every_pair_the_command_line_accepts_has_one_recipe():
    pairs = list(_every_recipe())
    assert len(pairs) == 2 * (4 * 4 + 3 * 6 + 6 + 5)  # profiles x (image, RNN, GPT, WaveNet pairs)
    rows = {recipes._data_key(recipes.dataset(d)) for _, d, _ in pairs}
    assert rows == {"8x8 images", "28x28 images", "names", "shakespeare", "tones"}
    assert {(m, recipes._data_key(recipes.dataset(d)), p) for m, d, p in pairs} == set(
        recipes.RECIPES
    )


def test_budgets_are_steps_or_epochs_never_seconds():
    """The same recipe trains to the same weights on any machine: no row has a time limit, and
    every row ends after a bounded number of steps."""
    for row, entry in recipes.RECIPES.items():
        assert entry.fit.max_seconds is None, row
        assert entry.fit.max_epochs < 10**4 or entry.fit.max_steps is not None, row


def test_a_recipe_builds_its_model_and_loads_its_data():
    r = recipes.recipe("gpt", "shakespeare", "quick")
    torch.manual_seed(0)
    model = r.build()
    assert isinstance(model, GPT) and r.window == model.block_size == 64
    train, test = r.load("train"), r.load("test")
    assert train.length == 64 and test.shape[1] == 64
    assert "2,000 steps" in str(r) and r.fit.max_seconds is None
    torch.manual_seed(0)
    again = r.build()  # a fresh model every time, initialised by the global generator
    assert again is not model
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), again.parameters(), strict=True)
    )
    made = recipes.recipe("made", "digits-binary", "quick")
    assert "at most 3,000 epochs, stopping early after 30 validations" in made.budget
    assert made.load("train").shape == (1437, 64)
    ensemble = recipes.recipe("made", "digits-binary", num_masks=4).build()
    assert ensemble.num_masks == 4
    with pytest.raises(ValueError, match="takes no option"):
        recipes.recipe("gpt", "shakespeare", num_masks=4)
