"""Detector runtime: one tiny ONNX model per supported output layout, decoded to known boxes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

from roadedge.perception.detector import (
    Detector,
    ModelCard,
    ModelCardError,
    letterbox,
    nms,
    preprocess,
)

CLASSES = ["pedestrian", "cyclist", "vehicle", "obstacle"]
IN = 320  # square model input; a 640x480 image letterboxes with scale 0.5 and pad_y 40


def const_model(path: Path, outputs: dict[str, np.ndarray], in_h: int = IN, in_w: int = IN) -> None:
    """A graph that outputs fixed tensors (plus 0 * mean(input), so the input is consumed)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["m"], keepdims=0),
        helper.make_node("Mul", ["m", "zero"], ["z"]),
    ]
    inits = [numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    outs = []
    for name, value in outputs.items():
        inits.append(numpy_helper.from_array(value.astype(np.float32), f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", "z"], [name]))
        outs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(value.shape)))
    graph = helper.make_graph(
        nodes,
        "const",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, in_h, in_w])],
        outs,
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def write_card(tmp: Path, name: str, output: dict[str, Any], **extra: Any) -> Path:
    card = {
        "model": f"{name}.onnx",
        "classes": CLASSES,
        "input": {"width": IN, "height": IN},
        "output": output,
        "score_threshold": 0.3,
        **extra,
    }
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(card))
    return p


def image() -> np.ndarray:
    return np.zeros((480, 640, 3), np.uint8)


# In model-input pixels (320x320): a pedestrian box cx=100 cy=140 w=40 h=80 -> image (160,120,240,280);
# a vehicle box x 200..300, y 100..160 -> image (400, 120, 600, 240).
PED_IMG = (160.0, 120.0, 240.0, 280.0)
VEH_IMG = (400.0, 120.0, 600.0, 240.0)


def check(dets: list, expected: list[tuple[str, tuple[float, ...], float]]) -> None:
    assert [d.label for d in dets] == [e[0] for e in expected]
    for d, (_, box, score) in zip(dets, expected, strict=True):
        np.testing.assert_allclose(d.box, box, atol=1e-3)
        assert d.score == pytest.approx(score, abs=1e-5)


def test_yolov8_layout(tmp_path: Path) -> None:
    # rows: cx cy w h + 4 class scores; columns are candidates (N = 4)
    cand = np.array(
        [
            [100, 140, 40, 80, 0.9, 0.0, 0.1, 0.0],  # pedestrian
            [102, 141, 40, 80, 0.7, 0.0, 0.0, 0.0],  # duplicate pedestrian, suppressed by NMS
            [250, 130, 100, 60, 0.0, 0.1, 0.8, 0.0],  # vehicle
            [50, 50, 10, 10, 0.1, 0.2, 0.0, 0.0],  # below threshold
            [101, 140, 44, 80, 0.0, 0.6, 0.0, 0.0],  # the pedestrian again as a cyclist: cross-class NMS
        ],
        np.float32,
    )
    const_model(tmp_path / "v8.onnx", {"output0": cand.T[None]})
    det = Detector(write_card(tmp_path, "v8", {"layout": "yolov8"}))
    check(det.detect(image()), [("pedestrian", PED_IMG, 0.9), ("vehicle", VEH_IMG, 0.8)])


def test_yolov8_transposed_and_class_map(tmp_path: Path) -> None:
    cand = np.array([[100, 140, 40, 80, 0.0, 0.0, 0.0, 0.6]], np.float32)
    const_model(tmp_path / "v8t.onnx", {"output0": cand[None]})  # [1, N, 4 + C]
    det = Detector(write_card(tmp_path, "v8t", {"layout": "yolov8"}, class_map={"obstacle": "litter"}))
    dets = det.detect(image())
    assert [(d.label, d.class_id) for d in dets] == [("litter", 3)]


def test_yolov5_layout(tmp_path: Path) -> None:
    cand = np.array(
        [
            [100, 140, 40, 80, 0.95, 0.9, 0.05, 0.0, 0.0],  # pedestrian 0.855
            [250, 130, 100, 60, 0.5, 0.0, 0.0, 1.0, 0.0],  # vehicle 0.5
            [250, 130, 100, 60, 0.2, 0.0, 0.0, 1.0, 0.0],  # objectness too low
        ],
        np.float32,
    )
    const_model(tmp_path / "v5.onnx", {"output": cand[None]})
    det = Detector(write_card(tmp_path, "v5", {"layout": "yolov5"}))
    check(det.detect(image()), [("pedestrian", PED_IMG, 0.855), ("vehicle", VEH_IMG, 0.5)])


