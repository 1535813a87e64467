#!/usr/bin/env bash
# The CUDA check, for a day a GPU machine is lent (the `device` tool). Two halves, because the
# GPU machine has no Rust toolchain and no network:
#
#   bash tools/gpu_check.sh build   # here: build `icam` with --features cuda into .gpu/, with
#                                   # the Lite0 weights and two images (about 40 MB to carry)
#   bash tools/gpu_check.sh run     # there (device run, carry [".gpu"]): under 10 minutes
#
# `run` checks, on the GPU against the CPU of the same machine and binary (whose results the
# goldens of `cargo test --release` pin): the top-5 prediction, and the heatmaps of I-CAM and
# Grad-CAM (max |difference| <= 1e-2 on [0, 1] maps, as the float32 goldens), for Lite0 on the
# example photo; then `icam bench --device cuda` and the same bench on the CPU. Output: a short
# table at the end, logs under $OUT (or .gpu/out). Exits non-zero on the first mismatch.
#
# `ICAM_GPU_DEVICE=cpu bash tools/gpu_check.sh run` (with .gpu/icam a CPU build) smoke-tests
# the script itself without a GPU. .gpu/ is git-ignored.
#
# The ResNet-50 fixture of the reference goldens (100 MB) is over the 64 MB a device run
# carries; the bench uses Lite0 (`--weights`), and ResNet-50 with `ICAM_GPU_R50=path`.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
dir=.gpu
case "$mode" in
build)
    mkdir -p "$dir"
    cargo build --release -p icam-cli --features cuda --target-dir target/cuda
    cp target/cuda/release/icam "$dir/icam"
    lite0=${ICAM_LITE0:-$HOME/.cache/icam/models/efficientnet-lite0-57934424.pth}
    [ -f "$lite0" ] || target/cuda/release/icam model fetch efficientnet-lite0
    cp "$lite0" "$dir/lite0.pth"
    cp examples/images/skimage_chelsea.png "$dir/chelsea.png"
    du -sh "$dir"
    ;;
run)
    out=${OUT:-$dir/out}
    mkdir -p "$out"
    icam="$dir/icam"
    [ -x "$icam" ] || { echo "no $icam: run 'bash tools/gpu_check.sh build' here first"; exit 2; }
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt" || true
    gpu=${ICAM_GPU_DEVICE:-cuda}
    m=(--weights "$dir/lite0.pth")
    img="$dir/chelsea.png"
    t0=$(date +%s)
    for side in cpu gpu; do
        dev=cpu
        [ "$side" = gpu ] && dev=$gpu
        "$icam" predict "$img" "${m[@]}" --device "$dev" --top-k 5 --json >"$out/predict-$side.json"
        for method in icam gradcam; do
            "$icam" explain "$img" "${m[@]}" --device "$dev" --method "$method" \
                --out "$out/$method-$side" >"$out/explain-$method-$side.log" 2>&1
        done
    done
    "${PYTHON:-python3}" - "$out" <<'EOF'
import json, sys
import numpy as np
out = sys.argv[1]
p = [json.load(open(f"{out}/predict-{d}.json")) for d in ("cpu", "gpu")]
cls = lambda j: [r["class"] for r in j["top"]]
assert cls(p[0]) == cls(p[1]), f"top-5 differ: cpu {cls(p[0])} gpu {cls(p[1])}"
for m in ("icam", "gradcam"):
    a = np.load(f"{out}/{m}-cpu/heatmap.npy"); b = np.load(f"{out}/{m}-gpu/heatmap.npy")
    d = float(np.abs(a.astype(np.float64) - b).max())
    print(f"{m}: max |gpu - cpu| = {d:.2e}")
    assert d <= 1e-2, f"{m}: the GPU heatmap differs from the CPU one by {d}"
print("predictions and heatmaps: GPU == CPU")
EOF
    echo "checks took $(($(date +%s) - t0)) s"
    "$icam" bench "${m[@]}" --image "$img" --device "$gpu" --repeats 5 --json >"$out/bench-lite0-gpu.json"
    "$icam" bench "${m[@]}" --image "$img" --device cpu --repeats 5 --network-only --json \
        >"$out/bench-lite0-cpu.json"
    if [ -n "${ICAM_GPU_R50:-}" ]; then
        "$icam" bench --weights "$ICAM_GPU_R50" --no-resize --device "$gpu" --json >"$out/bench-r50-gpu.json"
    fi
    "${PYTHON:-python3}" - "$out" <<'EOF'
import json, sys, glob
for f in sorted(glob.glob(f"{sys.argv[1]}/bench-*.json")):
    for r in json.load(open(f))["results"]:
        print(f"{f.split('/')[-1]:<24} {r['name']:<55} {r['median_ms']:>9.1f} ms")
EOF
    ;;
*)
    echo "usage: bash tools/gpu_check.sh build|run"
    exit 2
    ;;
esac
