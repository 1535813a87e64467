"""Integrative CAM: explain a CNN's decision by fusing the gradient-weighted class activation
maps of many layers, each weighted by a perturbation-based importance score.

A front-end over the same Rust library as the ``icam`` command (no PyTorch)::

    import icam
    model = icam.Model.default()                  # EfficientNet-Lite0, fetched when missing
    r = model.explain("photo.jpg", alpha=0.4)     # or an H x W x 3 uint8 array
    r.heatmap, r.overlay(), r.report, r.layers    # numpy arrays, dict, per-layer facts
    r.save("out")                                 # the files of `icam explain`

Keyword arguments are the command's options (``--no-resize`` is ``no_resize``, ``--class``
is ``class_`` or ``target``) with the same defaults; ``icam.options("explain")`` lists them.
Bad options raise ``ValueError``, missing files ``FileNotFoundError``, other failures
``icam.IcamError``, all with the command's one-line messages.
"""

from ._icam import (
    Evaluation,
    Explanation,
    IcamError,
    IcamWarning,
    Layer,
    Model,
    __version__,
    evaluate,
    methods,
    options,
    read_image,
)

__all__ = [
    "Evaluation",
    "Explanation",
    "IcamError",
    "IcamWarning",
    "Layer",
    "Model",
    "__version__",
    "evaluate",
    "methods",
    "options",
    "read_image",
]
