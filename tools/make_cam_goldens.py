#!/usr/bin/env python3
"""Expected maps of the CAM family, made with the `grad-cam` package (jacobgil/pytorch-grad-cam
1.5.7) for icam's `--scaling grad-cam` tests (crates/icam/tests/cam_goldens.rs).

Not used by the build or the tests: run once with the reference environment, commit the output.

  /work/refenv/bin/python tools/make_cam_goldens.py --shared ../shared \
      --lite0 ~/.cache/icam/models/efficientnet-lite0-57934424.pth \
      --out crates/icam/tests/fixtures/cam_goldens.safetensors [--full-scorecam]

Models and input: the reference's random-weight ResNet-50 (`resnet50_seed0.safetensors`,
ImageNet normalisation) and the real EfficientNet-Lite0 (the PyPI wheel's .pth, `lite`
normalisation), both built by `shared/reference/icam_ref.py`, on `chelsea224.png` without
resizing. Target: the predicted class, passed explicitly as `ClassifierOutputTarget` (so that
`aug_smooth` does not re-predict on every augmented copy, which the package does when no target
is given). Layer: `layer4` (= icam's `layer4.2`) and `_head_act`.

Per case the file holds `<model>/<case>`: the package's map (H x W, float32, in [0, 1]) at
rows and columns 0, 4, ..., 220, 223 (57 x 57), and in the metadata `sum` and `wsum`
(sum of v_i and of v_i * (i % 97 + 1) over the full map in float64, i row-major), the layers,
options and facts of the run.

Ambiguities of the package and what this script does about them:
- Principal components (Eigen-CAM, EigenGrad-CAM, --eigen-smooth) have the sign LAPACK's SVD
  happens to return. icam makes the entry of largest magnitude of each projection positive
  (the first one on ties). This script wraps the package's `get_2d_projection` so that its
  own projection gets the same rule, and records whether LAPACK's sign was flipped
  (`eigen_flipped`).
- Ablation-CAM replaces ablated channels by 0 when the activation's minimum is 0, else by
  `min - 1e7`; that minimum is re-read after every ablated row of the batch, so with batch size
  B the i-th row gets `min - (i+1)·1e7`. icam uses `min - 1e7` for every channel; the cases
  on layers with negative values run the package with batch size 1, where the two agree.
- FEM's threshold test `A > mean + 2·std` can flip on float32 noise; `fem_margin` records
  the smallest |A - threshold| / max|A| of the run.
- Score-CAM on ResNet-50's layer4 (2,048 full forward passes) is too slow for `cargo test`:
  `scorecam_subset` holds the package's own Score-CAM channel weights (`get_cam_weights`) for
  the channels in `channels` (metadata) and the map those weights make; `--full-scorecam`
  adds the full map (`scorecam`, for an ignored test).
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

from safetensors.numpy import save_file

import pytorch_grad_cam as pgc
from pytorch_grad_cam import (AblationCAM, EigenCAM, EigenGradCAM, FEM, FinerCAM, FullGrad,
                              GradCAM, GradCAMElementWise, GradCAMPlusPlus, HiResCAM, LayerCAM,
                              ScoreCAM, XGradCAM)
from pytorch_grad_cam.utils import svd_on_activations
from pytorch_grad_cam.utils.image import scale_cam_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

SUB = list(range(0, 224, 4)) + [223]
FLIPS = []

_orig_projection = svd_on_activations.get_2d_projection


def projection_with_sign_rule(batch):
    """The package's projection, then icam's sign rule: the entry of largest magnitude of each
    projection is positive (the first one on ties)."""
    out = _orig_projection(batch)
    for i in range(out.shape[0]):
        flat = out[i].ravel()
        j = int(np.argmax(np.abs(flat)))
        if flat[j] < 0:
            out[i] = -out[i]
            FLIPS.append(True)
        else:
            FLIPS.append(False)
    return out


def patch_projection():
    import importlib
    for mod in ["base_cam", "hirescam", "grad_cam_elementwise", "eigen_cam", "eigen_grad_cam",
                "layer_cam", "fullgrad_cam", "ablation_layer"]:
        m = importlib.import_module(f"pytorch_grad_cam.{mod}")
        if hasattr(m, "get_2d_projection"):
            m.get_2d_projection = projection_with_sign_rule


METHODS = {
    "gradcam": GradCAM, "gradcampp": GradCAMPlusPlus, "layercam": LayerCAM,
    "hirescam": HiResCAM, "gradcam-elementwise": GradCAMElementWise, "xgradcam": XGradCAM,
    "eigengradcam": EigenGradCAM, "eigencam": EigenCAM, "fem": FEM, "scorecam": ScoreCAM,
    "ablationcam": AblationCAM, "fullgrad": FullGrad,
}


def checks(m):
    m = np.asarray(m, np.float64).ravel()
    return float(m.sum()), float((m * (np.arange(m.size) % 97 + 1)).sum())


CACHE = None


def run_case(net, x, c, layers, method, aug=False, eigen=False, finer=False, batch_size=None):
    """The package's map for one case (cached in --cache, the slow ones take minutes)."""
    key = "_".join([method, *layers, *(k for k, v in [("aug", aug), ("eigen", eigen),
                                                       ("finer", finer)] if v),
                    str(batch_size), str(c), str(tuple(x.shape))])
    path = os.path.join(CACHE, key + ".npz") if CACHE else None
    if path and os.path.exists(path):
        z = np.load(path)
        return z["out"], [bool(f) for f in z["flips"]]
    out, flips = _run_case(net, x, c, layers, method, aug, eigen, finer, batch_size)
    if path:
        np.savez(path, out=out, flips=np.array(flips, bool))
    return out, flips


