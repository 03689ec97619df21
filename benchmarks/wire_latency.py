"""Camera-to-command latency and command rate of the policy server over DDS loopback.

One run, one process, two DDS participants on a loopback-only configuration: a "robot"
publishes camera frames (30 Hz, stamped with the time they were written) and joint states
(100 Hz) and takes the JointTrajectory commands; the policy server (DdsPolicyServer, the same
core as ``cosmos-policy serve``) runs the seeded random stand-in model (or ``--model``).

Camera-to-command latency = receive time at the robot of the first command computed from a
new chunk - the stamp of the oldest camera frame of the observation that chunk came from
(both wire hops, sync, inference, scheduling, safety). Commands are reliable and ordered, so
the k-th command the server sent is the k-th the robot took. The robot polls at ~1 kHz.

    PYTHONPATH=. python benchmarks/wire_latency.py --seconds 10 --out wire_latency.json
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


class SourceTracking:
    """Wraps a model: remembers the observation stamp of every chunk, in order."""

    def __init__(self, model) -> None:
        self.model, self.stamps = model, []

    def policy(self, obs):
        chunk = self.model.policy(obs)
        self.stamps.append(obs.timestamp)
        return chunk

    def reset(self) -> None:
        self.model.reset()

    def forward_dynamics(self, obs, actions):
        return self.model.forward_dynamics(obs, actions)

    def inverse_dynamics(self, frames, state):
        return self.model.inverse_dynamics(frames, state)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--embodiment", default="franka")
    ap.add_argument("--model", default="random")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    from cosmos_policy.transport.endpoints import write_loopback_config

    os.environ["CYCLONEDDS_URI"] = write_loopback_config(tempfile.mkdtemp()).as_uri()
    domain = random.SystemRandom().randint(100, 230)

    from cosmos_policy.embodiment import load_embodiment
    from cosmos_policy.policy.registry import load_model
    from cosmos_policy.policy.stand_ins import warm_up
    from cosmos_policy.serve.dds_server import DdsPolicyServer
    from cosmos_policy.serve.node_core import NodeConfig, default_projector
    from cosmos_policy.transport import msgs, naming
    from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
    from cosmos_policy.transport.dds import TransportConfig
    from cosmos_policy.transport.endpoints import Endpoints, make_participant
    from cosmos_policy.transport.images import rgb_to_image

    emb = load_embodiment(args.embodiment)
    proj = default_projector(emb)
    inner = load_model(args.model, emb, projector=proj)
    warm_up(inner, emb, "reach the red cube")  # as ``cosmos-policy serve`` does
    model = SourceTracking(inner)
    server = DdsPolicyServer(emb, model, TransportConfig(domain_id=domain),
                             NodeConfig(prompt="reach the red cube"), projector=proj)
    sent: list[tuple[int, float]] = []  # (command index, source observation stamp)
    state = {"i": 0, "chunks": 0}

    def on_command(_cmd) -> None:
        tele = server.core.telemetry
        chunks = tele.counter("chunks")
        # chunks are taken in the order they were computed; a rejected one (the slow first
        # call, say) still used a stamp, so the newest accepted chunk is the n-th computed
        n = chunks + tele.counter("chunks_rejected")
        if chunks > state["chunks"] and len(model.stamps) >= n:
            sent.append((state["i"], model.stamps[n - 1]))
        state["chunks"] = chunks
        state["i"] += 1

    server.core.loop.subscribe(on_command)
    server.start()
    participant = make_participant(domain)
    ep = Endpoints(participant, node="robot")
    cams = [ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA) for c in emb.cameras]
    joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
    cmds = ep.reader("/joint_trajectory_controller/joint_trajectory", msgs.JointTrajectory,
                     naming.RELIABLE)
    names = list(emb.joints) + [emb.gripper.joints[0]]
    q = list(emb.home) + [emb.gripper.open_position]
    img = np.zeros((emb.cameras[0].height, emb.cameras[0].width, 3), np.uint8)
    stop = threading.Event()

    def publish() -> None:
        k = 0
        while not stop.is_set():
            t = time.time()
            joints.write(joint_state_msg(names, q, stamp=t))
            if k % 3 == 0:
                for w in cams:
                    w.write(rgb_to_image(img, seconds_to_stamp(t)))
            k += 1
            time.sleep(0.01)

    pub = threading.Thread(target=publish, daemon=True)
    pub.start()
    received: list[float] = []
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        for s in cmds.take(64):
            if isinstance(s, msgs.JointTrajectory):
                received.append(time.time())
        time.sleep(0.001)
    stop.set()
    pub.join()
    server.close()
    participant.__del__()

    lat = np.array([received[i] - stamp for i, stamp in sent if i < len(received)]) * 1e3
    warm = received[len(received) // 5:]  # skip the start-up fifth
    intervals = np.diff(warm) * 1e3
    result = {
        "embodiment": emb.name, "model": args.model, "seconds": args.seconds,
        "commands_received": len(received), "commands_sent": server.core.commands_sent,
        "command_rate_hz": float(len(warm) / (warm[-1] - warm[0])) if len(warm) > 1 else 0.0,
        "command_interval_ms": {"p50": float(np.percentile(intervals, 50)),
                                "p99": float(np.percentile(intervals, 99))},
        "camera_to_command_ms": {"n": int(lat.size), "p50": float(np.percentile(lat, 50)),
                                 "p99": float(np.percentile(lat, 99))},
        "inference_ms_p50": server.core.telemetry.snapshot()["latency"].get(
            "inference", {}).get("p50_ms"),
    }
    print(f"{'figure':<28}{'p50':>10}{'p99':>10}")
    print(f"{'camera-to-command, ms':<28}{result['camera_to_command_ms']['p50']:>10.1f}"
          f"{result['camera_to_command_ms']['p99']:>10.1f}")
    print(f"{'command interval, ms':<28}{result['command_interval_ms']['p50']:>10.2f}"
          f"{result['command_interval_ms']['p99']:>10.2f}")
    print(f"model inference p50 {result['inference_ms_p50']} ms")
    print(f"command rate {result['command_rate_hz']:.1f} Hz "
          f"({result['commands_received']} received)")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
