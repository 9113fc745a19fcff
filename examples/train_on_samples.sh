#!/usr/bin/env bash
# Train the paper's RIFE from scratch on the sample clips, on the CPU, for a bounded time, and score it
# against frame blending and the official 3.9 weights on the same held-out triplets (bikes.mp4).
#     examples/train_on_samples.sh [OUT_DIR] [MINUTES]
# MAX_FRAMES=N in the environment uses only the first N frames of each clip (a quick check of the whole
# script; the default, 0, uses them all).
# Writes OUT_DIR/dataset, OUT_DIR/run (config, checkpoint, TensorBoard, metrics.jsonl), OUT_DIR/rife-paper.pkl
# and OUT_DIR/results.jsonl. Run from the repository root with the project's Python (make venv).
set -euo pipefail
out=${1:-output/train-samples}
minutes=${2:-25}
python=${PYTHON:-.venv/bin/python}
samples=$("$python" -c 'from vsrife.samples import sample_path as p; print(*(p(n) for n in ("bigbuckbunny.mp4", "carphone_pristine.mp4", "bikes.mp4")))')
read -r bbb carphone bikes <<<"$samples"

# 176x144 crops (carphone's full frame), overlapping triplets and 3 crops each from the training clips;
# bikes.mp4 is held out: distinct triplets, one crop each, scene cuts skipped
"$python" -m training make-dataset "$bbb" "$carphone" "$bikes" --holdout "$bikes" --out "$out/dataset" \
    --size 176x144 --stride 1 --crops 3 --max-frames "${MAX_FRAMES:-0}"

# the paper's recipe, shortened for 2 CPU cores: 128 crops, batch 8, a 200-step warm-up, full learning rate
# (no division by 4 GPUs), validation on the held-out triplets every 75 steps
"$python" -m training train --data "$out/dataset" --out "$out/run" --arch rife-paper --validation test \
    --crop 128 --batch-size 8 --workers 0 --warmup-steps 200 --reference-world-size 1 --epochs 14 \
    --val-every-steps 75 --max-minutes "$minutes" --image-every-steps 150

"$python" -m training export "$out/run/checkpoint.pt" --out "$out/rife-paper.pkl"
{
    "$python" -m training evaluate --benchmark vimeo90k --data "$out/dataset" --blend
    "$python" -m training evaluate --benchmark vimeo90k --data "$out/dataset" --model 3.9
    "$python" -m training evaluate --benchmark vimeo90k --data "$out/dataset" --model-path "$out/rife-paper.pkl"
} 2>/dev/null | tee "$out/results.jsonl"
