"""ONNX object detector runtime (onnxruntime): letterbox, output decoding, NMS, class map from a model card.

Supported output layouts (``output.layout`` in the model card):

- ``yolov5``: one tensor ``[1, N, 5 + C]`` (or ``[1, 5 + C, N]``): cx, cy, w, h, objectness, class scores.
  Score = objectness * class score.
- ``yolov8``: one tensor ``[1, 4 + C, N]`` (or ``[1, N, 4 + C]``): cx, cy, w, h, class scores (YOLOv8/v11).
- ``ssd``: three tensors boxes ``[1, N, 4]``, scores ``[1, N]``, classes ``[1, N]``
  (optionally a fourth, ``num_detections``). Boxes ``xyxy`` or ``yxyx``, in pixels or normalized.
- ``yolov8_nms`` / end-to-end: ``[1, N, 6]`` rows x1, y1, x2, y2, score, class (already NMS'd).

Boxes in YOLO layouts are in input pixels (``output.normalized: true`` for 0..1). Detections come back
in the pixel coordinates of the original image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import yaml

FloatArray = npt.NDArray[np.float32]
LAYOUTS = ("yolov5", "yolov8", "ssd", "end2end")


class ModelCardError(ValueError):
    """A model card that cannot drive the runtime."""


@dataclass(frozen=True)
class InputSpec:
    width: int
    height: int
    channel_order: str = "rgb"  # rgb | bgr
    layout: str = "nchw"  # nchw | nhwc
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    letterbox: bool = True
    pad_value: int = 114
    dtype: str = "float32"  # float32 | uint8


@dataclass(frozen=True)
class OutputSpec:
    layout: str
    box_format: str = "cxcywh"  # cxcywh | xyxy | yxyx
    normalized: bool = False
    class_offset: int = 0  # SSD exports often count background as class 0
    names: tuple[str, ...] = ()  # output tensor names for ssd (boxes, scores, classes); default: order


@dataclass(frozen=True)
class ModelCard:
    """The YAML next to each model in models/ (see models/README.md)."""

    name: str
    model_path: Path
    classes: tuple[str, ...]
    input: InputSpec
    output: OutputSpec
    class_map: Mapping[str, str] = field(default_factory=dict)  # model class -> roadedge class
    score_threshold: float = 0.35
    iou_threshold: float = 0.5
    cross_class_iou: float = 0.6  # boxes of different classes overlapping more are one object: keep the best
    max_detections: int = 100
    metrics: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ModelCard:
        p = Path(path)
        try:
            raw = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise ModelCardError(f"{p}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ModelCardError(f"{p}: not a mapping")
        return cls.from_mapping(raw, p.parent)

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any], base: Path = Path()) -> ModelCard:
        try:
            model = raw["model"]
            classes = tuple(str(c) for c in raw["classes"])
            inp = raw["input"]
            out = raw["output"]
            ispec = InputSpec(
                width=int(inp["width"]),
                height=int(inp["height"]),
                channel_order=str(inp.get("channel_order", "rgb")).lower(),
                layout=str(inp.get("layout", "nchw")).lower(),
                scale=float(inp.get("scale", 1.0 / 255.0)),
                mean=_triple(inp.get("mean", (0.0, 0.0, 0.0))),
                std=_triple(inp.get("std", (1.0, 1.0, 1.0))),
                letterbox=bool(inp.get("letterbox", True)),
                pad_value=int(inp.get("pad_value", 114)),
                dtype=str(inp.get("dtype", "float32")),
            )
            ospec = OutputSpec(
                layout=str(out["layout"]).lower(),
                box_format=str(
                    out.get("box_format", "xyxy" if out["layout"] in ("ssd", "end2end") else "cxcywh")
                ),
                normalized=bool(out.get("normalized", False)),
                class_offset=int(out.get("class_offset", 0)),
                names=tuple(str(n) for n in out.get("names", ())),
            )
            card = cls(
                name=str(raw.get("name", Path(str(model)).stem)),
                model_path=(base / str(model)).resolve(),
                classes=classes,
                input=ispec,
                output=ospec,
                class_map={str(k): str(v) for k, v in (raw.get("class_map") or {}).items()},
                score_threshold=float(raw.get("score_threshold", 0.35)),
                iou_threshold=float(raw.get("iou_threshold", 0.5)),
                cross_class_iou=float(raw.get("cross_class_iou", 0.6)),
                max_detections=int(raw.get("max_detections", 100)),
                metrics=dict(raw.get("metrics") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelCardError(f"bad model card: {exc!r}") from exc
        if ospec.layout not in LAYOUTS:
            raise ModelCardError(f"unknown output layout {ospec.layout!r}; expected one of {LAYOUTS}")
        if ospec.box_format not in ("cxcywh", "xyxy", "yxyx"):
            raise ModelCardError(f"unknown box_format {ospec.box_format!r}")
        if ispec.channel_order not in ("rgb", "bgr") or ispec.layout not in ("nchw", "nhwc"):
            raise ModelCardError("input channel_order must be rgb|bgr and layout nchw|nhwc")
        if ispec.width <= 0 or ispec.height <= 0 or not classes:
            raise ModelCardError("input size must be positive and classes non-empty")
        return card


def _triple(v: Any) -> tuple[float, float, float]:
    vals = [float(x) for x in (v if isinstance(v, (list, tuple)) else [v, v, v])]
    if len(vals) != 3:
        raise ModelCardError("mean/std need 3 values")
    return (vals[0], vals[1], vals[2])


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the model input: input = image * scale + (pad_x, pad_y)."""

    scale_x: float
    scale_y: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: FloatArray) -> FloatArray:
        """Input-pixel xyxy boxes (N,4) back to original image pixels."""
        out: FloatArray = boxes.astype(np.float32).copy()
        out[:, [0, 2]] = (out[:, [0, 2]] - self.pad_x) / self.scale_x
        out[:, [1, 3]] = (out[:, [1, 3]] - self.pad_y) / self.scale_y
        return out


