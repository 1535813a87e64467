"""Arrays as images; bad inputs raise the right exception with the command's message."""

import warnings

import numpy as np
import pytest

import icam
from conftest import cli_error


def test_array_input_equals_file_input(resnet, chelsea):
    from_file = resnet.explain(chelsea)
    arr = icam.read_image(chelsea)
    assert arr.dtype == np.uint8 and arr.shape == (224, 224, 3)
    from_array = resnet.explain(arr)
    assert np.array_equal(from_array.heatmap, from_file.heatmap)
    rep_a, rep_f = from_array.report, from_file.report
    assert rep_a.pop("image") == "<array 224x224>" and rep_f.pop("image") == chelsea
    assert rep_a == rep_f
    # Non-contiguous views and lists work as numpy.asarray takes them.
    flipped = np.ascontiguousarray(arr[:, ::-1])
    assert np.array_equal(resnet.explain(arr[:, ::-1]).heatmap, resnet.explain(flipped).heatmap)
    assert resnet.predict(arr, top_k=2) == resnet.predict(chelsea, top_k=2)


def test_grey_and_rgba_arrays_convert_as_files_do(resnet, chelsea):
    grey = icam.read_image(chelsea)[:, :, 1]
    as_rgb = np.repeat(grey[:, :, None], 3, axis=2)
    assert np.array_equal(resnet.explain(grey, method="gradcam").heatmap,
                          resnet.explain(as_rgb, method="gradcam").heatmap)
    rgb = icam.read_image(chelsea)
    rgba = np.concatenate([rgb, np.full(rgb.shape[:2] + (1,), 7, np.uint8)], axis=2)
    assert np.array_equal(resnet.explain(rgba, method="gradcam").heatmap,
                          resnet.explain(rgb, method="gradcam").heatmap)


@pytest.mark.parametrize(
    "bad",
    [np.zeros((64, 64, 3), np.float32), np.zeros((64, 64, 2), np.uint8), np.zeros((2, 64, 64, 3), np.uint8),
     np.zeros((0, 64, 3), np.uint8), "not an image at all"],
)
def test_bad_arrays_are_value_errors(resnet, bad):
    if isinstance(bad, str):
        with pytest.raises(FileNotFoundError, match="image not found: not an image at all"):
            resnet.explain(bad)
        return
    with pytest.raises(ValueError, match="image array"):
        resnet.explain(bad)


def test_small_image_is_a_value_error_as_the_cli(resnet):
    with pytest.raises(icam.IcamError, match="at least 32"):
        resnet.explain(np.zeros((16, 16, 3), np.uint8))


# (keywords, flags): the same bad option to Python and to the command.
BAD_OPTIONS = [
    ({"alpha": 1.5}, ["--alpha", "1.5"]),
    ({"threshold": 0.0}, ["--threshold", "0"]),
    ({"class_": 5000}, ["--class", "5000"]),
    ({"class_": "no such class"}, ["--class", "no such class"]),
    ({"layers": "layer9"}, ["--layers", "layer9"]),
    ({"method": "gradcampp", "gradcampp_eps": -1.0}, ["--method", "gradcampp", "--gradcampp-eps", "-1"]),
    ({"method": "gradcam", "dump_intermediates": "x"}, ["--method", "gradcam", "--dump-intermediates", "x"]),
    ({"eigen_smooth": True}, ["--eigen-smooth"]),
    ({"method": "eigencam", "finer": True}, ["--method", "eigencam", "--finer"]),
    ({"method": "scorecam", "batch_size": 0}, ["--method", "scorecam", "--batch-size", "0"]),
]


