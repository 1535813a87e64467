#!/usr/bin/env python3
"""PyTorch's side of docs/performance.md: torch.profiler on the pass `icam bench` times, per
op kind (self CPU time of the aten ops, grouped as tools/profile_ops.py groups icam's).

  /work/refenv/bin/python tools/profile_torch.py --shared ../shared [--arch resnet50|efficientnet_lite0 --weights FILE]
      [--batch 9] [--threads 2] [--repeats 3]

Forward + backward to the input and the candidate layers' outputs (ResNet-50: the 16 block
outputs; Lite0: the 16 block outputs), objective softmax[:, 0].sum(), as tools/bench_torch.py.
Not used by the build or the tests.
"""
import argparse
import os
import re
import sys

import torch

KINDS = [
    ("convolution forward (mkldnn / gemm)", r"mkldnn_convolution$|^aten::_convolution$|^aten::convolution$|^aten::conv2d$|thnn_conv|_slow_conv2d_forward"),
    ("convolution backward (data)", r"convolution_backward|conv.*backward"),
    ("batch norm", r"batch_norm"),
    ("elementwise (relu, add, masks, swish)", r"relu|threshold|add|mul|sigmoid|silu|hardtanh|clamp|where|fill|sub|div"),
    ("pooling", r"pool"),
    ("reductions / softmax", r"softmax|sum|mean"),
    ("linear", r"addmm|mm$|linear"),
    ("copies / layout", r"copy|contiguous|clone|empty|zeros|view|reshape|transpose|permute|as_strided|t$|expand|cat|stack|detach"),
]


def kind(name):
    for k, rx in KINDS:
        if re.search(rx, name):
            return k
    return "other"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default="../shared")
    p.add_argument("--arch", default="resnet50")
    p.add_argument("--weights", default=None)
    p.add_argument("--batch", type=int, default=9)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import icam_ref as R

    R.set_determinism(a.threads)
    fx = os.path.join(a.shared, "reference", "fixtures")
    if a.arch == "resnet50":
        net, _ = R.load_model(a.weights or os.path.join(fx, "resnet50_seed0.safetensors"),
                              "resnet50", torch.float32)
        norm = "imagenet"
    else:
        net, _ = R.load_model(a.weights, a.arch, torch.float32)
        norm = R.default_normalize(a.arch)
    layers = R.default_layers(net)
    x0 = R.load_image(os.path.join(fx, "chelsea224.png"))
    xin = R.to_model_input(x0, norm)
    batch = torch.stack([xin * (1 - 0.01 * i) for i in range(a.batch)])

    def pass_(backward):
        x = batch.clone().requires_grad_(backward)
        with R.ActivationRecorder(net, layers) as rec:
            if backward:
                logits = net(x)
                acts = [rec.acts[l] for l in layers]
                obj = torch.softmax(logits, 1)[:, 0].sum()
                torch.autograd.grad(obj, [x] + acts)
            else:
                with torch.no_grad():
                    net(x)

    for backward in (True, False):
        pass_(backward)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(a.repeats):
                pass_(backward)
        totals = {}
        for e in prof.key_averages():
            k = kind(e.key)
            totals[k] = totals.get(k, 0.0) + e.self_cpu_time_total / 1e3 / a.repeats
        t = sum(totals.values())
        label = "forward+backward" if backward else "forward only"
        print(f"{a.arch} batch {a.batch}, {a.threads} threads, {label}: "
              f"{t:.0f} ms of op self time per pass (wall time of the ops)")
        print("| kind | ms | share |\n|---|---|---|")
        for k, v in sorted(totals.items(), key=lambda kv: -kv[1]):
            print(f"| {k} | {v:.0f} | {100 * v / t:.1f} % |")


if __name__ == "__main__":
    main()