def _run_case(net, x, c, layers, method, aug, eigen, finer, batch_size):
    FLIPS.clear()
    tl = [net.get_submodule(l) for l in layers]
    cls = METHODS[method]
    if method == "fullgrad":
        cam = cls(model=net, target_layers=[])
    elif finer:
        cam = FinerCAM(model=net, target_layers=tl, base_method=cls)
    else:
        cam = cls(model=net, target_layers=tl)
    if batch_size is not None:
        cam.batch_size = batch_size
    if finer:
        # targets=None: main category = argmax (the predicted class c), comparisons = the
        # classes at positions 1, 2, 3 of the logits sorted by |S_j - S_c|, alpha = 1.
        out = cam(x.clone(), targets=None, eigen_smooth=eigen, alpha=1.0)
        main = int(np.argmax(net(x).detach().numpy()[0]))
        assert main == c
    else:
        out = cam(x.clone(), targets=[ClassifierOutputTarget(c)], aug_smooth=aug,
                  eigen_smooth=eigen)
    if hasattr(cam, "activations_and_grads"):
        cam.activations_and_grads.release()
    return np.asarray(out[0], np.float32), list(FLIPS)


def fem_margin(net, x, layer, k=2.0):
    acts = {}
    h = net.get_submodule(layer).register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    with torch.no_grad():
        net(x)
    h.remove()
    a = acts["a"][0].numpy()
    th = a.mean(axis=(1, 2), keepdims=True) + k * a.std(axis=(1, 2), keepdims=True)
    return float(np.abs(a - th).min() / np.abs(a).max())


def scorecam_subset(net, x, c, layer, channels):
    """The package's Score-CAM channel weights for a subset of the layer's channels (its own
    get_cam_weights on the sliced activations) and the map they make with its post-processing."""
    acts = {}
    h = net.get_submodule(layer).register_forward_hook(lambda m, i, o: acts.__setitem__("a", o))
    with torch.no_grad():
        net(x)
    h.remove()
    a = acts["a"].numpy()[:, channels]
    cam = ScoreCAM(model=net, target_layers=[net.get_submodule(layer)])
    w = cam.get_cam_weights(x, None, [ClassifierOutputTarget(c)], a, None)
    cam.activations_and_grads.release()
    raw = (w[:, :, None, None] * a).sum(axis=1)
    out = scale_cam_image(np.maximum(raw, 0), (x.shape[-1], x.shape[-2]))
    out = scale_cam_image(np.maximum(out[:, None], 0).mean(axis=1))
    return np.asarray(out[0], np.float32), np.asarray(w[0], np.float32)


