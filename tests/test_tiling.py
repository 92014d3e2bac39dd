"""Tiled restoration: one shape per image, batches of tiles, per-tile seeds, feathered seams, progress."""

import pytest
import torch

from bridge_diffusers import I2SBPipeline, I2SBScheduler, NADBPipeline, NADBScheduler, create_bridge_unet
from bridge_diffusers.models import MeanNetwork
from bridge_diffusers.tiling import (
    pipeline_restorer,
    restore_tiled,
    tile_generators,
    tile_positions,
    tile_seed,
    tile_starts,
)


class Recorder:
    """A restorer that records the shapes it is called with and returns ``f(tiles)``."""

    def __init__(self, function=lambda tiles: tiles):
        self.function, self.shapes, self.generators = function, [], []

    def __call__(self, tiles, masks, generators=None):
        self.shapes.append(tuple(tiles.shape))
        self.generators.append(generators)
        return self.function(tiles)


class Progress:
    def __init__(self):
        self.updates = []

    def update(self, n):
        self.updates.append(n)


def test_tile_grid_covers_the_image_with_full_size_tiles():
    assert tile_starts(100, 40, 10) == [0, 30, 60] and tile_starts(30, 40, 10) == [0] and tile_starts(40, 40, 0) == [0]
    assert tile_starts(3000, 512, 64) == [0, 448, 896, 1344, 1792, 2240, 2488]
    assert len(tile_positions(3000, 4000, 512, 64)) == 7 * 9
    with pytest.raises(ValueError, match="must exceed the overlap"):
        tile_starts(100, 8, 8)
    # every tile of an image has one shape, the last of a row or column shifted back to the border
    recorder = Recorder()
    restore_tiled(recorder, torch.rand(1, 3, 70, 90), tile=32, overlap=8, progress=False)
    assert set(recorder.shapes) == {(1, 3, 32, 32)} and len(recorder.shapes) == len(tile_positions(70, 90, 32, 8))
    recorder = Recorder()  # narrower than a tile in one dimension: the tiles take that dimension whole
    restore_tiled(recorder, torch.rand(1, 3, 20, 90), tile=32, overlap=8, progress=False)
    assert set(recorder.shapes) == {(1, 3, 20, 32)}


def test_one_tile_is_the_untiled_restoration_exactly():
    image = torch.rand(1, 3, 24, 40)
    pipe = I2SBPipeline(create_bridge_unet(16), I2SBScheduler())
    pipe.set_progress_bar_config(disable=True)
    restore = pipeline_restorer(pipe, 3)
    tiled = restore_tiled(restore, image * 2 - 1, tile=64, overlap=8, seed=5, progress=False)
    direct = pipe.restore(image * 2 - 1, None, 3, tile_generators(5, [(0, 0)]))
    assert torch.equal(tiled, direct)


def test_pointwise_restorers_and_masks_are_reproduced_through_the_blend():
    image = torch.rand(1, 3, 70, 90)
    for batch_size in (1, 4, 100):
        tiled = restore_tiled(lambda tiles, masks: tiles.sqrt(), image, 32, 8, batch_size=batch_size, progress=False)
        torch.testing.assert_close(tiled, image.sqrt())
    mask = (torch.rand(1, 1, 70, 90) > 0.5).float()  # an inpainting mask is cut into the same tiles
    tiled = restore_tiled(lambda tiles, masks: tiles * (1 - masks), image, 32, 8, mask=mask, batch_size=3)
    torch.testing.assert_close(tiled, image * (1 - mask))
    with pytest.raises(ValueError, match="mask"):
        restore_tiled(lambda tiles, masks: tiles, image, 32, 8, mask=mask[..., :10])
    with pytest.raises(ValueError, match="batch_size"):
        restore_tiled(lambda tiles, masks: tiles, image, 32, 8, batch_size=0)


def test_seams_are_feathered_not_steps():
    """Tiles restored with different offsets blend into a ramp: no jump between neighbouring pixels exceeds
    the largest offset difference divided by the overlap (a hard seam would jump by the whole difference)."""
    image = torch.zeros(1, 1, 100, 130)
    offsets = iter(torch.linspace(-1, 1, 50)[torch.randperm(50)])

    def offset_restorer(tiles, masks):
        return torch.cat([tile[None] + next(offsets) for tile in tiles])

    overlap = 16
    blended = restore_tiled(offset_restorer, image, tile=40, overlap=overlap, batch_size=2, progress=False)
    jumps = max(blended.diff(dim=-1).abs().max(), blended.diff(dim=-2).abs().max())
    assert 0 < jumps <= 2.0 / (overlap + 1) + 1e-6


def test_batches_and_per_tile_seeds_do_not_change_the_result():
    """Seeded by position, a noisy restorer gives the same image whatever the batch size; the last batch can be
    padded to a fixed shape and its padding is dropped."""

    def noisy(tiles, masks, generators):
        return torch.cat(
            [tile[None] + torch.randn(tile.shape, generator=g) for tile, g in zip(tiles, generators, strict=True)]
        )

    image = torch.rand(1, 3, 70, 90)
    results = {}
    for batch_size in (1, 2, 4):
        recorder = Recorder()

        def restore(tiles, masks, generators, recorder=recorder):
            recorder(tiles, masks, generators)
            return noisy(tiles, masks, generators)

        results[batch_size] = restore_tiled(
            restore, image, 32, 8, batch_size=batch_size, seed=3, pad_batch=True, progress=False
        )
        assert set(recorder.shapes) == {(batch_size, 3, 32, 32)}  # one shape, the last batch padded
    assert torch.equal(results[1], results[2]) and torch.equal(results[1], results[4])
    other_seed = restore_tiled(noisy, image, 32, 8, seed=4, progress=False)
    assert not torch.allclose(other_seed, results[1])
    assert tile_seed(3, 0, 24) != tile_seed(3, 24, 0) and tile_seed(3, 0, 24) == tile_seed(3, 0, 24)


@pytest.mark.parametrize("method", ["i2sb", "nadb"])
def test_a_pipeline_tiled_in_batches_matches_one_by_one(method):
    torch.manual_seed(0)
    unet = create_bridge_unet(16)
    if method == "nadb":
        pipe = NADBPipeline(unet, NADBScheduler(), mean_net=MeanNetwork.from_unet(create_bridge_unet(16)))
    else:
        pipe = I2SBPipeline(unet, I2SBScheduler())
    pipe.set_progress_bar_config(disable=True)
    image = torch.rand(1, 3, 40, 56) * 2 - 1
    restore = pipeline_restorer(pipe, 4)
    one = restore_tiled(restore, image, 24, 8, batch_size=1, seed=0, progress=False)
    batched = restore_tiled(restore, image, 24, 8, batch_size=3, seed=0, progress=False)
    torch.testing.assert_close(batched, one, atol=1e-5, rtol=1e-5)
    assert one.shape == image.shape and torch.isfinite(one).all()


def test_progress_counts_every_tile_once():
    image = torch.rand(1, 3, 70, 90)
    tiles = len(tile_positions(70, 90, 32, 8))
    progress = Progress()
    restore_tiled(lambda t, m: t, image, 32, 8, batch_size=4, progress=progress, pad_batch=True)
    assert sum(progress.updates) == tiles and len(progress.updates) == -(-tiles // 4)
    restore_tiled(lambda t, m: t, image, 32, 8, progress=None)  # an internal tqdm bar
    restore_tiled(lambda t, m: t, image, 32, 8, progress=False)
    with pytest.raises(TypeError, match="update"):
        restore_tiled(lambda t, m: t, image, 32, 8, progress=object())
