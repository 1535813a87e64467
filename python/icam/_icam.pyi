"""Type stubs of the extension module ``icam._icam`` (re-exported by ``icam``).

The keyword options mirror the ``icam`` command's flags (``icam explain --help``) with the same
names (``-`` as ``_``) and defaults; ``tests/test_options.py`` fails when they drift apart.
"""

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal, Optional, Union, overload

import numpy as np
import numpy.typing as npt

__version__: str

PathLike = Union[str, os.PathLike[str]]
# A path, or an array numpy.asarray takes: uint8 (H, W, 3) RGB, (H, W) grey or (H, W, 4) RGBA.
ImageLike = Union[PathLike, npt.ArrayLike]
ClassSpec = Union[int, str]

class IcamError(Exception):
    """A failure that is neither a bad option (ValueError) nor a missing file
    (FileNotFoundError): an unreadable or hostile file, a numerical failure, the backend."""

class IcamWarning(UserWarning):
    """Something about a result the user should know; the result is still returned."""

class Layer:
    """One explained layer: its map and, for I-CAM, score, rank, weight and selection."""

    @property
    def name(self) -> str: ...
    @property
    def map(self) -> npt.NDArray[np.float64]:
        """The layer's map, float64 of shape (h, w) at the layer's resolution."""
    @property
    def score(self) -> Optional[float]:
        """S (Eq. 3); None for methods other than I-CAM."""
    @property
    def rank(self) -> Optional[int]:
        """1-based rank by score."""
    @property
    def weight(self) -> Optional[float]:
        """W (Eq. 14)."""
    @property
    def selected(self) -> Optional[bool]:
        """Selected for the fusion (Eqs. 11-13)."""
    def to_dict(self) -> dict[str, Any]: ...

class Explanation:
    """The explanation of one image for one class. A notebook shows its overlay."""

    @property
    def method(self) -> str: ...
    @property
    def target(self) -> int:
        """The class explained (index)."""
    @property
    def label(self) -> str:
        """``name (index)``, or the index for a model without class names."""
    @property
    def class_name(self) -> Optional[str]: ...
    @property
    def logit(self) -> float: ...
    @property
    def prob(self) -> float: ...
    @property
    def image(self) -> str:
        """The image's path as given, or ``<array WxH>``."""
    @property
    def warnings(self) -> list[str]: ...
    @property
    def heatmap(self) -> npt.NDArray[np.float32]:
        """float32 (H, W) of the model input, in [0, 1] (heatmap.npy)."""
    @property
    def report(self) -> dict[str, Any]:
        """The fields of report.json."""
    @property
    def layers(self) -> list[Layer]: ...
    def overlay(self) -> npt.NDArray[np.uint8]:
        """The heatmap on the original image at its own size: uint8 (height, width, 3)."""
    def layer_grid(self) -> npt.NDArray[np.uint8]:
        """One panel per layer and the final map (layers.png): uint8 RGB."""
    def save(
        self, out: PathLike, *, dump_intermediates: Optional[PathLike] = None
    ) -> list[str]:
        """Write heatmap.npy, overlay.png, layers.png, report.json into ``out``."""
    def _repr_png_(self) -> bytes: ...

class Evaluation:
    """What ``evaluate`` wrote and measured; a notebook shows the summary table."""

    @property
    def summary_md(self) -> str: ...
    @property
    def out(self) -> str: ...
    @property
    def per_image(self) -> str: ...
    @property
    def prominence(self) -> Optional[str]: ...
    @property
    def evaluated(self) -> int: ...
    @property
    def seconds(self) -> float: ...
    @property
    def notes(self) -> list[str]: ...
    def _repr_markdown_(self) -> str: ...

Method = Literal[
    "icam",
    "gradcam",
    "gradcampp",
    "layercam",
    "hirescam",
    "gradcam-elementwise",
    "xgradcam",
    "eigengradcam",
    "fullgrad",
    "scorecam",
    "ablationcam",
    "eigencam",
    "fem",
]
Normalize = Literal["imagenet", "lite", "none"]

