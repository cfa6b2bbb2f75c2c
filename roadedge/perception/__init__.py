"""Camera perception: ONNX detector runtime, camera geometry, tracking, roadside fusion."""
