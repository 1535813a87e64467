#!/usr/bin/env python3
"""The PyTorch side of `icam bench`, on the same machine, for the README's comparison.

  python tools/bench_torch.py --shared ../shared [--threads 2] [--repeats 5]
      [--arch efficientnet_lite0 --weights ~/.cache/icam/models/efficientnet-lite0-57934424.pth]

Measures, as `icam bench` does (median of REPEATS after one warm-up, peak RSS reset before
each measurement through /proc/self/clear_refs): forward + backward to the input and the 16
block outputs of ResNet-50 at 224x224 for batch 1 and 9; I-CAM per image (n = 8) with the
reference implementation (icam_ref.integrative_cam); Grad-CAM per image (icam_ref.baseline_cam).
Not used by the build or the tests.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch


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


def measure(repeats, fn):
    fn()
    reset_peak()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    ts.sort()
    return ts[len(ts) // 2], peak_rss()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default="../shared")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--arch", default="resnet50", help="resnet50 or efficientnet_lite0")
    p.add_argument("--weights", default=None, help="default: the reference's ResNet-50 fixture")
    a = p.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import icam_ref as R

    R.set_determinism(a.threads)
    fx = os.path.join(a.shared, "reference", "fixtures")
    weights = a.weights or os.path.join(fx, "resnet50_seed0.safetensors")
    net, _ = R.load_model(weights, a.arch, torch.float32)
    layers = R.default_layers(net)
    x0 = R.load_image(os.path.join(fx, "chelsea224.png"))
    norm = R.default_normalize(a.arch)
    xin = R.to_model_input(x0, norm)
    rows = []

    def report(name, t, peak):
        rows.append({"name": name, "median_ms": t * 1e3, "peak_rss_bytes": peak})
        print(f"{name:<58} {t * 1e3:>9.1f} ms   peak RSS {peak / 1e6:.0f} MB")

    for b in (1, 9):
        batch = torch.stack([xin * (1 - 0.01 * i) for i in range(b)])

        def fwd_bwd():
            x = batch.clone().requires_grad_(True)
            with R.ActivationRecorder(net, layers) as rec:
                logits = net(x)
                acts = [rec.acts[l] for l in layers]
            obj = torch.softmax(logits, 1)[:, 0].sum()
            torch.autograd.grad(obj, [x] + acts)

        report(f"forward+backward (input + {len(layers)} taps), batch {b}", *measure(a.repeats, fwd_bwd))
    cfg = R.ICAMConfig()
    noise, mask = R.make_perturbation_noise(cfg.n, 224, 224, cfg.alpha, cfg.seed)
    report(f"I-CAM per image (n={cfg.n}, {len(layers)} layers)",
           *measure(a.repeats, lambda: R.integrative_cam(net, x0, layers, cfg, noise=noise, mask=mask,
                                                 normalize=norm)))
    bl = R.default_baseline_layer(net)
    report(f"Grad-CAM per image ({bl})",
           *measure(a.repeats, lambda: R.baseline_cam(net, x0, "gradcam", [bl], normalize=norm)))
    print(json.dumps({"torch": torch.__version__, "threads": a.threads, "results": rows}))


if __name__ == "__main__":
    main()
