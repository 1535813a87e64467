"""Python's results equal the ``icam`` command's, bit for bit, on the reference fixtures
(ResNet-50 with seeded weights, chelsea224.png, no resize): the heatmap, every field of
report.json, the files ``save`` writes, and the PNG a notebook shows."""

import json

import numpy as np
import pytest

import icam
from conftest import run_cli
from pngread import decode


def cli_explain(icam_bin, fixtures, chelsea, out, *extra):
    run_cli(
        icam_bin, "explain", chelsea, "--weights", fixtures / "resnet50_seed0.safetensors",
        "--no-resize", "--out", out, *extra,
    )
    return {
        "heatmap": np.load(out / "heatmap.npy"),
        "report": json.loads((out / "report.json").read_text()),
        "overlay.png": (out / "overlay.png").read_bytes(),
        "layers.png": (out / "layers.png").read_bytes(),
    }


@pytest.mark.parametrize(
    "kwargs,flags",
    [
        ({}, []),
        ({"method": "gradcam"}, ["--method", "gradcam"]),
        (
            {"method": "hirescam", "scaling": "grad-cam", "eigen_smooth": True, "finer": True, "finer_k": 2},
            ["--method", "hirescam", "--scaling", "grad-cam", "--eigen-smooth", "--finer", "--finer-k", "2"],
        ),
        (
            {"alpha": 0.1, "bias": "spatial", "threshold": 0.9, "class_": "tiger cat"},
            ["--alpha", "0.1", "--bias", "spatial", "--threshold", "0.9", "--class", "tiger cat"],
        ),
    ],
    ids=["icam-defaults", "gradcam", "cam-options", "icam-options"],
)
@pytest.mark.filterwarnings("ignore::icam.IcamWarning")
def test_explain_equals_the_cli(icam_bin, fixtures, chelsea, resnet, tmp_path, kwargs, flags):
    cli = cli_explain(icam_bin, fixtures, chelsea, tmp_path / "cli", *flags)
    r = resnet.explain(chelsea, **kwargs)
    assert r.heatmap.dtype == np.float32 and r.heatmap.shape == (224, 224)
    assert np.array_equal(r.heatmap, cli["heatmap"])
    assert r.report == cli["report"]
    assert r._repr_png_() == cli["overlay.png"]
    # save() writes the same four files.
    written = r.save(tmp_path / "py")
    assert sorted(p.rsplit("/", 1)[-1] for p in map(str, written)) == [
        "heatmap.npy", "layers.png", "overlay.png", "report.json",
    ]
    for name in ["overlay.png", "layers.png", "report.json", "heatmap.npy"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    # The arrays are the pictures the files hold.
    assert np.array_equal(r.overlay(), decode(cli["overlay.png"]))
    assert np.array_equal(r.layer_grid(), decode(cli["layers.png"]))


def test_reference_perturbations_and_goldens(icam_bin, fixtures, chelsea, resnet, tmp_path):
    """With the reference's noise, masks and options (the paper's preset): equal to the CLI,
    and near the PyTorch golden."""
    noise, mask = fixtures / "noise_n8_seed0.npy", fixtures / "mask_n8_a0.4_seed0.npy"
    cli = cli_explain(
        icam_bin, fixtures, chelsea, tmp_path / "cli", "--noise", noise, "--mask", mask,
        "--preset", "paper", "--dump-intermediates", tmp_path / "cli-im",
    )
    r = resnet.explain(
        chelsea, noise=noise, mask=mask, preset="paper", out=tmp_path / "py",
        dump_intermediates=tmp_path / "py-im",
    )
    assert np.array_equal(r.heatmap, cli["heatmap"])
    assert r.report == cli["report"]
    for f in sorted((tmp_path / "cli-im").iterdir()):
        assert (tmp_path / "py-im" / f.name).read_bytes() == f.read_bytes(), f.name
    golden = np.load(fixtures / "golden" / "icam_default_f32.npy")
    assert np.abs(r.heatmap.astype(np.float64) - golden).max() <= 1e-2  # as crates/icam-app/tests
    # Per-layer facts are report.json's.
    rows = {l["name"]: l for l in r.report["layers"]}
    assert [l.name for l in r.layers] == r.report["layer_names"]
    for l in r.layers:
        assert (l.score, l.rank, l.weight, l.selected) == (
            rows[l.name]["score"], rows[l.name]["rank"], rows[l.name]["weight"], rows[l.name]["selected"],
        )
        assert l.map.dtype == np.float64 and l.map.ndim == 2
        cam = np.load(tmp_path / "py-im" / f"cam_{l.name}.npy")
        assert np.array_equal(l.map, cam)
    assert abs(sum(l.weight for l in r.layers) - 1.0) < 1e-9


def test_several_classes_as_the_cli(icam_bin, fixtures, chelsea, resnet, tmp_path):
    run_cli(
        icam_bin, "explain", chelsea, "--weights", fixtures / "resnet50_seed0.safetensors",
        "--no-resize", "--method", "layercam", "--class", "281,285", "--out", tmp_path / "cli",
    )
    rs = resnet.explain(chelsea, method="layercam", class_=[281, "285"], out=tmp_path / "py")
    assert [r.target for r in rs] == [281, 285]
    for r in rs:
        d = f"class-{r.target}"
        assert np.array_equal(r.heatmap, np.load(tmp_path / "cli" / d / "heatmap.npy"))
        for name in ["overlay.png", "report.json", "heatmap.npy"]:
            assert (tmp_path / "py" / d / name).read_bytes() == (tmp_path / "cli" / d / name).read_bytes()
    # `target` is `class_`; a single class gives one Explanation.
    one = resnet.explain(chelsea, method="layercam", target=285)
    assert isinstance(one, icam.Explanation) and np.array_equal(one.heatmap, rs[1].heatmap)


def test_passes_progress(resnet, chelsea):
    """Ablation-CAM on layer4: 2,048 ablated channels and the layer unchanged, in batches of
    the given size, reported to ``progress(done, total, layer)`` and in the report."""
    seen = []
    r = resnet.explain(
        chelsea, method="ablationcam", batch_size=700, progress=lambda *a: seen.append(a)
    )
    assert seen == [(0, 2049, "layer4"), (700, 2049, "layer4"), (1400, 2049, "layer4"), (2049, 2049, "layer4")]
    assert r.report["batch_size"] == 700
    # An exception in the callback stops nothing but is raised afterwards.
    def boom(*_):
        raise RuntimeError("stop")
    with pytest.raises(RuntimeError, match="stop"):
        resnet.explain(chelsea, method="ablationcam", batch_size=1024, progress=boom)


def test_predict_equals_the_cli(icam_bin, fixtures, chelsea, resnet):
    p = run_cli(
        icam_bin, "predict", chelsea, "--weights", fixtures / "resnet50_seed0.safetensors",
        "--no-resize", "--top-k", "3", "--json",
    )
    top = json.loads(p.stdout)["top"]
    got = resnet.predict(chelsea, top_k=3)
    assert got == [(t["class"], t["label"], t["logit"], t["prob"]) for t in top]
    assert len(resnet.predict(chelsea)) == 5  # --top-k's default


def test_evaluate_equals_the_cli(icam_bin, fixtures, data_dir, resnet, tmp_path):
    opts = dict(methods=["gradcam", "icam"], metrics="localisation", limit=2, n=2)
    flags = ["--methods", "gradcam,icam", "--metrics", "localisation", "--limit", "2", "--n", "2"]
    run_cli(
        icam_bin, "eval", data_dir, "--weights", fixtures / "resnet50_seed0.safetensors",
        "--out", tmp_path / "cli", *flags,
    )
    seen = []
    ev = icam.evaluate(
        data_dir, weights=fixtures / "resnet50_seed0.safetensors", out=tmp_path / "py",
        progress=lambda done, total, image: seen.append((done, total)), **opts,
    )
    assert ev.evaluated == 2 and seen == [(1, 2), (2, 2)]
    for name in ["per_image.csv", "summary.csv", "summary.md"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    assert ev.summary_md.strip() in (tmp_path / "py" / "summary.md").read_text()
    assert ev._repr_markdown_() == ev.summary_md
    # A loaded model serves too (its preprocessing: here no resize, unlike the run above).
    ev2 = resnet.evaluate(data_dir, out=tmp_path / "py2", no_resize=False, **opts)
    assert (tmp_path / "py2" / "per_image.csv").read_bytes() == (tmp_path / "cli" / "per_image.csv").read_bytes()
    assert ev2.evaluated == 2