def test_ssd_layout_normalized_yxyx_with_background(tmp_path: Path) -> None:
    # normalized yxyx boxes, class ids with background = 0, and num_detections
    boxes = np.array(
        [
            [
                [100 / IN, 80 / IN, 180 / IN, 120 / IN],
                [100 / IN, 200 / IN, 160 / IN, 300 / IN],
                [0, 0, 0.1, 0.1],
            ]
        ],
        np.float32,
    )
    scores = np.array([[0.88, 0.66, 0.99]], np.float32)
    classes = np.array([[1, 3, 2]], np.float32)
    num = np.array([2], np.float32)
    const_model(tmp_path / "ssd.onnx", {"boxes": boxes, "scores": scores, "classes": classes, "num": num})
    card = write_card(
        tmp_path, "ssd", {"layout": "ssd", "box_format": "yxyx", "normalized": True, "class_offset": 1}
    )
    det = Detector(card)
    check(det.detect(image()), [("pedestrian", PED_IMG, 0.88), ("vehicle", VEH_IMG, 0.66)])


def test_end2end_layout(tmp_path: Path) -> None:
    rows = np.array(
        [[[80, 100, 120, 180, 0.77, 0], [200, 100, 300, 160, 0.55, 2], [0, 0, 0, 0, 0.0, 0]]], np.float32
    )
    const_model(tmp_path / "e2e.onnx", {"output0": rows})
    det = Detector(write_card(tmp_path, "e2e", {"layout": "end2end"}))
    check(det.detect(image()), [("pedestrian", PED_IMG, 0.77), ("vehicle", VEH_IMG, 0.55)])


def test_letterbox_round_trip() -> None:
    img = np.full((480, 640, 3), 7, np.uint8)
    out, lb = letterbox(img, 320, 320)
    assert out.shape == (320, 320, 3)
    assert (lb.scale_x, lb.scale_y, lb.pad_x, lb.pad_y) == (0.5, 0.5, 0.0, 40.0)
    assert out[0, 0, 0] == 114 and out[40, 0, 0] == 7 and out[279, 0, 0] == 7 and out[280, 0, 0] == 114
    boxes = np.array([[80, 100, 120, 180]], np.float32)
    np.testing.assert_allclose(lb.to_image(boxes), [PED_IMG])


def test_preprocess_layout_and_order() -> None:
    card = ModelCard.from_mapping(
        {
            "model": "x.onnx",
            "classes": ["a"],
            "input": {"width": 4, "height": 4},
            "output": {"layout": "yolov8"},
        }
    )
    img = np.zeros((4, 4, 3), np.uint8)
    img[..., 0] = 255  # blue in BGR
    t, _ = preprocess(img, card.input)
    assert t.shape == (1, 3, 4, 4) and t.dtype == np.float32
    assert t[0, 2].max() == pytest.approx(1.0) and t[0, 0].max() == 0.0  # RGB: blue is channel 2
    with pytest.raises(ValueError):
        preprocess(np.zeros((4, 4), np.uint8), card.input)


def test_nms_suppresses_overlaps_only() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.5, 0.9, 0.7], np.float32)
    assert list(nms(boxes, scores, 0.5)) == [1, 2]


@pytest.mark.parametrize(
    "card",
    [
        {"classes": ["a"], "input": {"width": 4, "height": 4}, "output": {"layout": "yolov8"}},
        {
            "model": "m.onnx",
            "classes": ["a"],
            "input": {"width": 4, "height": 4},
            "output": {"layout": "yolov9"},
        },
        {
            "model": "m.onnx",
            "classes": [],
            "input": {"width": 4, "height": 4},
            "output": {"layout": "yolov8"},
        },
        {
            "model": "m.onnx",
            "classes": ["a"],
            "input": {"width": "x", "height": 4},
            "output": {"layout": "ssd"},
        },
    ],
)
def test_bad_model_cards_are_rejected(card: dict[str, Any]) -> None:
    with pytest.raises(ModelCardError):
        ModelCard.from_mapping(card)


def test_output_shape_mismatch_is_an_error(tmp_path: Path) -> None:
    const_model(tmp_path / "bad.onnx", {"output0": np.zeros((1, 7, 5), np.float32)})
    det = Detector(write_card(tmp_path, "bad", {"layout": "yolov8"}))
    with pytest.raises(ValueError):
        det.detect(image())
