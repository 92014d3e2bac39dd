#!/usr/bin/env bash
# Trains every shipped pipeline of scripts/train_shipped.sh (per task: NADB with its classical-residual mean
# network, a one-step IBMD student of it, I2SB) on ONE GPU in at most 8 minutes of wall time, install included, at
# a larger scale than the CPU recipe: the "small" UNet (6.5 M parameters against the CPU's 4.3 M "restore"), 128 px
# crops instead of 64, batch 32 instead of 8, bf16 mixed precision. Meant for the lent H100/H200 machine (no
# network; see /work/.library/device/README.md), whose python3 already holds a CUDA PyTorch: like
# benchmarks/gpu.sh, this carries only the pure-Python wheels that machine lacks (benchmarks/offline_deps.sh).
#
# Once, here (network needed):  pip download --no-deps -d benchmarks/wheels diffusers==0.42.1 importlib_metadata zipp
#                                bash scripts/fetch_photos.sh photos
#                                bash scripts/train_shipped_gpu.sh --preflight   (checks the 64 MiB transfer limit)
# Then through the run tool:
#
#     run(command="bash scripts/train_shipped_gpu.sh", carry=["benchmarks/wheels", "photos"], timeout_s=540)
#     run(command="bash scripts/train_shipped_gpu.sh --collect", timeout_s=60)      (at once, while warm; repeat
#                                                                                    until it says nothing is left)
#     bash scripts/train_shipped_gpu.sh --unpack runs/gpu-fetched DIR...   (here: DIR = each call's files_at)
#     python scripts/export_shipped.py --runs runs/gpu-fetched/runs --tasks jpeg10 sr4x-pool inpaint-freeform blur-uni
#
# Why --collect: at most 8 files, 16 MiB each and 64 MiB together come back from one call, while the 12 pipelines
# are about 200 MiB even as float16 (16 small UNets of 13 MB): four calls in all, ~8 + 2 minutes of the 15 of
# device time with the machine's start. The runs stay on the machine under RUNS (runs/gpu, git-ignored, kept
# between calls while the machine is warm, i.e. for 30 s after each call); each call sends the next parts (one
# gzipped tar per task, float16 weights only, split into 15 MiB parts, with SHA256SUMS, meta.tar.gz holding logs/
# + wall_times.tsv, and status.txt). --unpack checks the sums, unpacks RUNS/<task>/<method> into DEST/runs/, writes
# the float32 weights back from the float16 ones (so the float32 pipeline that export_shipped.py scores is the
# float16 one, upcast losslessly), then loads every pipeline with bridge_diffusers.pipelines.load_pipeline and
# restores one held-out crop with it. A task whose parts have not all arrived is reported and skipped; if the
# machine is lost before the last --collect, the tasks already fetched still work.
# What travels TO the machine is limited too (64 MiB: tracked files, untracked files that are not ignored, and
# the carry). The tracked pipelines/ folder alone is ~55 MiB, so run --preflight first: it adds it up.
#
# Budget (BUDGET=450 s of the 480 allowed; every number below is an assumption until a GPU run measures it):
#   ~25 s    install the wheels, start, check CUDA.
#   ~385 s   training window W, ending at TRAIN_END = start + BUDGET - 40 s. The four tasks run at once, each in
#            two lanes, so 8 processes share the GPU (139 GiB, 16 CPU cores: memory and data loading are not the
#            limit; time-slicing between processes also hides each one's Python and data-loader gaps):
#              lane 1: NADB mean network -> NADB bridge -> IBMD student (each needs the one before)
#              lane 2: I2SB (independent of NADB, so it does not queue behind it)
#   ~40 s    delete checkpoints, pack, send the first parts.
# Step counts come from a throughput assumption. The "small" UNet costs 46 GFLOP per 128 px image forward
# (FlopCounterMode), so one forward of a batch of 32 is F = 1.5 TFLOP. Per optimiser step: mean network 3F
# (forward + backward), NADB bridge 4F (+ the frozen mean network's forward), I2SB 3F, IBMD ~35F (5 updates of the
# fake model at ~5F: generator sample, mean network, fake forward + backward; 1 generator update at ~10F, with
# backward through teacher and fake model into the generator). Assumed: 100 TFLOP/s summed over the processes,
# 13% of the 790 TFLOP/s that large bf16 matrix products reach on the H200 (small convolutions, GroupNorm and
# eight contexts sharing the GPU are far from that), i.e. ~68 F/s. Plan per task: mean 250 steps (750F), bridge
# 400 (1600F), IBMD 32 (1120F), I2SB 400 (1200F): 4670F; four tasks 18680F = ~275 s, 71% of W. With fair
# time-slicing and ~15 s to start each process, the mean networks end ~105 s into W, I2SB ~155 s, the bridges
# ~230 s, IBMD ~310 s.
# Deadlines, so that finished folders come back even if throughput is far lower: a stage must end by an absolute
# time (mean 40% of W, bridge 75%, IBMD and I2SB at TRAIN_END; a stage that ends early leaves its time to the
# next). FINALISE (40 s) before that, a stage still training is stopped by `timeout` (TERM to its process group,
# data-loader workers included) and started again with --max_train_steps set to its newest checkpoint (every 40
# steps, IBMD every 5) and --resume_from_checkpoint latest: it then trains nothing, validates and saves its
# pipeline (~15 s). When a stage is cut, the later stages of the lane scale their planned steps by the fraction
# it reached, so that their cosine schedules still run to the end. Plain python with --mixed_precision bf16, not
# `accelerate launch`, so that no launcher stands between `timeout` and the training process.
# Environment (defaults in brackets): PRESET [small], RESOLUTION [128], BATCH [32], MEAN_STEPS [250], STEPS [400]
# (each bridge), IBMD_STEPS [32], CHECKPOINT_STEPS [40], BUDGET [450] seconds for the whole call, WORKERS [2]
# data-loader workers per process, MIXED_PRECISION [bf16], LAUNCH [$PY], PY [python3], PHOTOS [photos],
# RUNS [runs/gpu], OUT (set by the run tool; [RUNS/out]), PART_KIB [15360], SEND_KIB [61440] (parts per call).
# Arguments: tasks [jpeg10 sr4x-pool inpaint-freeform blur-uni]. Each stage's log: RUNS/logs/<task>-<stage>.log.
#
# SMOKE=1: the same code made tiny for the CPU (tiny UNet, 32 px, batch 4, a few steps, jpeg10, .venv's python,
# no install, no GPU; RUNS runs/gpu_smoke), e.g.
#     SMOKE=1 OMP_NUM_THREADS=1 bash scripts/train_shipped_gpu.sh && \
#         bash scripts/train_shipped_gpu.sh --unpack runs/gpu_smoke/fetched runs/gpu_smoke/out
set -euo pipefail
CALLER_DIR=$PWD  # --unpack's paths may be relative to where it was called from
cd "$(dirname "$0")/.."

