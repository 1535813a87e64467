#!/usr/bin/env python3
"""Make the small test fixtures of icam-models with the PyTorch reference (../shared/reference).

Not used by the build or the tests: run once, commit the outputs.

  python tools/make_model_fixtures.py --shared ../shared --out crates/icam-models/tests/fixtures

Writes
  resnet50_chelsea_grads.safetensors  For float32 and float64 (suffix _f32/_f64): logits of
      chelsea224.png under resnet50_seed0, and for the objectives `logit` and `prob` of the
      target class: the input gradient and every block gradient (layer1.0 .. layer4.2),
      subsampled (flat index % STRIDE == 0) to keep the file small; block activations likewise.
  weights_small.safetensors / weights_small_zip.pth / weights_small_legacy.pth
      The same small state dict (float32, float16, bfloat16, float64 tensors, a strided
      non-contiguous view, a num_batches_tracked counter) in the three formats.
"""
import argparse
import os
import sys

import numpy as np
import torch

STRIDE_IN = 8
STRIDE_BLOCK = 128


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shared", default="../shared")
    p.add_argument("--out", default="crates/icam-models/tests/fixtures")
    a = p.parse_args()
    sys.path.insert(0, os.path.join(a.shared, "reference"))
    import icam_ref as R
    from safetensors.torch import save_file

    R.set_determinism(2)
    fx = os.path.join(a.shared, "reference", "fixtures")
    out = {}
    meta = {"stride_input": str(STRIDE_IN), "stride_block": str(STRIDE_BLOCK)}
    for dt, suf in ((torch.float32, "f32"), (torch.float64, "f64")):
        net, _ = R.load_model(os.path.join(fx, "resnet50_seed0.safetensors"), "resnet50", dt)
        layers = R.default_layers(net)
        x = R.to_model_input(R.load_image(os.path.join(fx, "chelsea224.png")).to(dt), "imagenet")
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
    save_file({k: v.contiguous() for k, v in out.items()},
              os.path.join(a.out, "resnet50_chelsea_grads.safetensors"), metadata=meta)

    g = torch.Generator().manual_seed(0)
    base = torch.randn(6, 10, generator=g)
    sd = {
        "a.weight": torch.randn(4, 3, 3, 3, generator=g),
        "a.bias": torch.randn(4, generator=g).to(torch.float64),
        "b.half": torch.randn(5, 2, generator=g).to(torch.float16),
        "b.bf16": torch.randn(7, generator=g).to(torch.bfloat16),
        "c.strided": base.t()[2:8:2],  # non-contiguous view with an offset
        "bn.num_batches_tracked": torch.tensor(17, dtype=torch.int64),
    }
    save_file({k: v.contiguous() for k, v in sd.items()}, os.path.join(a.out, "weights_small.safetensors"))
    torch.save(sd, os.path.join(a.out, "weights_small_zip.pth"))
    torch.save(sd, os.path.join(a.out, "weights_small_legacy.pth"), _use_new_zipfile_serialization=False)
    print("wrote", sorted(os.listdir(a.out)))


if __name__ == "__main__":
    main()
