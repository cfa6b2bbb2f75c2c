"""Raw image buffers (sensor_msgs/Image semantics) to and from BGR numpy arrays, without ROS."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

ENCODINGS = {"bgr8": 3, "rgb8": 3, "mono8": 1, "bgra8": 4, "rgba8": 4}


class ImageError(ValueError):
    """A buffer that does not describe an image we can use."""


def to_bgr(
    data: bytes | bytearray | memoryview | npt.NDArray[np.uint8],
    width: int,
    height: int,
    encoding: str,
    step: int = 0,
) -> npt.NDArray[np.uint8]:
    """A sensor_msgs/Image payload as an HxWx3 BGR uint8 array (a copy)."""
    enc = encoding.lower()
    if enc not in ENCODINGS:
        raise ImageError(f"unsupported encoding {encoding!r} (supported: {', '.join(ENCODINGS)})")
    ch = ENCODINGS[enc]
    if width <= 0 or height <= 0:
        raise ImageError(f"bad image size {width}x{height}")
    row = width * ch
    step = step or row
    buf = np.frombuffer(bytes(data) if not isinstance(data, np.ndarray) else data.tobytes(), dtype=np.uint8)
    if step < row or buf.size < step * (height - 1) + row:
        raise ImageError(f"buffer of {buf.size} bytes too small for {width}x{height} {encoding} step {step}")
    if buf.size < step * height:
        buf = np.concatenate([buf, np.zeros(step * height - buf.size, np.uint8)])
    rows = buf[: step * height].reshape(height, step)
    img: npt.NDArray[np.uint8] = rows[:, :row].reshape(height, width, ch)
    if enc == "bgr8":
        return np.array(img, dtype=np.uint8, copy=True)
    if enc == "rgb8":
        return np.ascontiguousarray(img[:, :, ::-1])
    if enc == "mono8":
        return np.asarray(cv2.cvtColor(img, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if enc == "bgra8":
        return np.ascontiguousarray(img[:, :, :3])
    return np.ascontiguousarray(img[:, :, 2::-1])  # rgba8


def from_bgr(image: npt.NDArray[np.uint8]) -> tuple[bytes, int, int, str, int]:
    """(data, width, height, encoding, step) for a sensor_msgs/Image of a BGR array."""
    h, w = image.shape[:2]
    return np.ascontiguousarray(image).tobytes(), w, h, "bgr8", w * 3