def letterbox(
    image: npt.NDArray[np.uint8], width: int, height: int, pad_value: int = 114, keep_aspect: bool = True
) -> tuple[npt.NDArray[np.uint8], Letterbox]:
    """Resize keeping the aspect ratio and pad (centred) to width x height."""
    h, w = image.shape[:2]
    if not keep_aspect:
        resized: npt.NDArray[np.uint8] = np.asarray(
            cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        return resized, Letterbox(width / w, height / h, 0.0, 0.0)
    s = min(width / w, height / h)
    nw, nh = round(w * s), round(h * s)
    if (nw, nh) != (w, h):
        interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
        image = np.asarray(cv2.resize(image, (nw, nh), interpolation=interp), dtype=np.uint8)
    px, py = (width - nw) // 2, (height - nh) // 2
    if (nw, nh) == (width, height):
        return np.ascontiguousarray(image), Letterbox(nw / w, nh / h, 0.0, 0.0)
    out: npt.NDArray[np.uint8] = np.full((height, width, *image.shape[2:]), pad_value, dtype=np.uint8)
    out[py : py + nh, px : px + nw] = image
    return out, Letterbox(nw / w, nh / h, float(px), float(py))


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x1 y1 x2 y2 in image pixels
    score: float
    class_id: int
    label: str


def nms(
    boxes: FloatArray, scores: FloatArray, iou_threshold: float, max_out: int = 300
) -> npt.NDArray[np.int64]:
    """Greedy non-maximum suppression on xyxy boxes; returns kept indices by descending score."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(0.0, x2 - x1) * np.maximum(0.0, y2 - y1)
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size and len(keep) < max_out:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.maximum(0.0, xx2 - xx1) * np.maximum(0.0, yy2 - yy1)
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    boxes: FloatArray,
    scores: FloatArray,
    classes: npt.NDArray[np.int64],
    iou_threshold: float,
    max_out: int = 300,
) -> npt.NDArray[np.int64]:
    """Class-aware NMS (boxes of different classes never suppress each other)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    offset = classes.astype(np.float32)[:, None] * (float(np.max(boxes)) + 1.0)
    return nms(boxes + offset, scores, iou_threshold, max_out)


def to_xyxy(b: FloatArray, fmt: str) -> FloatArray:
    if fmt == "cxcywh":
        out = np.empty_like(b)
        out[:, 0] = b[:, 0] - b[:, 2] / 2
        out[:, 1] = b[:, 1] - b[:, 3] / 2
        out[:, 2] = b[:, 0] + b[:, 2] / 2
        out[:, 3] = b[:, 1] + b[:, 3] / 2
        return out
    if fmt == "yxyx":
        return np.ascontiguousarray(b[:, [1, 0, 3, 2]])
    return np.array(b, copy=True)


def decode(
    outputs: Sequence[npt.NDArray[Any]],
    card: ModelCard,
    score_threshold: float | None = None,
) -> tuple[FloatArray, FloatArray, npt.NDArray[np.int64]]:
    """Raw model outputs to (xyxy boxes in input pixels, scores, class ids), before NMS."""
    nc = len(card.classes)
    spec = card.output
    thr = card.score_threshold if score_threshold is None else score_threshold
    iw, ih = card.input.width, card.input.height
    if spec.layout in ("yolov5", "yolov8"):
        width = nc + (5 if spec.layout == "yolov5" else 4)
        pred = np.asarray(outputs[0], dtype=np.float32)
        if pred.ndim == 3:
            pred = pred[0]
        if pred.ndim != 2 or width not in pred.shape:
            raise ValueError(f"{spec.layout} output shape {np.shape(outputs[0])} does not fit {nc} classes")
        if pred.shape[1] != width:
            pred = pred.T
        cls_scores = pred[:, 5:] * pred[:, 4:5] if spec.layout == "yolov5" else pred[:, 4:]
        class_ids = np.argmax(cls_scores, axis=1)
        scores = cls_scores[np.arange(len(pred)), class_ids]
        keep = scores >= thr
        boxes = to_xyxy(pred[keep, :4], spec.box_format)
        scores, class_ids = scores[keep], class_ids[keep]
    else:
        arrays = [np.asarray(o) for o in outputs]
        if spec.layout == "end2end":
            rows = arrays[0].reshape(-1, arrays[0].shape[-1]).astype(np.float32)
            boxes, scores, class_ids = rows[:, :4], rows[:, 4], rows[:, 5].astype(np.int64)
        else:
            if len(arrays) < 3:
                raise ValueError("ssd layout needs boxes, scores, classes outputs")
            boxes = arrays[0].reshape(-1, 4).astype(np.float32)
            scores = arrays[1].reshape(-1).astype(np.float32)
            class_ids = np.rint(arrays[2].reshape(-1)).astype(np.int64)
            if len(arrays) >= 4:
                n = int(np.asarray(arrays[3]).reshape(-1)[0])
                boxes, scores, class_ids = boxes[:n], scores[:n], class_ids[:n]
        class_ids = class_ids - spec.class_offset
        keep = (scores >= thr) & (class_ids >= 0) & (class_ids < nc)
        boxes = to_xyxy(boxes[keep], spec.box_format)
        scores, class_ids = scores[keep], class_ids[keep]
    if spec.normalized:
        boxes = boxes * np.array([iw, ih, iw, ih], dtype=np.float32)
    ok = np.all(np.isfinite(boxes), axis=1) & np.isfinite(scores)
    return boxes[ok].astype(np.float32), scores[ok].astype(np.float32), class_ids[ok].astype(np.int64)


def preprocess(image: npt.NDArray[np.uint8], spec: InputSpec) -> tuple[npt.NDArray[Any], Letterbox]:
    """BGR uint8 HxWx3 image to the model's input tensor (batch of 1)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 BGR image, got {image.shape} {image.dtype}")
    boxed, lb = letterbox(image, spec.width, spec.height, spec.pad_value, spec.letterbox)
    if spec.channel_order == "rgb":
        boxed = boxed[:, :, ::-1]
    if spec.dtype == "uint8":
        arr: npt.NDArray[Any] = np.ascontiguousarray(boxed)
    else:
        f = boxed.astype(np.float32) * np.float32(spec.scale)
        if spec.mean != (0.0, 0.0, 0.0) or spec.std != (1.0, 1.0, 1.0):
            f = (f - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
        arr = f
    if spec.layout == "nchw":
        arr = arr.transpose(2, 0, 1)
    return np.ascontiguousarray(arr[None]), lb


class Detector:
    """An onnxruntime session driven by a model card."""

    def __init__(
        self,
        card: ModelCard | str | os.PathLike[str],
        providers: Sequence[str] = ("CPUExecutionProvider",),
        intra_op_threads: int = 1,
        inter_op_threads: int = 1,
        score_threshold: float | None = None,
        iou_threshold: float | None = None,
    ) -> None:
        import onnxruntime as ort

        self.card = card if isinstance(card, ModelCard) else ModelCard.load(card)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = max(0, int(intra_op_threads))
        opts.inter_op_num_threads = max(0, int(inter_op_threads))
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        available = set(ort.get_available_providers())
        chosen = [p for p in providers if p in available] or ["CPUExecutionProvider"]
        self.session = ort.InferenceSession(str(self.card.model_path), sess_options=opts, providers=chosen)
        self.providers = tuple(self.session.get_providers())
        self.input_name = self.session.get_inputs()[0].name
        outs = [o.name for o in self.session.get_outputs()]
        self.output_names = list(self.card.output.names) if self.card.output.names else outs
        self.score_threshold = self.card.score_threshold if score_threshold is None else score_threshold
        self.iou_threshold = self.card.iou_threshold if iou_threshold is None else iou_threshold

    def label(self, class_id: int) -> str:
        name = self.card.classes[class_id]
        return self.card.class_map.get(name, name)

    def infer(self, tensor: npt.NDArray[Any]) -> list[npt.NDArray[Any]]:
        return list(self.session.run(self.output_names, {self.input_name: tensor}))

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        """Detections in image pixels, best first."""
        tensor, lb = preprocess(image, self.card.input)
        outputs = self.infer(tensor)
        boxes, scores, class_ids = decode(outputs, self.card, self.score_threshold)
        if self.card.output.layout != "end2end":
            keep = batched_nms(boxes, scores, class_ids, self.iou_threshold, self.card.max_detections)
            boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
        if self.card.cross_class_iou < 1.0:
            keep = nms(boxes, scores, self.card.cross_class_iou, self.card.max_detections)
            boxes, scores, class_ids = boxes[keep], scores[keep], class_ids[keep]
        boxes = lb.to_image(boxes)
        h, w = image.shape[:2]
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, w)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, h)
        out = []
        for b, s, c in zip(boxes, scores, class_ids, strict=True):
            if b[2] - b[0] < 1.0 or b[3] - b[1] < 1.0 or not math.isfinite(float(s)):
                continue
            out.append(
                Detection(
                    (float(b[0]), float(b[1]), float(b[2]), float(b[3])), float(s), int(c), self.label(int(c))
                )
            )
        out.sort(key=lambda d: -d.score)
        return out[: self.card.max_detections]


def find_model_card(name: str) -> Path:
    """A model card path as given, or relative to the repository / the installed share/roadedge."""
    p = Path(name)
    if p.is_absolute() or p.exists():
        return p
    import sys

    roots = [Path(__file__).resolve().parents[2], Path(sys.prefix) / "share" / "roadedge"]
    for root in roots:
        if (root / p).exists():
            return root / p
    raise ModelCardError(f"model card {name!r} not found (looked in ., {', '.join(str(r) for r in roots)})")