class Model:
    """A CNN classifier, loaded (``Model.load`` / ``Model.default``)."""

    @staticmethod
    def load(
        weights: Optional[PathLike] = None,
        *,
        arch: Optional[str] = None,
        model: str = "efficientnet-lite0",
        model_dir: Optional[PathLike] = None,
        labels: Optional[PathLike] = None,
        no_resize: bool = False,
        normalize: Optional[Normalize] = None,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
    ) -> Model:
        """Load a weight file (safetensors, PyTorch ``.pth`` or ONNX; ``labels``: class names,
        one per line), or without one the cached store model ``model``."""
    @staticmethod
    def default(
        *,
        weights: Optional[PathLike] = None,
        arch: Optional[str] = None,
        model: str = "efficientnet-lite0",
        model_dir: Optional[PathLike] = None,
        labels: Optional[PathLike] = None,
        no_resize: bool = False,
        normalize: Optional[Normalize] = None,
        dtype: Literal["float32", "float64"] = "float32",
        device: str = "cpu",
    ) -> Model:
        """The store's model, fetched into the cache first when missing."""
    @overload
    def explain(
        self,
        image: ImageLike,
        *,
        class_: Union[None, ClassSpec] = None,
        target: Union[None, ClassSpec] = None,
        **options: Any,
    ) -> Explanation: ...
    @overload
    def explain(
        self,
        image: ImageLike,
        *,
        class_: Sequence[ClassSpec],
        **options: Any,
    ) -> list[Explanation]: ...
    def explain(
        self,
        image: ImageLike,
        *,
        out: Optional[PathLike] = None,
        dump_intermediates: Optional[PathLike] = None,
        progress: Optional[Callable[[int, int, str], Any]] = None,
        method: Method = "icam",
        class_: Union[None, ClassSpec, Sequence[ClassSpec]] = None,
        target: Union[None, ClassSpec, Sequence[ClassSpec]] = None,
        layers: Union[None, str, Sequence[str]] = None,
        colormap: Literal["inferno", "viridis", "turbo"] = "inferno",
        preset: Literal["paper", "recommended"] = "recommended",
        candidates: Optional[Literal["block-outputs", "block-activations"]] = None,
        n: Optional[int] = None,
        alpha: Optional[float] = None,
        seed: int = 0,
        threshold: Optional[float] = None,
        bias: Optional[Literal["channel", "spatial", "none"]] = None,
        channel_bias_form: Optional[Literal["product", "dot"]] = None,
        space: Optional[Literal["input", "pixel"]] = None,
        smooth: Optional[Literal["softmax", "exp"]] = None,
        svim_sigma: Optional[float] = None,
        score_target: Optional[Literal["prob", "logit"]] = None,
        score_upsample: Optional[Literal["bilinear", "nearest"]] = None,
        score_normalize: Optional[Literal["minmax", "none"]] = None,
        mds: Optional[Literal["clamp", "exp", "unclamped"]] = None,
        no_clamp_mds: bool = False,
        layer_post: Optional[Literal["none", "relu-minmax"]] = None,
        fusion: Optional[Literal["sum", "max"]] = None,
        bias_pool: Optional[Literal["sum", "mean"]] = None,
        score_mode: Optional[Literal["distance", "similarity"]] = None,
        bias_sc: Optional[Literal["full", "split", "none"]] = None,
        noise: Optional[PathLike] = None,
        mask: Optional[PathLike] = None,
        gradcampp_eps: float = 0.0,
        scaling: Literal["icam", "grad-cam"] = "icam",
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
        finer: bool = False,
        finer_k: int = 3,
        finer_alpha: float = 1.0,
        batch_size: Optional[int] = None,
        no_resize: Optional[bool] = None,
        normalize: Optional[Normalize] = None,
    ) -> Union[Explanation, list[Explanation]]:
        """Explain ``image``; keywords are ``icam explain``'s options (``no_resize`` and
        ``normalize`` default to the model's). A list when ``class_`` is a list.
        ``progress(done, total, layer)`` hears Score-CAM's and Ablation-CAM's passes."""
    def predict(
        self,
        image: ImageLike,
        top_k: int = 5,
        *,
        no_resize: Optional[bool] = None,
        normalize: Optional[Normalize] = None,
    ) -> list[tuple[int, Optional[str], float, float]]:
        """(class index, name, logit, probability) of the top_k classes."""
    def evaluate(
        self,
        data: PathLike,
        *,
        progress: Optional[Callable[[int, int, str], Any]] = None,
        **options: Any,
    ) -> Evaluation:
        """``evaluate(data, model=self, ...)``."""
    @property
    def arch(self) -> str: ...
    @property
    def num_classes(self) -> int: ...
    @property
    def weights(self) -> str: ...
    @property
    def normalize(self) -> str: ...
    @property
    def no_resize(self) -> bool: ...
    @property
    def layers(self) -> list[str]:
        """I-CAM's candidate layers under the default (recommended) preset."""
    def class_name(self, i: int) -> Optional[str]: ...

