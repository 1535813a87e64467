"""Export small torchvision CNNs (random weights, reduced widths) to ONNX with both PyTorch
exporters, plus PyTorch's logits (float32 and float64) and the activation, gradient and
Grad-CAM map at one named module, for icam's ONNX tests.

    /work/refenv/bin/python tools/make_onnx_fixtures.py            # the small committed fixtures
    /work/refenv/bin/python tools/make_onnx_fixtures.py --only none --resnet50
        # only the ONNX exports of the reference ResNet-50
        # (shared/reference/fixtures/resnet50_seed0.safetensors) into target/onnx-fixtures/
        # (gitignored; crates/icam/tests/golden.rs skips when they are absent)

Each family is exported once with the TorchScript exporter (`dynamo=False`, opset 17) with
BatchNorm kept as BatchNormalization nodes (`training=PRESERVE`, no constant folding), so that
float64 comparisons at 1e-9 compare the same function, and some once more with PyTorch's
defaults (BatchNorm folded into the convolutions by the exporter) and with the torch.export-based
exporter (`dynamo=True`, opset 18). Widths are reduced so that the committed files stay small;
module names and graph structure are torchvision's.
"""

import argparse
import functools
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models import resnet, vgg, densenet, mobilenetv2, mobilenetv3, efficientnet
from torchvision.models import regnet, convnext, squeezenet, inception
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/icam-models/tests/fixtures/onnx")
NC = 10