MODE=train
case "${1:-}" in
--collect | --unpack | --preflight) MODE=${1#--} && shift ;;
--*) echo "unknown option $1 (modes: --collect, --unpack DEST DIR..., --preflight)" >&2 && exit 2 ;;
esac

SMOKE=${SMOKE:-0}
if [ "$MODE" = unpack ] || [ "$MODE" = preflight ]; then  # here, not on the device: the repository's venv
    if [ -x .venv/bin/python ]; then PY=${PY:-.venv/bin/python}; fi
fi
if [ "$SMOKE" = 1 ]; then
    PRESET=${PRESET:-tiny} RESOLUTION=${RESOLUTION:-32} BATCH=${BATCH:-4} MEAN_STEPS=${MEAN_STEPS:-4}
    STEPS=${STEPS:-4} IBMD_STEPS=${IBMD_STEPS:-2} CHECKPOINT_STEPS=${CHECKPOINT_STEPS:-2} IBMD_CHECKPOINT_STEPS=1
    BUDGET=${BUDGET:-1500} FINALISE=${FINALISE:-150} MIN_STAGE=10 WORKERS=${WORKERS:-0} WARMUP=1
    MIXED_PRECISION=${MIXED_PRECISION:-no} PY=${PY:-.venv/bin/python} RUNS=${RUNS:-runs/gpu_smoke}
    DEFAULT_TASKS=(jpeg10)
    export CUDA_VISIBLE_DEVICES="" OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}  # the CPU path, even on a GPU machine
