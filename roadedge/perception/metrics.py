"""Detection metrics: greedy IoU matching, precision and recall with ignore regions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    per_class: dict[str, list[int]] = field(default_factory=dict)  # label -> [tp, fp, fn]

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    def add(self, label: str, slot: int) -> None:
        self.per_class.setdefault(label, [0, 0, 0])[slot] += 1

    def summary(self) -> dict[str, float]:
        out = {"precision": round(self.precision, 4), "recall": round(self.recall, 4)}
        for label, (tp, fp, fn) in sorted(self.per_class.items()):
            out[f"{label}_precision"] = round(tp / (tp + fp), 4) if tp + fp else 1.0
            out[f"{label}_recall"] = round(tp / (tp + fn), 4) if tp + fn else 1.0
        return out


def match_frame(
    counts: Counts,
    detections: Sequence[tuple[Sequence[float], float, str]],
    truth: Sequence[tuple[Sequence[float], str, bool]],
    iou_threshold: float = 0.5,
) -> None:
    """Accumulate one frame. detections: (box, score, label); truth: (box, label, ignore).

    A detection matching an ignored truth box (occluded, tiny) counts neither way; an ignored box
    that is missed is not a false negative.
    """
    used = [False] * len(truth)
    for box, _, label in sorted(detections, key=lambda d: -d[1]):
        best, best_iou = -1, iou_threshold
        for j, (tbox, tlabel, _) in enumerate(truth):
            if used[j] or tlabel != label:
                continue
            v = iou(box, tbox)
            if v >= best_iou:
                best, best_iou = j, v
        if best >= 0:
            used[best] = True
            if not truth[best][2]:
                counts.tp += 1
                counts.add(label, 0)
            continue
        # an unmatched detection on an ignored box of any class is not held against the model
        if any(ig and iou(box, tb) >= iou_threshold for tb, _, ig in truth):
            continue
        counts.fp += 1
        counts.add(label, 1)
    for j, (_, tlabel, ignore) in enumerate(truth):
        if not used[j] and not ignore:
            counts.fn += 1
            counts.add(tlabel, 2)
