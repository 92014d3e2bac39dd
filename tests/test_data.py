"""Tests of bridge_diffusers.data: the offline photo corpus, splits by image and the crop datasets."""

import importlib.util
import json
import logging
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from bridge_diffusers.data import (
    FixedCropDataset,
    PairedImageDataset,
    PhotoSource,
    RandomCropDataset,
    describe_sources,
    get_offline_photos,
    list_offline_photos,
    load_image_dataset,
    load_offline_photo,
    offline_photo_split,
    split_by_image,
    synthetic_photo,
    synthetic_photos,
    validation_count,
)
from bridge_diffusers.data import photos as photos_module


PACKAGE_PHOTOS = {
    "skimage": [
        "skimage/astronaut",
        "skimage/chelsea",
        "skimage/coffee",
        "skimage/rocket",
        "skimage/motorcycle_left",
        "skimage/motorcycle_right",
    ],
    "sklearn": ["sklearn/china", "sklearn/flower"],
    "matplotlib": ["matplotlib/grace_hopper"],
}


def _installed(package: str) -> bool:
    return importlib.util.find_spec(package) is not None


def _random_image(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _fake_sources(names):
    return [PhotoSource(name, "test", "none", path=f"/nonexistent/{name}.png") for name in names]


# ---------------------------------------------------------------------------------------------------------------
# Offline photo corpus
# ---------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("package", sorted(PACKAGE_PHOTOS))
def test_offline_corpus_lists_and_loads_package_photos(package, monkeypatch, tmp_path):
    if not _installed(package):
        pytest.skip(f"{package} is not installed, so its sample photos cannot be listed")
    monkeypatch.setenv(photos_module.MATE_DIR_ENV, str(tmp_path / "absent"))
    sources = {source.name: source for source in list_offline_photos()}
    for name in PACKAGE_PHOTOS[package]:
        assert name in sources, f"{name} missing from {sorted(sources)}"
        source = sources[name]
        assert source.path is not None and source.license and not source.synthetic
        image = load_offline_photo(source)
        assert image.mode == "RGB"
        # The smallest photos are chelsea (451 x 300) and china / flower / rocket (640 x 427).
        assert min(image.size) >= 256, (name, image.size)


def test_offline_corpus_reads_mate_nature_folder(monkeypatch, tmp_path):
    nature = tmp_path / "mate" / "nature"
    nature.mkdir(parents=True)
    Image.fromarray(_random_image(0, 20, 30)).save(nature / "Forest.jpg")
    Image.fromarray(_random_image(1, 20, 30)).save(nature / "Lake.png")
    (nature / "README").write_text("not an image")
    # The package's top folder is accepted; only its nature/ sub-folder is read.
    monkeypatch.setenv(photos_module.MATE_DIR_ENV, str(tmp_path / "mate"))
    mate = [source for source in list_offline_photos() if source.package == "mate-backgrounds"]
    assert [source.name for source in mate] == ["mate/Forest", "mate/Lake"]
    assert load_offline_photo(mate[0]).size == (30, 20)


def test_offline_corpus_reads_gradio_assets_when_present(monkeypatch, tmp_path):
    # gradio is optional and not installed here: fake its package folder.
    images = tmp_path / "gradio" / "media_assets" / "images"
    images.mkdir(parents=True)
    Image.fromarray(_random_image(0, 20, 30)).save(images / "cheetah.jpg")
    Image.fromarray(_random_image(1, 20, 30)).save(images / "lion.png")
    Image.fromarray(_random_image(2, 20, 30)).save(images / "logo.png")  # artwork, not listed
    monkeypatch.setattr(photos_module, "_package_dir", lambda package: str(tmp_path / package))
    monkeypatch.setenv(photos_module.MATE_DIR_ENV, str(tmp_path / "absent"))
    assert [source.name for source in list_offline_photos()] == ["gradio/cheetah", "gradio/lion"]


def test_offline_split_is_disjoint_stable_and_complete():
    sources = get_offline_photos()
    train, val = offline_photo_split(0.25, seed=0, sources=sources)
    train_names, val_names = {s.name for s in train}, {s.name for s in val}
    assert train_names and val_names
    assert not train_names & val_names
    assert train_names | val_names == {s.name for s in sources}
    # Stable across calls and independent of the input order.
    again = offline_photo_split(0.25, seed=0, sources=list(reversed(sources)))
    assert {s.name for s in again[1]} == val_names
    assert {s.name for s in offline_photo_split(0.25, seed=0)[1]} == val_names


def test_split_keeps_groups_together_and_guarantees_both_sides():
    sources = _fake_sources(["a/1", "a/2", "b", "c", "d"])
    grouped = [
        PhotoSource(s.name, s.package, s.license, path=s.path, group="a" if s.name[0] == "a" else "") for s in sources
    ]
    for seed in range(20):
        train, val = offline_photo_split(0.5, seed=seed, sources=grouped)
        sides = {s.name: ("train" if s in train else "val") for s in grouped}
        assert sides["a/1"] == sides["a/2"]
        assert train and val
    two = _fake_sources(["x", "y"])
    for fraction in (0.01, 0.25, 0.99):
        train, val = split_by_image(two, fraction)
        assert len(train) == len(val) == 1
    assert split_by_image(two, 0.0) == (two, [])
    assert validation_count(1, 0.5) == 0 and validation_count(10, 0.25) == 2 and validation_count(3, 0.9) == 2
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        split_by_image(two, 1.0)


def test_split_by_image_on_hf_dataset_by_row_and_by_group():
    datasets = pytest.importorskip("datasets")
    rows = datasets.Dataset.from_dict({"photo": ["p0", "p0", "p1", "p1", "p2", "p3"], "value": list(range(6))})
    train, val = split_by_image(rows, 0.34, seed=1)
    assert len(train) + len(val) == 6 and len(val) == 2
    assert not set(train["value"]) & set(val["value"])
    train, val = split_by_image(rows, 0.5, seed=1, key="photo")
    assert not set(train["photo"]) & set(val["photo"])
    assert len(set(val["photo"])) == 2
    with pytest.raises(ValueError, match=r"available columns: \['photo', 'value'\]"):
        split_by_image(rows, 0.5, key="scene")


def test_synthetic_fallback_is_used_and_announced(monkeypatch, caplog):
    monkeypatch.setattr(photos_module, "list_offline_photos", lambda mate_dir=None: [])
    with caplog.at_level(logging.WARNING, logger="bridge_diffusers.data.photos"):
        sources = get_offline_photos(synthetic_count=4)
    assert "SYNTHETIC" in caplog.text
    assert len(sources) == 4 and all(source.synthetic for source in sources)
    assert "synthetic" in describe_sources(sources)
    train, val = offline_photo_split(0.25)
    assert len(train) == 6 and len(val) == 2 and all(s.synthetic for s in train + val)
    dataset = RandomCropDataset(train, 64, samples_per_epoch=2)
    assert "synthetic" in dataset.source_description
    assert dataset[0]["pixel_values"].shape == (3, 64, 64)
    with pytest.raises(RuntimeError, match="fewer than"):
        get_offline_photos(allow_synthetic=False)


def test_synthetic_photo_is_seeded_rgb():
    first, again, other = synthetic_photo(3, (96, 64)), synthetic_photo(3, (96, 64)), synthetic_photo(4, (96, 64))
    assert first.mode == "RGB" and first.size == (96, 64)
    assert np.array_equal(np.asarray(first), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(other))
    # Photo-like: many distinct colours, not a flat image.
    assert np.asarray(first).std() > 10
    source = synthetic_photos(1, size=(96, 64), seed=3)[0]
    assert np.array_equal(np.asarray(load_offline_photo(source)), np.asarray(first))


# ---------------------------------------------------------------------------------------------------------------
# Crop datasets
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def images():
    return [Image.fromarray(_random_image(seed, 120, 160)) for seed in range(3)]


def test_random_crops_shape_range_and_determinism(images):
    dataset = RandomCropDataset(images, 48, seed=7)
    assert len(dataset) == 3000
    item = dataset[5]["pixel_values"]
    assert item.shape == (3, 48, 48) and item.dtype == torch.float32
    assert item.min() >= -1 and item.max() <= 1
    assert torch.equal(item, RandomCropDataset(images, 48, seed=7)[5]["pixel_values"])
    assert not torch.equal(item, dataset[8]["pixel_values"])  # same image, another crop
    assert not torch.equal(item, RandomCropDataset(images, 48, seed=8)[5]["pixel_values"])
    dataset.set_epoch(1)
    assert not torch.equal(item, dataset[5]["pixel_values"])
    # Without flips, the crop is a slice of the image, rescaled to [-1, 1].
    item = RandomCropDataset(images, 48, random_flip=False, seed=7)[5]["pixel_values"]
    array = np.asarray(images[5 % 3]).transpose(2, 0, 1)
    windows = np.lib.stride_tricks.sliding_window_view(array, (3, 48, 48))[0]
    target = ((item + 1) * 127.5).round().to(torch.uint8).numpy()
    assert (windows == target).all(axis=(-3, -2, -1)).any()


def test_random_crops_flip(images):
    flipped = RandomCropDataset(images, 32, samples_per_epoch=20, random_flip=True, seed=3)
    plain = RandomCropDataset(images, 32, samples_per_epoch=20, random_flip=False, seed=3)
    outcomes = set()
    for index in range(20):
        a, b = flipped[index]["pixel_values"], plain[index]["pixel_values"]
        if torch.equal(a, b):
            outcomes.add("kept")
        else:
            assert torch.equal(a, b.flip(-1))
            outcomes.add("flipped")
    assert outcomes == {"kept", "flipped"}


def test_small_image_is_enlarged_and_scale_range_zooms_out():
    ramp = np.repeat(np.linspace(0, 255, 24, dtype=np.uint8)[None, :, None], 3, axis=2)
    ramp = np.repeat(ramp, 16, axis=0)  # 16 x 24, smaller than the crop
    crop = FixedCropDataset([ramp], 32)[0]["pixel_values"]
    assert crop.shape == (3, 32, 32)
    assert (crop[:, :, 1:] >= crop[:, :, :-1] - 1e-6).all()  # still the rising ramp, no padding

    halves = np.zeros((256, 256, 3), dtype=np.uint8)
    halves[:, 128:] = 255
    # At scale 1/8 the 32-pixel crop covers the whole 256-pixel image: both halves show.
    zoomed = RandomCropDataset([halves], 32, random_flip=False, scale_range=(0.125, 0.125))[0]["pixel_values"]
    assert zoomed.shape == (3, 32, 32)
    assert zoomed[:, :, :8].max() < -0.9 and zoomed[:, :, -8:].min() > 0.9
    with pytest.raises(ValueError, match="scale_range"):
        RandomCropDataset([halves], 32, scale_range=(0.5, 0.25))


def test_fixed_crops_are_deterministic_and_spread():
    array = _random_image(0, 64, 64)
    dataset = FixedCropDataset([array, array], 32, crops_per_image=4)
    assert len(dataset) == 8
    crops = [dataset[index]["pixel_values"] for index in range(4)]
    expected = [array[top : top + 32, left : left + 32] for top in (0, 32) for left in (0, 32)]
    for crop, quadrant in zip(crops, expected, strict=True):
        assert torch.allclose(
            crop, torch.from_numpy(quadrant.transpose(2, 0, 1).astype(np.float32)) / 127.5 - 1, atol=1e-6
        )
    centre = FixedCropDataset([array], 32)[0]["pixel_values"]
    assert torch.equal(((centre + 1) * 127.5).round().byte(), torch.from_numpy(array[16:48, 16:48].transpose(2, 0, 1)))
    with pytest.raises(IndexError):
        dataset[8]


def test_dataloader_workers_reproduce_single_process_batches():
    sources = get_offline_photos()[:3]

    def make_dataset():
        return RandomCropDataset(sources, 64, samples_per_epoch=8, scale_range=(0.5, 1.0), seed=11)

    # Pickled copies (spawned workers) leave the decoded photos behind and decode them again.
    preloaded = make_dataset().preload()
    payload = pickle.dumps(preloaded)
    assert len(payload) < 100_000
    assert torch.equal(pickle.loads(payload)[3]["pixel_values"], preloaded[3]["pixel_values"])

    def batches(num_workers):
        # A fresh dataset each time, so that the workers decode the photos themselves.
        loader = DataLoader(
            make_dataset(),
            batch_size=4,
            shuffle=True,
            num_workers=num_workers,
            generator=torch.Generator().manual_seed(0),
        )
        return [batch["pixel_values"] for batch in loader]

    single, parallel = batches(0), batches(2)
    assert len(single) == len(parallel) == 2
    for a, b in zip(single, parallel, strict=True):
        assert torch.equal(a, b)


# ---------------------------------------------------------------------------------------------------------------
# Hugging Face datasets and paired data
# ---------------------------------------------------------------------------------------------------------------


def test_load_image_dataset_from_local_folder(tmp_path):
    pytest.importorskip("datasets")
    folder = tmp_path / "images"
    folder.mkdir()
    for index in range(3):
        Image.fromarray(_random_image(index, 24, 40)).save(folder / f"{index}.png")
    dataset = load_image_dataset(train_data_dir=folder, cache_dir=tmp_path / "cache")
    assert len(dataset) == 3 and dataset.column_names == ["image"]
    assert dataset[0]["image"].size == (40, 24)
    with pytest.raises(ValueError, match=r"available columns: \['image'\]"):
        load_image_dataset(train_data_dir=folder, image_column="target", cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=r"'conditioning_image'.*available columns: \['image'\]"):
        load_image_dataset(
            train_data_dir=folder, conditioning_image_column="conditioning_image", cache_dir=tmp_path / "cache"
        )
    with pytest.raises(ValueError, match="exactly one"):
        load_image_dataset()
    with pytest.raises(ValueError, match="not an existing folder"):
        load_image_dataset(train_data_dir=tmp_path / "missing")


def test_load_image_dataset_from_hub_name_calls_load_dataset(monkeypatch):
    datasets = pytest.importorskip("datasets")
    calls = []

    def fake_load_dataset(*args, **kwargs):
        calls.append((args, kwargs))
        return datasets.Dataset.from_dict({"photo": ["a"], "edges": ["b"]})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    dataset = load_image_dataset("user/pairs", image_column="photo", conditioning_image_column="edges", split="test")
    assert dataset.column_names == ["photo", "edges"]
    assert calls == [(("user/pairs", None), {"split": "test", "cache_dir": None})]
    with pytest.raises(ValueError, match=r"available columns: \['photo', 'edges'\]"):
        load_image_dataset("user/pairs")


def test_paired_imagefolder_crops_stay_aligned(tmp_path):
    pytest.importorskip("datasets")
    (tmp_path / "clean").mkdir()
    (tmp_path / "degraded").mkdir()
    lines = []
    for index in range(2):
        target = _random_image(index, 48, 64)
        Image.fromarray(target).save(tmp_path / "clean" / f"{index}.png")
        Image.fromarray(255 - target).save(tmp_path / "degraded" / f"{index}.png")  # source = 1 - target
        lines.append(
            json.dumps({"file_name": f"clean/{index}.png", "conditioning_image_file_name": f"degraded/{index}.png"})
        )
    (tmp_path / "metadata.jsonl").write_text("\n".join(lines) + "\n")
    rows = load_image_dataset(
        train_data_dir=tmp_path, conditioning_image_column="conditioning_image", cache_dir=tmp_path / "cache"
    )
    assert sorted(rows.column_names) == ["conditioning_image", "image"]

    for scale_range in (None, (0.6, 1.0)):
        dataset = PairedImageDataset(
            rows, 32, conditioning_image_column="conditioning_image", scale_range=scale_range, samples_per_epoch=12
        )
        assert "imagefolder" in dataset.source_description
        for index in range(12):
            item = dataset[index]
            clean, source = item["pixel_values"], item["conditioning_pixel_values"]
            assert clean.shape == source.shape == (3, 32, 32)
            # In [-1, 1], 255 - x is -x; resampling may round the two images one level apart.
            assert (clean + source).abs().max() <= 2 / 127.5 + 1e-6
    centre = PairedImageDataset(rows, 32, conditioning_image_column="conditioning_image", random_crop=False)[0]
    expected = torch.from_numpy(_random_image(0, 48, 64)[8:40, 16:48].transpose(2, 0, 1).astype(np.float32))
    assert torch.allclose(centre["pixel_values"], expected / 127.5 - 1, atol=1e-6)


def test_paired_rows_with_smaller_source_are_resized():
    rows = [{"image": Image.fromarray(_random_image(0, 64, 64)), "lowres": Image.fromarray(_random_image(1, 16, 16))}]
    item = PairedImageDataset(rows, 32, conditioning_image_column="lowres")[0]
    assert item["conditioning_pixel_values"].shape == (3, 32, 32)
    with pytest.raises(ValueError, match=r"available columns: \['image', 'lowres'\]"):
        PairedImageDataset(rows, 32, conditioning_image_column="degraded")[0]


def test_side_by_side_images_are_split_into_source_and_target():
    a, b = _random_image(0, 32, 32), _random_image(1, 32, 32)
    rows = [{"image": Image.fromarray(np.concatenate([a, b], axis=1))}]

    def as_uint8(tensor):
        return ((tensor + 1) * 127.5).round().byte().numpy().transpose(1, 2, 0)

    item = PairedImageDataset(rows, 32, side_by_side=True, random_crop=False)[0]
    assert np.array_equal(as_uint8(item["conditioning_pixel_values"]), a)  # A, on the left, is the source
    assert np.array_equal(as_uint8(item["pixel_values"]), b)
    swapped = PairedImageDataset(rows, 32, side_by_side=True, source_side="right", random_crop=False)[0]
    assert np.array_equal(as_uint8(swapped["conditioning_pixel_values"]), b)
    # Random crops and flips cut both halves identically.
    cropped = PairedImageDataset(rows, 16, side_by_side=True, samples_per_epoch=8, seed=2)
    for index in range(8):
        item = cropped[index]
        source, target = as_uint8(item["conditioning_pixel_values"]), as_uint8(item["pixel_values"])
        matches = [
            (top, left, flip)
            for top in range(17)
            for left in range(17)
            for flip in (False, True)
            if np.array_equal(source, (a[top : top + 16, left : left + 16])[:, :: -1 if flip else 1])
        ]
        assert len(matches) == 1
        top, left, flip = matches[0]
        assert np.array_equal(target, b[top : top + 16, left : left + 16][:, :: -1 if flip else 1])

    odd = [{"image": Image.fromarray(_random_image(2, 32, 65))}]
    with pytest.raises(ValueError, match="even width"):
        PairedImageDataset(odd, 32, side_by_side=True)[0]
    with pytest.raises(ValueError, match="not both or neither"):
        PairedImageDataset(rows, 32, side_by_side=True, conditioning_image_column="image")
    with pytest.raises(ValueError, match="source_side"):
        PairedImageDataset(rows, 32, side_by_side=True, source_side="top")