def fullgrad_independent(net, x, c):
    """FullGrad without the package's hook bookkeeping: autograd on every BatchNorm output, to
    check that the package pairs each bias with its own gradient."""
    from pytorch_grad_cam.utils.image import scale_accross_batch_and_channels
    outs = []
    def keep(mod, i, o):
        o.retain_grad()
        outs.append((mod, o))

    hooks = [m.register_forward_hook(keep) for m in net.modules()
             if type(m) is torch.nn.BatchNorm2d]
    xi = x.clone().requires_grad_(True)
    y = net(xi)
    y[0, c].backward()
    for h in hooks:
        h.remove()
    size = (x.shape[-1], x.shape[-2])
    terms = [scale_accross_batch_and_channels(np.abs((xi.grad * x).numpy()), size)]
    for mod, o in outs:
        bias = (-(mod.running_mean * mod.weight / torch.sqrt(mod.running_var + mod.eps))
                + mod.bias).detach().numpy()
        t = np.abs(bias[None, :, None, None] * o.grad.numpy())
        terms.append(scale_accross_batch_and_channels(t, size).sum(axis=1)[:, None])
    total = np.concatenate(terms, axis=1).sum(axis=1)
    return scale_cam_image(total)[0], len(outs)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default="../shared")
    p.add_argument("--lite0", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--full-scorecam", action="store_true")
    p.add_argument("--cache", help="folder keeping each case's map between runs")
    a = p.parse_args()
    global CACHE
    CACHE = a.cache
    if CACHE:
        os.makedirs(CACHE, exist_ok=True)
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import icam_ref as R

    R.set_determinism(2)
    patch_projection()
    fx = os.path.join(a.shared, "reference", "fixtures")
    x_pix = R.load_image(os.path.join(fx, "chelsea224.png"))
    models = {
        "resnet50": (R.load_safetensors_model(os.path.join(fx, "resnet50_seed0.safetensors"))[0],
                     "imagenet", "layer4", ["layer3", "layer4"], "layer1.0"),
        "lite0": (R.load_model(a.lite0, "efficientnet_lite0")[0], "lite", "_head_act",
                  ["_blocks.15", "_head_act"], "_blocks.0"),
    }
    tensors, meta = {}, {"package": f"grad-cam {pgc.__version__ if hasattr(pgc, '__version__') else '1.5.7'}",
                         "rows_cols": SUB, "cases": {}}

    def put(model, case, m, **facts):
        key = f"{model}/{case}"
        tensors[key] = np.ascontiguousarray(m[np.ix_(SUB, SUB)], np.float32)
        s, ws = checks(m)
        meta["cases"][key] = dict(sum=s, wsum=ws, **facts)
        print(f"{key:40s} sum {s:12.4f} {json.dumps(facts)}", flush=True)

    for name, (net, norm, layer, multi, early) in models.items():
        x = R.to_model_input(x_pix, norm).unsqueeze(0)
        with torch.no_grad():
            logits = net(x)[0]
        c = int(logits.argmax())
        meta[name] = {"target_class": c, "normalization": norm, "layer": layer}
        for m in ["gradcam", "gradcampp", "layercam", "hirescam", "gradcam-elementwise",
                  "xgradcam", "eigengradcam", "eigencam", "fem", "ablationcam", "fullgrad"]:
            out, flips = run_case(net, x, c, [layer], m)
            facts = {"method": m, "layers": [layer]}
            if flips:
                facts["eigen_flipped"] = flips
            if m == "fem":
                facts["fem_margin"] = fem_margin(net, x, layer)
            put(name, m, out, **facts)
        for m, opts in [("gradcam", {"eigen": True}), ("gradcam-elementwise", {"eigen": True}),
                        ("layercam", {"eigen": True}), ("fullgrad", {"eigen": True}),
                        ("gradcam", {"aug": True}), ("hirescam", {"aug": True}),
                        ("eigencam", {"aug": True}),
                        ("gradcam", {"finer": True}), ("layercam", {"finer": True})]:
            out, flips = run_case(net, x, c, [layer], m, **opts)
            suffix = "+".join(k for k in ("eigen", "aug", "finer") if opts.get(k))
            facts = {"method": m, "layers": [layer], **{k: True for k in opts}}
            if flips:
                facts["eigen_flipped"] = flips
            put(name, f"{m}+{suffix}", out, **facts)
        for m in ["layercam", "gradcam", "eigencam"]:
            out, flips = run_case(net, x, c, multi, m)
            put(name, f"{m}+multi", out, method=m, layers=multi,
                **({"eigen_flipped": flips} if flips else {}))
        # Ablation on a layer with negative values (min - 1e7): batch size 1 (see above).
        if name == "lite0":
            out, _ = run_case(net, x, c, [early], "ablationcam", batch_size=1)
            put(name, "ablationcam+early", out, method="ablationcam", layers=[early],
                batch_size=1)
            out, _ = run_case(net, x, c, [early], "scorecam")
            put(name, "scorecam+early", out, method="scorecam", layers=[early])
        if name == "resnet50":
            channels = list(range(0, 2048, 64))
            out, w = scorecam_subset(net, x, c, layer, channels)
            put(name, "scorecam_subset", out, method="scorecam", layers=[layer],
                channels=channels)
            tensors[f"{name}/scorecam_subset.weights"] = w
        if True:
            ind, nbias = fullgrad_independent(net, x, c)
            pkg, _ = run_case(net, x, c, [layer], "fullgrad")
            d = float(np.abs(ind - pkg).max())
            print(f"fullgrad: package vs independent autograd ({nbias} BN layers): max|d| {d:.2e}")
            assert d < 1e-5, d
            meta[name]["fullgrad_bias_layers"] = nbias
        if a.full_scorecam:
            out, _ = run_case(net, x, c, [layer], "scorecam")
            put(name, "scorecam", out, method="scorecam", layers=[layer])

    save_file(tensors, a.out, metadata={"json": json.dumps(meta)})
    print(f"wrote {a.out}: {len(tensors)} tensors, {os.path.getsize(a.out)} bytes")


if __name__ == "__main__":
    main()
