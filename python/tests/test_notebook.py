"""What a notebook shows: the overlay as PNG (IPython's ``_repr_png_`` protocol), useful
reprs, the evaluation's table as Markdown."""

import numpy as np

import icam
from pngread import decode


def test_repr_png_is_the_overlay(resnet, chelsea):
    r = resnet.explain(chelsea, method="gradcam")
    png = r._repr_png_()
    assert isinstance(png, bytes) and png[:8] == b"\x89PNG\r\n\x1a\n"
    img = decode(png)
    assert img.shape == (224, 224, 3)
    assert np.array_equal(img, r.overlay())
    # IPython's display formatter calls exactly this method when it is there.
    formatter = getattr(r, "_repr_png_")
    assert formatter() == png


def test_reprs(resnet, chelsea):
    r = resnet.explain(chelsea)
    text = repr(r)
    assert text.startswith("<icam.Explanation icam of ") and "chelsea224.png (224x224)" in text
    assert f"{len(r.report['selected_layers'])} of {len(r.layers)} layers selected" in text
    assert repr(r.layers[0]).startswith(f"<icam.Layer {r.layers[0].name} ")
    m = repr(resnet)
    assert m.startswith("<icam.Model resnet50 (1000 classes) from ") and "no_resize" in m
    g = resnet.explain(chelsea, method="gradcam")
    assert repr(g).endswith(": 1 layer>") and repr(g.layers[0]) == f"<icam.Layer {g.layers[0].name} 7x7>"
    assert g.layers[0].score is None and g.layers[0].selected is None
    d = r.layers[0].to_dict()
    assert set(d) == {"name", "map", "score", "rank", "weight", "selected"}


def test_module_surface():
    assert icam.__version__
    assert "icam" in icam.methods() and "gradcam" in icam.methods()
    assert issubclass(icam.IcamWarning, UserWarning) and issubclass(icam.IcamError, Exception)
    assert icam.Explanation.__module__ == "icam" and icam.IcamError.__module__ == "icam"
