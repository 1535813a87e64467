#!/usr/bin/env python3
"""Where a network pass spends its time, per op kind: `perf record` on `icam bench`, the
samples' leaf functions grouped into kinds. The table of docs/performance.md comes from it.

  python3 tools/profile_ops.py --weights ../shared/reference/fixtures/resnet50_seed0.safetensors \
      --no-resize --image ../shared/reference/fixtures/chelsea224.png [--batch 9] [--repeats 5]

Runs the forward + backward measurement and the forward-only one (`icam bench --forward-only`)
under `perf record -e cpu-clock` (software sampling: works without hardware counters), and
prints, per kind, the share of samples of each and the share of the backward half (the
difference). Sample shares are proportions, robust to a loaded machine in a way wall-clock
times are not. Needs `perf` (Debian: linux-perf) and a release build (`cargo build --release`).
Leaf functions only: the release build has no frame pointers, so a gemm call is "gemm"
whichever convolution called it; the forward/backward split tells conv forward from
backward-data. Not used by the build or the tests.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

# (kind, regex on the symbol or DSO) — first match wins.
KINDS = [
    ("page faults (kernel zeroing fresh memory)", r"clear_page|folio_zero|do_huge_pmd|do_anonymous_page|handle_mm_fault|exc_page_fault"),
    ("gemm micro-kernels (conv fwd, conv bwd-data, linear)", r"^gemm_|gemm::|gemm_common"),
    ("conv bwd-data col2im scatter", r"conv_transpose"),
    ("depthwise conv (direct kernel)", r"depthwise|conv_plane_accumulate|small_channel"),
    ("conv im2col / NHWC packing / bias", r"burn_flex::ops::conv|im2col|add_bias"),
    ("pooling", r"pool"),
    ("elementwise (relu, add, masks, swish)", r"unary|binary|macerator|activation|comparison|mask|float::|clamp"),
    ("reductions / softmax", r"reduce|::sum|sum_dim|mean|softmax"),
    ("copies and fills (memcpy/memset, to_contiguous)", r"memmove|memcpy|memset|contiguous|copy_from|_copy_to_iter"),
    ("allocator (mimalloc)", r"^_?mi_|mimalloc"),
    ("rayon: parallel loops inlined into its consumers, scheduling, yields", r"rayon|crossbeam|sched|futex|finish_task_switch|_raw_spin|syscall|do_sched_yield|__schedule"),
    ("autodiff bookkeeping", r"burn_autodiff"),
    ("host-side conversions (icam)", r"icam|HostTensor|from_iter|spec_from_iter"),
    ("closures inlined into generic call_mut (im2col tiles, col2im, elementwise)", r"call_mut|call_once|consume_iter"),
]


def classify(sym):
    for kind, rx in KINDS:
        if re.search(rx, sym):
            return kind
    return "other"


def record(icam, args, extra, out):
    """CPU milliseconds per kind (samples at 999 Hz) of one `icam bench --only 0` run."""
    cmd = ["perf", "record", "-q", "-F", "999", "-e", "cpu-clock", "-o", out, icam, "bench",
           *args, "--network-only", "--only", "0", *extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    rep = subprocess.run(["perf", "report", "-i", out, "-n", "--no-children", "--sort", "sym",
                          "--stdio", "-g", "none"], check=True, capture_output=True,
                         text=True).stdout
    ms = {}
    for line in rep.splitlines():
        m = re.match(r"\s*[\d.]+%\s+(\d+)\s+\[[.k]\]\s+(.*)$", line)
        if m:
            k = classify(m.group(2).strip())
            ms[k] = ms.get(k, 0.0) + int(m.group(1)) * 1000.0 / 999.0
    return ms


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--icam", default="target/release/icam")
    p.add_argument("--batch", default="9")
    p.add_argument("--repeats", type=int, default=5)
    a, rest = p.parse_known_args()
    args = [*rest, "--batch", a.batch, "--repeats", str(a.repeats)]
    passes = a.repeats + 1  # the warm-up and the timed passes (loading the model is a few %)
    with tempfile.TemporaryDirectory() as d:
        both = record(a.icam, args, [], os.path.join(d, "both.data"))
        fwd = record(a.icam, args, ["--forward-only"], os.path.join(d, "fwd.data"))
    # Page faults are the first touch of the peak, once per process (the allocator keeps
    # freed memory mapped): reported as a total, not per pass.
    pf = KINDS[0][0]
    fault_b, fault_f = both.pop(pf, 0.0), fwd.pop(pf, 0.0)
    kinds = sorted(set(both) | set(fwd), key=lambda k: -both.get(k, 0.0))
    tb, tf = sum(both.values()), sum(fwd.values())
    print(f"CPU ms per pass (all threads), batch {a.batch}: forward+backward {tb / passes:.0f}, "
          f"forward only {tf / passes:.0f}; {pf}: {fault_b:.0f} and {fault_f:.0f} ms once "
          f"per process (the first touch of the peak)")
    print(f"| kind | fwd+bwd ms | share | forward ms | backward ms (difference) |")
    print("|---|---|---|---|---|")
    for k in kinds:
        b, f = both.get(k, 0.0) / passes, fwd.get(k, 0.0) / passes
        print(f"| {k} | {b:.0f} | {100 * b * passes / tb:.1f} % | {f:.0f} | {b - f:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