else
    PRESET=${PRESET:-small} RESOLUTION=${RESOLUTION:-128} BATCH=${BATCH:-32} MEAN_STEPS=${MEAN_STEPS:-250}
    STEPS=${STEPS:-400} IBMD_STEPS=${IBMD_STEPS:-32} CHECKPOINT_STEPS=${CHECKPOINT_STEPS:-40} IBMD_CHECKPOINT_STEPS=5
    BUDGET=${BUDGET:-450} FINALISE=${FINALISE:-40} MIN_STAGE=30 WORKERS=${WORKERS:-2} WARMUP=50
    MIXED_PRECISION=${MIXED_PRECISION:-bf16} PY=${PY:-python3} RUNS=${RUNS:-runs/gpu}
    DEFAULT_TASKS=(jpeg10 sr4x-pool inpaint-freeform blur-uni)
    export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}  # 8 processes and their loaders on 16 cores
fi
PHOTOS=${PHOTOS:-photos}
OUT=${OUT:-$RUNS/out}
PACK="$RUNS/pack"
PART_KIB=${PART_KIB:-15360}  # under the 16 MiB a returned file may have
SEND_KIB=${SEND_KIB:-61440}  # under the 64 MiB of a call, leaving room for SHA256SUMS, meta.tar.gz, status.txt
MAX_PARTS=5                  # + those three files = the 8 files a call may return
read -r -a LAUNCH <<<"${LAUNCH:-$PY}"
TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=("${DEFAULT_TASKS[@]}")

log() { echo "[$(date -u +%T)] $*"; }

