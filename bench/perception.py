#!/usr/bin/env python3
"""Perception benchmark: frame -> perception/objects latency and frames per second at 640x480, one core.

The perception node (shipped model, onnxruntime with 1 thread) and a driver node share one
single-threaded executor in this process, pinned to one CPU. The driver publishes a rendered 640x480
sensor_msgs/Image (HIL camera frames, pre-rendered) and waits for the ObjectArray that answers it;
latency is publish -> receive over DDS (intra-host, localhost discovery), fps = answered frames / s.

    tools/with_env.sh python bench/perception.py [--seconds 20] [--model models/roadedge_det.yaml]

Ends with one line: RESULT latency_p50_ms=<x> latency_p99_ms=<x> fps=<x>
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from roadedge import local_dds

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=20.0, help="measurement time")
    ap.add_argument("--warmup", type=int, default=10, help="frames before measuring")
    ap.add_argument("--frames", type=int, default=16, help="distinct rendered frames cycled")
    ap.add_argument("--model", default="models/roadedge_det.yaml")
    ap.add_argument("--cpu", type=int, default=-1, help="CPU to pin to (-1: the first allowed)")
    args = ap.parse_args()
    local_dds.isolate()
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {args.cpu if args.cpu >= 0 else cpus[0]})
    os.environ["OMP_NUM_THREADS"] = "1"

    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from roadedge_hil.camera import RenderOptions, random_world, render
    from roadedge_msgs.msg import ObjectArray
    from roadedge_nodes.perception import Perception, PerceptionConfig
    from sensor_msgs.msg import CameraInfo, Image

    from roadedge import topics
    from roadedge.perception.geometry import Extrinsics, Intrinsics, PinholeCamera
    from roadedge.perception.images import from_bgr
    from roadedge.ros.qos import qos_for

    c = PerceptionConfig()
    cam = PinholeCamera(
        Intrinsics.from_fov(640, 480, 70.0),
        Extrinsics(c.mount_x, c.mount_y, c.mount_z, c.mount_roll, c.mount_pitch, c.mount_yaw),
    )
    t_render = time.perf_counter()
    frames = []
    for seed in range(args.frames):
        rng = np.random.default_rng(500_000 + seed)
        frames.append(render(random_world(rng, cam), cam, RenderOptions(noise_sigma=2.0, seed=seed)).image)
    print(f"rendered {len(frames)} frames in {time.perf_counter() - t_render:.1f} s", flush=True)

    rclpy.init()
    node = Perception(
        parameter_overrides=[
            Parameter("model", value=args.model),
            Parameter("threads", value=1),
            Parameter("fuse_rsm", value=False),
        ]
    )
    if node.detector is None:
        print("no model loaded", file=sys.stderr)
        return 1
    drv = rclpy.create_node("bench_driver")
    image_pub = drv.create_publisher(
        Image, topics.CAMERA_FRONT_IMAGE.name, qos_for(topics.CAMERA_FRONT_IMAGE)
    )
    info_pub = drv.create_publisher(
        CameraInfo, topics.CAMERA_FRONT_INFO.name, qos_for(topics.CAMERA_FRONT_INFO)
    )
    answers: list[tuple[int, float]] = []
    counts: list[int] = []

    def on_objects(msg: ObjectArray) -> None:
        answers.append((msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec, time.perf_counter()))
        counts.append(len(msg.objects))

    drv.create_subscription(ObjectArray, topics.OBJECTS.name, on_objects, qos_for(topics.OBJECTS))
    ex = SingleThreadedExecutor()
    ex.add_node(node)
    ex.add_node(drv)
    deadline = time.monotonic() + 15
    while (image_pub.get_subscription_count() < 1 or drv.count_publishers(topics.OBJECTS.name) < 1) and (
        time.monotonic() < deadline
    ):
        ex.spin_once(timeout_sec=0.05)

    msgs = []
    for image in frames:
        data, w, h, enc, step = from_bgr(image)
        msgs.append(Image(width=w, height=h, encoding=enc, step=step, data=data))
    f = cam.intrinsics.to_camera_info()
    info = CameraInfo(
        width=640, height=480, distortion_model="plumb_bob", d=f["d"], k=f["k"], r=f["r"], p=f["p"]
    )
    while "front" not in node.pipeline.cameras and time.monotonic() < deadline + 5:
        info_pub.publish(info)
        ex.spin_once(timeout_sec=0.05)

    latencies: list[float] = []
    sent = 0
    t_start = None
    seq = 0
    while True:
        img = msgs[seq % len(msgs)]
        seq += 1
        img.header.stamp.sec, img.header.stamp.nanosec = seq, 0
        n_before = len(answers)
        t0 = time.perf_counter()
        image_pub.publish(img)
        wait_end = time.monotonic() + 2.0
        while len(answers) == n_before and time.monotonic() < wait_end:
            ex.spin_once(timeout_sec=0.05)
        if len(answers) == n_before:
            print(f"frame {seq} unanswered", flush=True)
            continue
        latency = (answers[-1][1] - t0) * 1000.0
        if seq == args.warmup:
            t_start = time.perf_counter()
            sent = 0
        elif seq > args.warmup:
            latencies.append(latency)
            sent += 1
        if t_start is not None and time.perf_counter() - t_start >= args.seconds:
            break
    elapsed = time.perf_counter() - (t_start or time.perf_counter())
    lat = np.asarray(latencies)
    p50, p99 = float(np.percentile(lat, 50)), float(np.percentile(lat, 99))
    fps = sent / elapsed if elapsed > 0 else 0.0
    print(
        f"frames={sent} seconds={elapsed:.1f} mean_ms={lat.mean():.1f} max_ms={lat.max():.1f} "
        f"node_callback_ms(last)={node.last_latency_ms:.1f} objects_per_frame={np.mean(counts):.1f} "
        f"providers={node.detector.providers}"
    )
    ex.shutdown()
    node.destroy_node()
    drv.destroy_node()
    rclpy.shutdown()
    print(f"RESULT latency_p50_ms={p50:.1f} latency_p99_ms={p99:.1f} fps={fps:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
