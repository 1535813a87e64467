#!/usr/bin/env python3
"""Offline prototype of I-CAM fusion readings (docs/faithfulness.md, "explored offline").

Not used by the build or the tests. It re-fuses the per-layer maps that `icam explain
--dump-intermediates` writes, so that readings which are not icam options can be tried in
seconds; every reading that icam adopted was then measured with `icam eval`.

  python3 tools/dev_set.py --shared ../shared --out /tmp/icam-dev
  cd /tmp/icam-dev && tail -n +2 dev.csv | cut -d, -f1 | sort -u | while read p; do
    n=$(echo $p | tr / _); icam explain $p --out /tmp/dump/$n/out --dump-intermediates /tmp/dump/$n/dump \\
      --smooth exp --bias channel --bias-sc none --threshold 0.95; done
  icam eval /tmp/icam-dev/dev.csv --out /tmp/eval-gc --methods gradcam --metrics localisation
  python tools/fusion_prototype.py --dump /tmp/dump --dev /tmp/icam-dev/dev.csv --eval /tmp/eval-gc/per_image.csv

With `--bias channel --bias-sc none --bias-pool mean` (the recommended preset's), `cam_L.npy`
minus `bias_L.npy` is a layer's uncentred map `Σ_k w A` and `bias_L.npy` its constant
`−Σ_k mean(w)·mean(A)`. Metrics as icam's (crates/icam/src/metrics.rs): energy in the boxes
(Eq. 32) and the IoU of the box of the largest 8-connected component above 0.5·max, the
latter over correctly classified images (from the `correct` column of an eval CSV).
Needs numpy, scipy, torch (bilinear upsampling as PyTorch's, align_corners=False).
"""
import argparse
import csv
import json
import math
import os

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage


def up(m, h=224, w=224):
    t = torch.from_numpy(m)[None, None]
    return F.interpolate(t, size=(h, w), mode="bilinear", align_corners=False)[0, 0].numpy()


def box_mask(bx, h=224, w=224):
    ys = np.arange(h) + 0.5
    xs = np.arange(w) + 0.5
    m = np.zeros((h, w), bool)
    for x0, y0, x1, y1 in bx:
        m |= (ys[:, None] >= y0) & (ys[:, None] < y1) & (xs[None, :] >= x0) & (xs[None, :] < x1)
    return m


def energy(m, bm):
    s = m.sum()
    return 0.0 if s == 0 else m[bm].sum() / s


def iou_box(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0


def loc_iou(m, bx, t=0.5):
    mask = m > t * m.max()
    lab, n = ndimage.label(mask, structure=np.ones((3, 3)))
    if n == 0:
        return 0.0
    k = int(np.argmax(ndimage.sum(mask, lab, range(1, n + 1)))) + 1
    ys, xs = np.where(lab == k)
    b = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]
    return max(iou_box(b, g) for g in bx)


def mm(x):
    x = x - x.min()
    return x / x.max() if x.max() > 0 else x


def select(scores, t):
    """Eqs. 11-14: the smallest top-k reaching T of the total, W = S / sum of the selected."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    total, acc, sel = sum(scores), 0.0, []
    for i in order:
        acc += scores[i]
        sel.append(i)
        if acc >= t * total:
            break
    s = sum(scores[i] for i in sel)
    return {i: scores[i] / s for i in sel}


# Per-layer maps: uncentred, or centred by c times the GAP channel bias, then ReLU + min-max.
def uncentred(u, c_l, c):
    return mm(up(u))


def centred(u, c_l, c):
    return mm(np.maximum(up(u) + c * c_l, 0))


def weighted_sum(post, t=0.95, c=1.0, power=1.0):
    def f(rep, layers):
        w = {i: x ** power for i, x in select(rep["layer_scores"], t).items()}
        s = sum(w.values())
        return mm(np.maximum(sum((x / s) * post(*layers[i], c) for i, x in w.items()), 0))
    return f


def weighted_max(post, t=0.95, c=1.0, weighted=True):
    def f(rep, layers):
        w = select(rep["layer_scores"], t)
        return mm(np.max([(x if weighted else 1.0) * post(*layers[i], c) for i, x in w.items()], axis=0))
    return f


def power_mean(post, p, t=0.95):
    def f(rep, layers):
        w = select(rep["layer_scores"], t)
        s = sum(w.values())
        return mm(sum((x / s) * post(*layers[i], 1.0) ** p for i, x in w.items()) ** (1 / p))
    return f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dump", required=True)
    ap.add_argument("--dev", required=True)
    ap.add_argument("--eval", required=True, help="an icam eval per_image.csv of the same images")
    a = ap.parse_args()
    boxes = {}
    for r in csv.DictReader(open(a.dev)):
        boxes.setdefault(r["path"], []).append([float(r[k]) for k in ("xmin", "ymin", "xmax", "ymax")])
    correct = {r["image"]: r["correct"] for r in csv.DictReader(open(a.eval))}
    data = {}
    for name, bxs in boxes.items():
        d = os.path.join(a.dump, name.replace("/", "_"))
        rep = json.load(open(os.path.join(d, "out", "report.json")))
        g = rep["geometry"]
        sx, sy = g["resized"][0] / g["original"][0], g["resized"][1] / g["original"][1]
        cx, cy = g["crop"][0], g["crop"][1]
        bx = [[max(0, x0 * sx - cx), max(0, y0 * sy - cy), min(224, x1 * sx - cx), min(224, y1 * sy - cy)]
              for x0, y0, x1, y1 in bxs]
        layers = []
        for l in rep["layer_names"]:
            cam = np.load(os.path.join(d, "dump", f"cam_{l}.npy"))
            b = np.load(os.path.join(d, "dump", f"bias_{l}.npy"))
            layers.append((cam - b, float(b.flat[0])))
        data[name] = (rep, bx, layers)

    def run(label, fn):
        e, i = [], []
        for name, (rep, bx, layers) in data.items():
            m = fn(rep, layers)
            e.append(energy(m, box_mask(bx)))
            if correct.get(name) == "1":
                i.append(loc_iou(m, bx))
        se = lambda v: np.std(v, ddof=1) / math.sqrt(len(v))
        print(f"| {label} | {np.mean(e):.3f} ± {se(e):.3f} | {np.mean(i):.3f} ± {se(i):.3f} |")

    print("| reading | energy | IoU@0.5 (correct) |\n|---|---|---|")
    run("sum, uncentred (bias none)", weighted_sum(uncentred))
    run("sum, centred", weighted_sum(centred))
    for t in (0.5, 0.2):
        run(f"sum, centred, T = {t}", weighted_sum(centred, t))
    for c in (0.25, 0.5, 0.75):
        for t in (0.95, 0.2):
            run(f"sum, partly centred c = {c}, T = {t}", weighted_sum(centred, t, c))
    for p in (2, 4, 8):
        run(f"sum, centred, W ∝ S^{p}", weighted_sum(centred, power=p))
    for p in (2, 4, 8, 16):
        run(f"power mean p = {p}, centred", power_mean(centred, p))
    for t in (0.95, 0.5, 0.2):
        run(f"max, centred, T = {t}", weighted_max(centred, t))
        run(f"max, uncentred, T = {t}", weighted_max(uncentred, t))
    run("max, centred, unweighted", weighted_max(centred, weighted=False))
    for c in (0.5, 0.75, 1.5):
        run(f"max, partly centred c = {c}", weighted_max(centred, c=c))


if __name__ == "__main__":
    main()