# ------------------------------------------------------------------------------------------------------ sending
# send: copies the next parts that fit into OUT (in task order, never skipping one, so that tasks complete one
# after the other), records them as sent, and says what is left. RESEND=1 forgets what earlier calls sent.
send() {
    mkdir -p "$OUT"
    [ -f "$PACK/SHA256SUMS" ] || { echo "nothing packed under $PACK: run the training call first" >&2 && return 1; }
    [ "${RESEND:-0}" = 1 ] && rm -f "$PACK/sent"
    touch "$PACK/sent"
    local used=0 count=0 size part blocked=0 now=() left=()
    while read -r _ part; do
        grep -qxF "$part" "$PACK/sent" && continue
        size=$(stat -c %s "$PACK/$part")
        if [ $blocked = 0 ] && [ $((used + size)) -le $((SEND_KIB * 1024)) ] && [ $count -lt $MAX_PARTS ]; then
            cp "$PACK/$part" "$OUT/"
            echo "$part" >>"$PACK/sent"
            used=$((used + size)) count=$((count + 1)) now+=("$part")
        else
            blocked=1 left+=("$part")
        fi
    done <"$PACK/SHA256SUMS"
    cp "$PACK/SHA256SUMS" "$PACK/meta.tar.gz" "$OUT/"
    {
        echo "sent now (${used} bytes): ${now[*]:-none}"
        echo "still on the machine: ${left[*]:-none}"
        if [ ${#left[@]} -gt 0 ]; then
            echo "next, at once (the machine stays warm 30 s):" \
                "run(command=\"bash scripts/train_shipped_gpu.sh --collect\")"
        else
            echo "everything has been sent: here, bash scripts/train_shipped_gpu.sh --unpack DEST" \
                "<the files_at folder of every call>"
        fi
    } | tee "$OUT/status.txt"
}

# ---------------------------------------------------------------------------------------------------- preflight
preflight() {
    # What the run tool sends: tracked files, untracked files that git does not ignore, and the carried paths.
    local limit=$((64 * 1048576)) tracked untracked carried total ok=1
    tracked=$(git ls-files -z | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s += $1} END {print s + 0}' || true)
    untracked=$(git ls-files -z -o --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null |
        awk '{s += $1} END {print s + 0}' || true)
    carried=$(du -sb benchmarks/wheels "$PHOTOS" 2>/dev/null | awk '{s += $1} END {print s + 0}' || true)
    total=$((tracked + untracked + carried))
    awk -v t="$tracked" -v u="$untracked" -v c="$carried" -v photos="$PHOTOS" 'BEGIN {
        m = 1048576
        printf "%-44s %6.1f MiB\n", "tracked files", t / m
        printf "%-44s %6.1f MiB\n", "untracked files that git does not ignore", u / m
        printf "%-44s %6.1f MiB\n", "carried: benchmarks/wheels " photos, c / m
        printf "%-44s %6.1f MiB\n", "total (the run tool refuses over 64 MiB)", (t + u + c) / m }'
    if ! ls benchmarks/wheels/diffusers-*.whl >/dev/null 2>&1; then
        echo "missing: benchmarks/wheels (pip download --no-deps -d benchmarks/wheels diffusers==0.42.1" \
            "importlib_metadata zipp)" && ok=0
    fi
    [ -f "$PHOTOS/metadata.jsonl" ] || { echo "missing: $PHOTOS (bash scripts/fetch_photos.sh $PHOTOS)" && ok=0; }
    [ $total -le $limit ] || { echo "too large: the run tool would refuse this working tree" && ok=0; }
    [ $ok = 1 ] || return 1
    echo "ok: run(command=\"bash scripts/train_shipped_gpu.sh\", carry=[\"benchmarks/wheels\", \"$PHOTOS\"]," \
        "timeout_s=540)"
}

# ------------------------------------------------------------------------------------------------------- unpack
unpack() {
    [ $# -ge 2 ] || { echo "usage: --unpack DEST DIR... (DIR: the files_at folder of each call)" >&2 && return 2; }
    local paths=() path
    for path in "$@"; do [[ $path = /* ]] && paths+=("$path") || paths+=("$CALLER_DIR/$path"); done
    PHOTOS="$PHOTOS" "$PY" - "${paths[@]}" <<'PYTHON'
import hashlib
import io
import os
import shutil
import sys
import tarfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

dest, dirs = Path(sys.argv[1]), [Path(d) for d in sys.argv[2:]]
runs = dest / "runs"
runs.mkdir(parents=True, exist_ok=True)

# 1. Every call sends the whole SHA256SUMS; parts may come from any call.
sums, found, meta = {}, {}, None
for folder in dirs:
    if (folder / "SHA256SUMS").is_file():
        for line in (folder / "SHA256SUMS").read_text().splitlines():
            digest, name = line.split()
            sums[name] = digest
    found.update({p.name: p for p in folder.glob("*.tar.gz.part*")})
    meta = folder / "meta.tar.gz" if (folder / "meta.tar.gz").is_file() else meta
if not sums:
    sys.exit(f"no SHA256SUMS in {', '.join(map(str, dirs))}: not the files of a train_shipped_gpu.sh call")
tasks = {}
for name in sums:  # SHA256SUMS lists the parts in task order, each task's in order
    tasks.setdefault(name.split(".tar.gz.part")[0], []).append(name)

extract = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
complete, failed = [], False
for task, names in tasks.items():
    missing = [n for n in names if n not in found]
    if missing:
        print(f"{task}: not complete, missing {' '.join(missing)} (still on the machine, or lost with it)")
        continue
    bad = [n for n in names if hashlib.sha256(found[n].read_bytes()).hexdigest() != sums[n]]
    if bad:
        print(f"{task}: damaged {' '.join(bad)} (checksum): fetch again (RESEND=1 ... --collect)")
        failed = True
        continue
    shutil.rmtree(runs / task, ignore_errors=True)  # a re-run unpacks afresh
    data = b"".join(found[n].read_bytes() for n in names)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tar.extractall(runs, **extract)
    # 2. The float32 weights that load_pipeline reads by default, from the float16 ones that travelled.
    for half in sorted((runs / task).glob("*/*/*.fp16.safetensors")):
        tensors = {k: v.float() if v.is_floating_point() else v for k, v in load_file(half).items()}
        save_file(tensors, half.with_name(half.name.replace(".fp16.safetensors", ".safetensors")), {"format": "pt"})
    complete.append(task)
if meta is not None:
    with tarfile.open(meta, mode="r:gz") as tar:
        tar.extractall(runs, **extract)

# 3. Load each pipeline and restore one held-out crop of the photo folder.
from bridge_diffusers.data import FixedCropDataset, split_photos
from bridge_diffusers.degradations import get_degradation
from bridge_diffusers.metrics import psnr
from bridge_diffusers.pipelines import load_pipeline
from diffusers.utils import logging as diffusers_logging

diffusers_logging.disable_progress_bar()

_, held_out = split_photos(os.environ["PHOTOS"])
clean = FixedCropDataset(held_out[:1], 64, 1)[0]["pixel_values"][None]  # (1, 3, 64, 64) in [-1, 1]
for task in complete:
    corrupted = get_degradation(task)(clean, generator=torch.Generator().manual_seed(0))
    degraded = (corrupted.degraded.clamp(-1, 1) + 1) / 2
    for method in ("nadb", "ibmd", "i2sb"):
        folder = runs / task / method
        if not (folder / "model_index.json").is_file():
            print(f"{task}/{method}: no finished pipeline (see {runs}/logs and {runs}/wall_times.tsv)")
            continue
        try:
            pipe = load_pipeline(folder)
            pipe.set_progress_bar_config(disable=True)
            # pipe.restore: the tensor restorer that training's validation and export_shipped.py's scores call
            restored = (pipe.restore(degraded * 2 - 1, corrupted.mask, generator=torch.Generator().manual_seed(0))
                        .clamp(-1, 1) + 1) / 2
            size = sum(p.numel() for p in pipe.unet.parameters()) / 1e6
            before, after = (float(psnr(x, (clean + 1) / 2, reduction="mean")) for x in (degraded, restored))
            print(f"{task}/{method}: {type(pipe).__name__} ({size:.2f} M UNet parameters) loads and restores "
                  f"{held_out[0].name} {tuple(restored.shape)}: PSNR {before:.2f} dB degraded, {after:.2f} restored")
        except Exception as error:
            print(f"{task}/{method}: FAILED to load or restore: {type(error).__name__}: {error}")
            failed = True
print(f"pipelines of {', '.join(complete) or 'no task'} unpacked under {runs}")
sys.exit(1 if failed else 0)
PYTHON
}

case $MODE in
collect) send; exit 0 ;;
unpack) unpack "$@"; exit 0 ;;
preflight) preflight; exit 0 ;;
esac

# ------------------------------------------------------------------------------------------------ training call
T0=$(date +%s)
mkdir -p "$RUNS/logs" "$OUT"
touch "$RUNS/wall_times.tsv"
exec > >(tee -a "$RUNS/logs/train_shipped_gpu.log") 2>&1
log "train_shipped_gpu.sh: tasks ${TASKS[*]}, preset $PRESET, ${RESOLUTION} px, batch $BATCH, $MIXED_PRECISION," \
    "budget ${BUDGET} s$([ "$SMOKE" = 1 ] && echo ' (SMOKE: CPU)')"
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" HF_HUB_OFFLINE=1 DIFFUSERS_VERBOSITY=error
export PYTHONUNBUFFERED=1 TQDM_MININTERVAL=${TQDM_MININTERVAL:-10}  # progress lines every 10 s keep logs small
if [ "$SMOKE" != 1 ]; then
    PYTHON=$PY
    source benchmarks/offline_deps.sh
    offline_deps "$RUNS/logs/pip.log"
    nvidia-smi >"$RUNS/logs/nvidia-smi.txt" 2>&1 || true
    # Fail in seconds, not after the budget, on a machine without a usable GPU or without the packages.
    "$PY" -c "import torch, diffusers; assert torch.cuda.is_available(), 'torch sees no CUDA device'
print('torch', torch.__version__, 'on', torch.cuda.get_device_name(), '| diffusers', diffusers.__version__)"
fi
if [ ! -f "$PHOTOS/metadata.jsonl" ]; then
    log "no photo folder $PHOTOS: write it with bash scripts/fetch_photos.sh and carry it" && exit 2
fi

source scripts/shipped_recipe.sh
shipped_recipe  # COMMON, BRIDGE, NADB, IBMD, I2SB: train_shipped.sh's runs
COMMON+=(--mixed_precision "$MIXED_PRECISION")
[ "$SMOKE" = 1 ] || COMMON+=(--allow_tf32)

# The deadlines, absolute (seconds since the epoch): see the budget in the header.
TRAIN_START=$(date +%s)
TRAIN_END=$((T0 + BUDGET - 40))
WINDOW=$((TRAIN_END - TRAIN_START))
MEAN_END=$((TRAIN_START + WINDOW * 40 / 100))
BRIDGE_END=$((TRAIN_START + WINDOW * 75 / 100))
{
    echo "tasks ${TASKS[*]}; preset $PRESET; ${RESOLUTION} px; batch $BATCH; $MIXED_PRECISION; $WORKERS loader workers"
    echo "planned steps: mean $MEAN_STEPS, bridges $STEPS, IBMD $IBMD_STEPS; checkpoints every $CHECKPOINT_STEPS" \
        "(IBMD $IBMD_CHECKPOINT_STEPS)"
    echo "deadlines (s after start): mean $((MEAN_END - T0)), bridge $((BRIDGE_END - T0)), IBMD and I2SB" \
        "$((TRAIN_END - T0)); finalising reserve ${FINALISE} s; pack and send by $((BUDGET)) s"
} | tee "$RUNS/plan.txt"

latest_step() {  # latest_step DIR: the step of the newest complete checkpoint-N in DIR (0: none)
    local best=0 path step
    for path in "$1"/checkpoint-*; do
        step=${path##*/checkpoint-}
        if [ -d "$path" ] && [[ $step =~ ^[0-9]+$ ]] && [ "$step" -gt "$best" ]; then best=$step; fi
    done
    echo "$best"
}

# run_stage NAME DEADLINE CHECKPOINT_DIR PLANNED COMMAND...: trains COMMAND --max_train_steps PLANNED until
# DEADLINE - FINALISE; if it is still running then, stops it and saves its pipeline from its newest checkpoint by
# running COMMAND --max_train_steps <that step> (the flag given last wins) until DEADLINE. Sets REACHED to the
# steps of the saved result (0: none) and appends NAME, seconds, time and outcome to RUNS/wall_times.tsv. A stage
# left with under MIN_STAGE seconds of training is not started: starting a process alone takes ~15 s.
run_stage() {
    local name=$1 deadline=$2 checkpoints=$3 planned=$4 start rc=0 step outcome left
    shift 4
    local log="$RUNS/logs/${name//\//-}.log"
    start=$(date +%s)
    REACHED=0
    if [ $((deadline - FINALISE - start)) -lt $MIN_STAGE ]; then
        outcome="not started: $((deadline - start)) s left before its deadline"
    else
        timeout -k 10 $((deadline - FINALISE - start)) "$@" --max_train_steps "$planned" </dev/null >>"$log" 2>&1 ||
            rc=$?
        if [ $rc = 0 ]; then
            REACHED=$planned outcome="done, $planned steps"
        elif [ $rc = 124 ] || [ $rc = 137 ]; then
            step=$(latest_step "$checkpoints")
            if [ "$step" -gt 0 ]; then
                echo "=== stopped at its deadline: saving the pipeline of checkpoint-$step" >>"$log"
                rc=0
                left=$((deadline - $(date +%s)))  # never 0 or less: `timeout 0` would mean no limit at all
                timeout -k 5 $((left > 5 ? left : 5)) "$@" --max_train_steps "$step" </dev/null >>"$log" 2>&1 ||
                    rc=$?
                if [ $rc = 0 ]; then
                    REACHED=$step outcome="cut at step $step of $planned, saved"
                else
                    outcome="cut at step $step of $planned; saving it failed (exit $rc)"
                fi
            else
                outcome="cut before its first checkpoint: nothing saved"
            fi
        else
            outcome="failed (exit $rc): see $log"
        fi
    fi
    printf '%s\t%s\t%s\t%s\n' "$name" $(($(date +%s) - start)) "$(date -u +%FT%TZ)" "$outcome" >>"$RUNS/wall_times.tsv"
    log "$name: $outcome ($(($(date +%s) - start)) s)"
}

scaled() { # scaled STEPS: STEPS times the fraction of its planned steps that the lane's last cut stage reached
    local steps=$(($1 * SCALE / 1000))
    echo $((steps > 0 ? steps : 1))
}

nadb_lane() {  # mean network -> bridge -> IBMD student of task $1
    local task=$1 run="$RUNS/$1" planned
    SCALE=1000  # per mille: later stages shrink with a stage that was cut
    local nadb=("${LAUNCH[@]}" training/train_nadb.py "${COMMON[@]}" "${BRIDGE[@]}" --task "$task"
                --output_dir "$run/nadb" "${NADB[@]}")
    if [ -f "$run/nadb/mean_net/config.json" ]; then
        REACHED=$MEAN_STEPS  # a rerun on a warm machine: done already
    else
        run_stage "$task/mean" $MEAN_END "$run/nadb/mean_checkpoints" "$MEAN_STEPS" "${nadb[@]}" --stage mean
    fi
    [ "$REACHED" -gt 0 ] || { log "$task: no mean network, so no NADB bridge and no IBMD student" && return; }
    local mean_steps=$REACHED
    SCALE=$((SCALE * REACHED / MEAN_STEPS))
    if [ ! -f "$run/nadb/model_index.json" ]; then
        planned=$(scaled "$STEPS")
        run_stage "$task/nadb" $BRIDGE_END "$run/nadb" "$planned" "${nadb[@]}" --stage bridge \
            --mean_max_train_steps "$mean_steps"
        [ "$REACHED" -gt 0 ] || { log "$task: no NADB teacher, so no IBMD student" && return; }
        SCALE=$((SCALE * REACHED / planned))
    fi
    if [ ! -f "$run/ibmd/model_index.json" ]; then
        run_stage "$task/ibmd" $TRAIN_END "$run/ibmd" "$(scaled "$IBMD_STEPS")" "${LAUNCH[@]}" training/train_ibmd.py \
            "${COMMON[@]}" --task "$task" --output_dir "$run/ibmd" --teacher "$run/nadb" "${IBMD[@]}" \
            --checkpointing_steps "$IBMD_CHECKPOINT_STEPS"
    fi
}

i2sb_lane() {
    local task=$1 run="$RUNS/$1"
    [ -f "$run/i2sb/model_index.json" ] && return
    run_stage "$task/i2sb" $TRAIN_END "$run/i2sb" "$STEPS" "${LAUNCH[@]}" training/train_i2sb.py "${COMMON[@]}" \
        "${BRIDGE[@]}" --task "$task" --output_dir "$run/i2sb" "${I2SB[@]}"
}

SAMPLER=""
if [ "$SMOKE" != 1 ] && command -v nvidia-smi >/dev/null; then  # GPU load over time: calibrates the assumption
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 10 >"$RUNS/logs/gpu.csv" 2>&1 &
    SAMPLER=$!
fi
LANES=()
for task in "${TASKS[@]}"; do
    nadb_lane "$task" &
    LANES+=($!)
    i2sb_lane "$task" &
    LANES+=($!)
done
for pid in "${LANES[@]}"; do wait "$pid" || true; done  # every stage is bounded by its own timeout
[ -z "$SAMPLER" ] || kill "$SAMPLER" 2>/dev/null || true
log "training over at $(($(date +%s) - T0)) s:"
cat "$RUNS/wall_times.tsv"

# ------------------------------------------------------------------------------------------------------- pack
# Only the pipelines travel, as float16 (--unpack writes the float32 weights back): checkpoints are deleted, and
# of the validation grids only each stage's last is kept. IBMD's mean network is NADB's, byte for byte: a hard link
# makes tar store it once.
rm -rf "$PACK" && mkdir -p "$PACK" && : >"$PACK/SHA256SUMS"
for task in "${TASKS[@]}"; do
    run="$RUNS/$task"
    [ -d "$run" ] || continue
    rm -rf "$run"/*/checkpoint-* "$run"/nadb/mean_checkpoints
    for grids in "$run"/*/validation; do
        [ -d "$grids" ] || continue
        find "$grids" -name '*-step-*.png' | sort -r | awk -F'-step-' 'seen[$1]++' | xargs -r rm -f
    done
    shared=mean_net/diffusion_pytorch_model.fp16.safetensors
    if cmp -s "$run/nadb/$shared" "$run/ibmd/$shared"; then ln -f "$run/nadb/$shared" "$run/ibmd/$shared"; fi
    tar -C "$RUNS" --exclude=diffusion_pytorch_model.safetensors -czf - "$task" |
        split -b "${PART_KIB}K" -d -a 2 - "$PACK/$task.tar.gz.part"
    (cd "$PACK" && sha256sum "$task".tar.gz.part*) >>"$PACK/SHA256SUMS"
done
tar -C "$RUNS" -czf "$PACK/meta.tar.gz" logs wall_times.tsv plan.txt
log "packed $(du -sh "$PACK" | cut -f1) in $(wc -l <"$PACK/SHA256SUMS") parts at $(($(date +%s) - T0)) s"
send
log "call over at $(($(date +%s) - T0)) s"