def evaluate(
    data: PathLike,
    *,
    model: Union[str, Model] = "efficientnet-lite0",
    progress: Optional[Callable[[int, int, str], Any]] = None,
    methods: Union[Method, Sequence[Method]] = ("icam", "gradcam", "gradcampp", "layercam"),
    presets: Union[str, Sequence[str]] = (),
    biases: Union[str, Sequence[str]] = (),
    layers: Union[str, Sequence[str]] = (),
    out: PathLike = "icam-eval",
    limit: Optional[int] = None,
    shard: Optional[str] = None,
    shards: Optional[int] = None,
    thresholds: Union[float, Sequence[float]] = (0.2, 0.5),
    metrics: Union[str, Sequence[str]] = ("localisation", "drop", "deletion", "insertion"),
    curve_steps: int = 20,
    class_map: Union[str, Sequence[str]] = (),
    restart: bool = False,
    preset: Literal["paper", "recommended"] = "recommended",
    candidates: Optional[Literal["block-outputs", "block-activations"]] = None,
    n: Optional[int] = None,
    alpha: Optional[float] = None,
    seed: int = 0,
    threshold: Optional[float] = None,
    bias: Optional[Literal["channel", "spatial", "none"]] = None,
    channel_bias_form: Optional[Literal["product", "dot"]] = None,
    space: Optional[Literal["input", "pixel"]] = None,
    smooth: Optional[Literal["softmax", "exp"]] = None,
    svim_sigma: Optional[float] = None,
    score_target: Optional[Literal["prob", "logit"]] = None,
    score_upsample: Optional[Literal["bilinear", "nearest"]] = None,
    score_normalize: Optional[Literal["minmax", "none"]] = None,
    mds: Optional[Literal["clamp", "exp", "unclamped"]] = None,
    no_clamp_mds: bool = False,
    layer_post: Optional[Literal["none", "relu-minmax"]] = None,
    fusion: Optional[Literal["sum", "max"]] = None,
    bias_pool: Optional[Literal["sum", "mean"]] = None,
    score_mode: Optional[Literal["distance", "similarity"]] = None,
    bias_sc: Optional[Literal["full", "split", "none"]] = None,
    noise: Optional[PathLike] = None,
    mask: Optional[PathLike] = None,
    gradcampp_eps: float = 0.0,
    scaling: Literal["icam", "grad-cam"] = "icam",
    aug_smooth: bool = False,
    eigen_smooth: bool = False,
    finer: bool = False,
    finer_k: int = 3,
    finer_alpha: float = 1.0,
    batch_size: Optional[int] = None,
    weights: Optional[PathLike] = None,
    arch: Optional[str] = None,
    model_dir: Optional[PathLike] = None,
    labels: Optional[PathLike] = None,
    no_resize: bool = False,
    normalize: Optional[Normalize] = None,
    dtype: Literal["float32", "float64"] = "float32",
    device: str = "cpu",
) -> Evaluation:
    """``icam eval`` as a call: every method on every image of a dataset."""

def options(command: Literal["explain", "load", "predict", "evaluate"]) -> list[dict[str, Any]]:
    """The options a call takes: name, flag, kind, default, choices, help."""

def methods() -> list[str]:
    """The explanation methods (``method=``)."""

def read_image(path: PathLike) -> npt.NDArray[np.uint8]:
    """Decode an image file as icam does: uint8 (height, width, 3)."""