def small_resnet():
    class SmallResNet(resnet.ResNet):
        def _make_layer(self, block, planes, blocks, stride=1, dilate=False):
            return super()._make_layer(block, planes // 32, blocks, stride, dilate)

    m = SmallResNet(resnet.Bottleneck, [3, 4, 6, 3], num_classes=NC)
    m.fc = nn.Linear(m.inplanes, NC)
    return m, 64, "layer4"


def small_vgg():
    cfg = [8, "M", 8, "M", 16, 16, "M", 16, 16, "M"]
    m = vgg.VGG(vgg.make_layers(cfg, batch_norm=False), num_classes=NC)
    m.classifier = nn.Sequential(
        nn.Linear(16 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, 32),
        nn.ReLU(True), nn.Dropout(), nn.Linear(32, NC))
    return m, 112, "features.14"


def small_vgg_bn():
    cfg = [8, "M", 8, "M", 16, 16, "M", 16, 16, "M"]
    m = vgg.VGG(vgg.make_layers(cfg, batch_norm=True), num_classes=NC)
    m.avgpool = nn.AdaptiveAvgPool2d((7, 7))
    m.classifier = nn.Sequential(
        nn.Linear(16 * 7 * 7, 32), nn.ReLU(True), nn.Dropout(), nn.Linear(32, NC))
    return m, 112, "features.20"


def small_densenet():
    m = densenet.DenseNet(growth_rate=8, block_config=(2, 3, 4, 3), num_init_features=16,
                          bn_size=2, num_classes=NC)
    return m, 64, "features.denseblock4"


def small_mobilenet_v2():
    m = mobilenetv2.MobileNetV2(width_mult=0.1, num_classes=NC)
    cin = m.features[18][0].in_channels
    m.features[18] = torchvision.ops.Conv2dNormActivation(cin, 64, kernel_size=1,
                                                          activation_layer=nn.ReLU6)
    m.classifier = nn.Sequential(nn.Dropout(p=0.2), nn.Linear(64, NC))
    return m, 64, "features.18"


def small_mobilenet_v3():
    setting, _ = mobilenetv3._mobilenet_v3_conf("mobilenet_v3_small", width_mult=0.25)
    m = mobilenetv3.MobileNetV3(setting, last_channel=64, num_classes=NC)
    return m, 64, "features.12"


def small_efficientnet():
    setting, last = efficientnet._efficientnet_conf("efficientnet_b0", width_mult=0.1,
                                                    depth_mult=0.25)
    m = efficientnet.EfficientNet(setting, dropout=0.2, last_channel=last, num_classes=NC)
    return m, 64, "features.8"


def small_regnet():
    params = regnet.BlockParams.from_init_params(depth=6, w_0=8, w_a=4.0, w_m=2.0,
                                                 group_width=8, se_ratio=0.25)
    return regnet.RegNet(params, num_classes=NC), 64, "trunk_output"


def small_convnext():
    C = convnext.CNBlockConfig
    cfg = [C(8, 16, 1), C(16, 32, 1), C(32, 64, 2), C(64, None, 1)]
    return convnext.ConvNeXt(cfg, num_classes=NC), 64, "features.7"


def small_squeezenet():
    m = squeezenet.SqueezeNet(version="1_1", num_classes=NC)
    F = squeezenet.Fire
    m.features = nn.Sequential(
        nn.Conv2d(3, 16, kernel_size=3, stride=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        F(16, 4, 8, 8), F(16, 4, 8, 8),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        F(16, 8, 16, 16), F(32, 8, 16, 16),
        nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
        F(32, 12, 24, 24), F(48, 12, 24, 24), F(48, 16, 32, 32), F(64, 16, 32, 32))
    final = nn.Conv2d(64, NC, kernel_size=1)
    m.classifier = nn.Sequential(nn.Dropout(p=0.5), final, nn.ReLU(inplace=True),
                                 nn.AdaptiveAvgPool2d((1, 1)))
    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            nn.init.kaiming_uniform_(mod.weight)
            nn.init.uniform_(mod.bias, 0.0, 0.1)
    return m, 67, "features.12"


def small_inception():
    def scaled(c):
        return c if c == 3 else max(c // 16, 1)

    def conv_block(cin, cout, **kw):
        return inception.BasicConv2d(scaled(cin), scaled(cout), **kw)

    blocks = [conv_block] + [functools.partial(b, conv_block=conv_block) for b in (
        inception.InceptionA, inception.InceptionB, inception.InceptionC, inception.InceptionD,
        inception.InceptionE, inception.InceptionAux)]
    m = inception.Inception3(num_classes=NC, aux_logits=False, transform_input=False,
                             inception_blocks=blocks, init_weights=False)
    m.fc = nn.Linear(sum(scaled(c) for c in (320, 768, 768, 192)), NC)
    return m, 75, "Mixed_7c"


FAMILIES = {
    "resnet": small_resnet,
    "vgg": small_vgg,
    "vgg_bn": small_vgg_bn,
    "densenet": small_densenet,
    "mobilenet_v2": small_mobilenet_v2,
    "mobilenet_v3": small_mobilenet_v3,
    "efficientnet": small_efficientnet,
    "regnet": small_regnet,
    "convnext": small_convnext,
    "squeezenet": small_squeezenet,
    "inception": small_inception,
}
# (family, variant): variant "ts" = TorchScript exporter, BatchNorm kept (f64-exact);
# "ts_fold" = TorchScript exporter with PyTorch's defaults; "dynamo" = torch.export-based.
DEFAULT_EXPORTS = [(f, "ts") for f in FAMILIES] + [
    ("resnet", "ts_fold"),
    ("resnet", "dynamo"), ("convnext", "dynamo"), ("efficientnet", "dynamo"),
]


def randomize_bn(m, g):
    """Non-trivial eval-mode BatchNorm statistics (fresh modules have mean 0, var 1)."""
    for mod in m.modules():
        if isinstance(mod, (nn.BatchNorm2d,)):
            c = mod.num_features
            mod.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            mod.running_var.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.weight.data.copy_(torch.rand(c, generator=g) * 0.5 + 0.75)
            mod.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def export(m, x, path, variant, dynamic_hw=False):
    if variant == "dynamo":
        prog = torch.onnx.export(m, (x,), dynamo=True, opset_version=18,
                                 dynamic_shapes=({0: torch.export.Dim("batch", max=64)},))
        prog.save(path, external_data=False)
        # Keep the module scopes icam reads; drop the rest of the per-node metadata (stack
        # traces, FX node dumps), which is most of a small model's file.
        import onnx
        mp = onnx.load(path)
        for n in mp.graph.node:
            keep = [p for p in n.metadata_props if p.key == "pkg.torch.onnx.name_scopes"]
            del n.metadata_props[:]
            n.metadata_props.extend(keep)
        onnx.save(mp, path)
    else:
        kw = dict(dynamo=False, opset_version=17, input_names=["input"],
                  output_names=["logits"], dynamic_axes={"input": {0: "batch"}})
        if dynamic_hw:
            kw["dynamic_axes"] = {"input": {0: "batch", 2: "height", 3: "width"}}
        if variant == "ts":
            kw.update(training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)
        torch.onnx.export(m, (x,), path, **kw)


def module_by_path(m, path):
    for p in path.split("."):
        m = getattr(m, p) if not p.isdigit() else m[int(p)]
    return m


def reference(m, x, layer):
    """Logits, and the activation/gradient/Grad-CAM at `layer` for the predicted class of
    each sample (objective: sum over the batch of each sample's predicted-class logit)."""
    store = {}
    mod = module_by_path(m, layer)
    h = mod.register_forward_hook(lambda _m, _i, o: store.__setitem__("a", o))
    logits = m(x)
    h.remove()
    a = store["a"]
    cls = logits.argmax(1)
    obj = logits.gather(1, cls[:, None]).sum()
    (g,) = torch.autograd.grad(obj, a)
    w = g.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((w * a).sum(1))
    return logits.detach(), a.detach(), g.detach(), cam.detach(), cls


def make(family, variant, out_dir):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(1)
    m, size, layer = FAMILIES[family]()
    m.eval()
    with torch.no_grad():
        randomize_bn(m, g)
    x = torch.randn(2, 3, size, size, generator=g)
    name = f"{family}_{variant}"
    path = os.path.join(out_dir, name + ".onnx")
    export(m, x, path, variant)
    t = {"input": x.contiguous()}
    for dt, suffix in ((torch.float32, "f32"), (torch.float64, "f64")):
        md = m.to(dt)
        logits, a, gr, cam, cls = reference(md, x.to(dt), layer)
        t[f"logits_{suffix}"] = logits.double().contiguous()
        t[f"cam_{suffix}"] = cam.double().contiguous()
        if suffix == "f64":
            t["act_f64"] = a.contiguous()
            t["grad_f64"] = gr.contiguous()
            t["class"] = cls.double()
    m.float()
    meta = {"family": family, "variant": variant, "layer": layer, "size": str(size)}
    save_file(t, os.path.join(out_dir, name + ".safetensors"), metadata=meta)
    print(f"{name}: {os.path.getsize(path) / 1024:.0f} KB, layer {layer}, classes {cls.tolist()}")


def resnet50_exports(out_dir):
    from safetensors.torch import load_file
    w = os.path.join(ROOT, "../../shared/reference/fixtures/resnet50_seed0.safetensors")
    if not os.path.exists(w):
        w = "/work/shared/reference/fixtures/resnet50_seed0.safetensors"
    m = torchvision.models.resnet50(weights=None)
    m.load_state_dict(load_file(w), strict=False)
    m.eval()
    x = torch.zeros(1, 3, 224, 224)
    for variant in ("ts", "ts_fold", "dynamo"):
        path = os.path.join(out_dir, f"resnet50_seed0_{variant}.onnx")
        # The TorchScript exports leave height and width open (any image size, e.g. small
        # inputs for instruction counts under callgrind).
        export(m, x, path, variant, dynamic_hw=variant != "dynamo")
        print(path, os.path.getsize(path))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", help="family_variant names to make")
    ap.add_argument("--resnet50", action="store_true")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for fam, var in DEFAULT_EXPORTS:
        if a.only and f"{fam}_{var}" not in a.only:
            continue
        make(fam, var, a.out)
    if a.resnet50:
        out = os.path.join(ROOT, "target/onnx-fixtures")
        os.makedirs(out, exist_ok=True)
        resnet50_exports(out)


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
