"""Tests of bridge_diffusers.data: the photo folder, splits by image and the crop datasets."""

import json
import os
import pickle
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from bridge_diffusers.data import (
    PHOTOS_DIR_ENV,
    FixedCropDataset,
    PairedImageDataset,
    PhotoSource,
    RandomCropDataset,
    describe_sources,
    list_photos,
    load_image_dataset,
    load_photo,
    photos_dir,
    split_by_image,
    split_photos,
    validation_count,
)
from photo_folder import PHOTOS, REPO


# The held-out photos of the default corpus (seed 0, fraction 0.25), as the shipped pipelines' cards list them.
HELD_OUT = ["gradio/tower", "mate/Aqua", "mate/Dune", "mate/GreenMeadow", "skimage/rocket", "sklearn/china"]


def _random_image(seed: int, height: int, width: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def _fake_sources(names, groups=None):
    return [PhotoSource(name, f"/nonexistent/{name}.png", group=(groups or {}).get(name, "")) for name in names]


def _photo_folder(root, names, size=(20, 30)):
    for index, name in enumerate(names):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_random_image(index, *size)).save(root / name)
    return root


# ---------------------------------------------------------------------------------------------------------------
# The photo folder
# ---------------------------------------------------------------------------------------------------------------


def test_photo_folder_lists_its_images_with_their_metadata(tmp_path):
    root = _photo_folder(tmp_path / "photos", ["b.png", "a/left.jpg", "a/right.png", "a/deep/x.webp"], (20, 30))
    (root / "notes.txt").write_text("not an image")
    rows = [
        {"file_name": "a/left.jpg", "group": "a/pair", "source": "camera 1", "license": "CC0"},
        {"file_name": "a/right.png", "name": "a/right-view", "group": "a/pair", "license": "CC0"},
    ]
    (root / "metadata.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows) + "\n")
    sources = list_photos(root)
    assert [s.name for s in sources] == ["a/deep/x", "a/left", "a/right-view", "b"]
    assert [s.group for s in sources] == ["a/deep/x", "a/pair", "a/pair", "b"]
    assert sources[1].source == "camera 1" and sources[1].license == sources[2].license == "CC0"
    assert sources[0].license == ""  # not in metadata.jsonl
    image = load_photo(sources[3])
    assert image.mode == "RGB" and image.size == (30, 20)
    assert describe_sources(sources) == "4 photos (a: 3, .: 1)"


def test_missing_photo_folder_says_how_to_fetch_it(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"bash scripts/fetch_photos\.sh"):
        list_photos(tmp_path / "nothing")
    monkeypatch.delenv(PHOTOS_DIR_ENV, raising=False)
    assert str(photos_dir()) == "photos"
    monkeypatch.setenv(PHOTOS_DIR_ENV, str(tmp_path / "mine"))
    assert photos_dir() == tmp_path / "mine" and photos_dir("other") == Path("other")


def test_split_photos_is_disjoint_stable_and_keeps_groups_together(tmp_path):
    root = _photo_folder(tmp_path / "photos", [f"p{i}.png" for i in range(8)], (8, 8))
    train, held_out = split_photos(root, 0.25, seed=0)
    assert len(train) == 6 and len(held_out) == 2
    assert not {s.name for s in train} & {s.name for s in held_out}
    # a list of sources splits as its folder does, in any order
    assert split_photos(list(reversed(list_photos(root))), 0.25, seed=0)[1] == held_out
    grouped = _fake_sources(["a/1", "a/2", "b", "c", "d"], {"a/1": "a", "a/2": "a"})
    for seed in range(20):
        train, val = split_photos(grouped, 0.5, seed=seed)
        assert train and val
        assert ({"a/1", "a/2"} <= {s.name for s in train}) or ({"a/1", "a/2"} <= {s.name for s in val})
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


def test_fetch_photos_writes_the_corpus_with_licences_and_the_shipped_split(tmp_path):
    """scripts/fetch_photos.sh from the installed packages (or their wheels) and mate-backgrounds (apt, cached)."""
    out = tmp_path / "photos"
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", "") or str(REPO / ".venv" / "bin" / "python")}
    if not os.access(env["PYTHON"], os.X_OK):
        env.pop("PYTHON")
    done = subprocess.run(["bash", str(REPO / "scripts" / "fetch_photos.sh"), str(out)], env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0:
        pytest.skip(f"fetch_photos.sh could not fetch every source here: {done.stdout}{done.stderr}")
    sources = list_photos(out)
    assert len(sources) == 25 and all(s.license and s.source for s in sources)
    assert describe_sources(sources) == "25 photos (gradio: 4, mate: 12, matplotlib: 1, skimage: 6, sklearn: 2)"
    groups = {s.name: s.group for s in sources}
    assert groups["skimage/motorcycle_left"] == groups["skimage/motorcycle_right"] == "skimage/motorcycle"
    assert [s.name for s in split_photos(out)[1]] == HELD_OUT
    readme = (out / "README.md").read_text()
    assert all(f"`{s.name}." in readme for s in sources) and "GPL-2+" in readme and "CC BY 2.0" in readme
    assert (out / "mate" / "copyright").is_file()
    # Byte for byte what the packages ship: the repository's folder holds the same files (from the same versions).
    if PHOTOS.is_dir():
        fetched = {source.name: source for source in sources}
        for source in list_photos(PHOTOS):
            if source.name in fetched and fetched[source.name].source == source.source:
                assert Path(fetched[source.name].path).read_bytes() == Path(source.path).read_bytes(), source.name


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


def test_dataloader_workers_reproduce_single_process_batches(tmp_path):
    sources = list_photos(_photo_folder(tmp_path / "photos", ["a.png", "b.png", "c.png"], (96, 128)))

    def make_dataset():
        return RandomCropDataset(sources, 64, samples_per_epoch=8, scale_range=(0.5, 1.0), seed=11)

    # Pickled copies (spawned workers) leave the decoded photos behind and decode them again.
    decoded = make_dataset()
    first = [decoded[index]["pixel_values"] for index in range(3)]
    payload = pickle.dumps(decoded)
    assert len(payload) < 10_000
    assert torch.equal(pickle.loads(payload)[1]["pixel_values"], first[1])

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
    dataset = load_image_dataset("user/pairs", image_column="photo", conditioning_image_column="edges")
    assert dataset.column_names == ["photo", "edges"]
    assert calls == [(("user/pairs", None), {"split": "train", "cache_dir": None})]
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