@pytest.mark.parametrize("kwargs,flags", BAD_OPTIONS, ids=[str(k) for k, _ in BAD_OPTIONS])
def test_bad_options_are_value_errors_with_the_cli_message(icam_bin, fixtures, chelsea, resnet, kwargs, flags, tmp_path):
    expected = cli_error(
        icam_bin, "explain", chelsea, "--weights", fixtures / "resnet50_seed0.safetensors",
        "--no-resize", "--out", tmp_path / "cli", *flags,
    )
    with pytest.raises(ValueError) as e:
        resnet.explain(chelsea, out=tmp_path / "py", **kwargs)
    assert str(e.value) == expected
    assert not (tmp_path / "py").exists() and not (tmp_path / "cli").exists()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"method": "nope"}, "invalid value 'nope' for '--method <METHOD>'"),
        ({"n": "eight"}, "invalid value 'eight' for '--n <N>'"),
        ({"alpha": "x"}, "invalid value 'x' for '--alpha <ALPHA>'"),
        ({"no_resize": "yes"}, "--no-resize: no_resize takes True or False"),
        ({"noise": "n.npy"}, "the following required arguments were not provided: --mask <NPY>"),
        ({"finer_k": 5}, "the following required arguments were not provided: --finer"),
        ({"scaling": "pytorch"}, "invalid value 'pytorch' for '--scaling <SCALING>'"),
    ],
)
def test_unparsable_values_are_value_errors(resnet, chelsea, kwargs, message):
    with pytest.raises(ValueError) as e:
        resnet.explain(chelsea, **kwargs)
    assert str(e.value).startswith(message), str(e.value)
    assert "\n" not in str(e.value)


def test_unknown_keywords_are_type_errors(resnet, chelsea):
    with pytest.raises(TypeError, match="unexpected keyword argument 'alpah'"):
        resnet.explain(chelsea, alpah=0.3)
    with pytest.raises(TypeError, match="`weights` is an option of icam.Model.load"):
        resnet.explain(chelsea, weights="x.safetensors")
    with pytest.raises(TypeError, match="two values"):
        resnet.explain(chelsea, class_=1, target=2)


def test_missing_and_corrupt_files(fixtures, chelsea, resnet, tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        icam.Model.load(tmp_path / "nope.safetensors")
    with pytest.raises(FileNotFoundError, match="image not found"):
        resnet.explain(tmp_path / "missing.png")
    bad = tmp_path / "corrupt.png"
    bad.write_bytes(open(chelsea, "rb").read()[:300])
    with pytest.raises(icam.IcamError):
        resnet.explain(bad)
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes((fixtures / "resnet50_seed0.safetensors").read_bytes()[:5000])
    with pytest.raises(icam.IcamError):
        icam.Model.load(truncated)
    with pytest.raises(ValueError, match="architecture"):
        icam.Model.load(fixtures / "resnet50_seed0.safetensors", arch="vgg16")
    with pytest.raises(FileNotFoundError):
        icam.evaluate(tmp_path / "no-data", weights=fixtures / "resnet50_seed0.safetensors")
    with pytest.raises(ValueError, match="--shard"):
        resnet.evaluate(tmp_path, shard="3/2")


def test_per_call_preprocessing(fixtures, chelsea, resnet):
    """no_resize and normalize change per call and default to the model's."""
    resized = icam.Model.load(fixtures / "resnet50_seed0.safetensors")
    assert not resized.no_resize and resnet.no_resize
    a = resized.explain(chelsea, method="gradcam", no_resize=True)
    b = resnet.explain(chelsea, method="gradcam")
    assert np.array_equal(a.heatmap, b.heatmap) and a.report == b.report
    c = resnet.explain(chelsea, method="gradcam", normalize="none")
    assert c.report["normalize"] == "none" and not np.array_equal(c.heatmap, b.heatmap)
    assert resnet.normalize == "imagenet"


def test_warnings_are_icam_warnings(resnet, chelsea):
    # This setting (the paper's reading, spatial bias) fuses to an all-zero map on the
    # random-weight model: a warning, as the CLI's.
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = resnet.explain(
            chelsea, preset="paper", alpha=0.1, bias="spatial", threshold=0.9, class_="tiger cat"
        )
    got = [str(x.message) for x in w if issubclass(x.category, icam.IcamWarning)]
    assert got == r.warnings == r.report["warnings"]
    assert "the heatmap is all zero" in got[0]


def test_the_lock_is_released_during_the_network_pass(resnet, chelsea):
    """Another Python thread runs while explain() computes."""
    import threading
    import time

    ticks, done = [], threading.Event()

    def tick():
        while not done.is_set():
            ticks.append(1)
            time.sleep(0.001)

    t = threading.Thread(target=tick)
    t.start()
    ticks.clear()
    resnet.explain(chelsea)
    n = len(ticks)
    done.set()
    t.join()
    assert n > 20, f"only {n} ticks while explaining"
