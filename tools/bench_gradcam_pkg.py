#!/usr/bin/env python3
"""The pytorch-grad-cam side of `icam bench --cam-methods`: the `grad-cam` package (1.5.7) on the
reference's ResNet-50, 224x224, float32, per image, on the same machine.

  python tools/bench_gradcam_pkg.py --shared ../shared [--threads 2] [--repeats 5]
      [--methods gradcam,scorecam,ablationcam] [--json out.json]

Each method: one warm-up call, then the median of REPEATS calls (Score-CAM and Ablation-CAM,
thousands of forward passes each, are timed once after the warm-up unless --repeats-slow says
otherwise). The package's defaults: Score-CAM batches 16 masked inputs, Ablation-CAM 32
ablated copies and re-runs the whole network for each (it replaces `layer4` by a layer that
replays the cached activations). Peak RSS as `tools/bench_torch.py`. Not used by the build or
the tests.
"""
import argparse
import json
import os
import sys
import time

import torch

SLOW = {"scorecam", "ablationcam"}


def peak_rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def reset_peak():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default="../shared")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeats-slow", type=int, default=1)
    p.add_argument("--methods", default="gradcam,scorecam,ablationcam")
    p.add_argument("--json")
    a = p.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import icam_ref as R
    from pytorch_grad_cam import AblationCAM, GradCAM, ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    R.set_determinism(a.threads)
    fx = os.path.join(a.shared, "reference", "fixtures")
    net, _ = R.load_model(os.path.join(fx, "resnet50_seed0.safetensors"), "resnet50", torch.float32)
    x = R.to_model_input(R.load_image(os.path.join(fx, "chelsea224.png")), "imagenet").unsqueeze(0)
    with torch.no_grad():
        c = int(net(x)[0].argmax())
    classes = {"gradcam": GradCAM, "scorecam": ScoreCAM, "ablationcam": AblationCAM}
    rows = []
    for m in a.methods.split(","):
        cam = classes[m](model=net, target_layers=[net.layer4])

        def once():
            cam(input_tensor=x, targets=[ClassifierOutputTarget(c)])

        once()
        reset_peak()
        ts = []
        for _ in range(a.repeats_slow if m in SLOW else a.repeats):
            t = time.perf_counter()
            once()
            ts.append(time.perf_counter() - t)
        ts.sort()
        t, peak = ts[len(ts) // 2], peak_rss()
        rows.append({"name": f"{m} per image (grad-cam package)", "median_ms": t * 1e3,
                     "runs": len(ts), "peak_rss_bytes": peak})
        print(f"{m:<12} {t * 1e3:>10.1f} ms  ({len(ts)} runs)  peak RSS {peak / 1e6:.0f} MB",
              flush=True)
        cam.activations_and_grads.release()
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"threads": a.threads, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
