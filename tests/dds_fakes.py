"""A ROS 2-shaped robot on bare DDS, for the DDS server's tests (import after cyclonedds),
and the helpers the reliability tests share: another Python process, a background feed of
frames and joint states, a tap on what a server sends and takes, resident memory."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
from cosmos_policy.transport.endpoints import Endpoints, make_participant
from cosmos_policy.transport.images import rgb_to_image

ROOT = Path(__file__).resolve().parents[1]


class Peer:
    """Writes frames, joint states (the home pose) and prompts; reads the server's
    JointTrajectory commands."""

    def __init__(self, domain: int, emb) -> None:
        self.participant = make_participant(domain)
        ep = Endpoints(self.participant, node="peer")
        self.emb = emb
        self.cams = {c.name: ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA)
                     for c in emb.cameras}
        self.joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
        self.prompt = ep.writer("/cosmos_policy/prompt", msgs.String, naming.DEFAULT)
        self.cmds = ep.reader("/joint_trajectory_controller/joint_trajectory",
                              msgs.JointTrajectory, naming.RELIABLE)
        self.names = list(emb.joints) + [emb.gripper.joints[0]]

    def send(self, t: float) -> None:
        """A joint state and one frame per camera, all stamped ``t``."""
        self.send_joints(t)
        self.send_frames(t)

    def send_joints(self, t: float) -> None:
        """A joint state (the home pose) stamped ``t``."""
        self.joints.write(joint_state_msg(self.names, list(self.emb.home) + [0.04], stamp=t))

    def send_frames(self, t: float) -> None:
        """One black frame per camera (its native size) stamped ``t``."""
        for cam in self.emb.cameras:
            img = np.zeros((cam.height, cam.width, 3), np.uint8)
            self.cams[cam.name].write(rgb_to_image(img, seconds_to_stamp(t)))

    def commands(self) -> list:
        return [s for s in self.cmds.take(256) if isinstance(s, msgs.JointTrajectory)]

    def drive(self, seconds: float, offset: float = 0.0) -> None:
        """:meth:`send` every 20 ms for ``seconds``, stamped now + ``offset``."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.send(time.time() + offset)
            time.sleep(0.02)

    def feed(self, stop: threading.Event, *, joints: bool = True, frames: bool = True,
             period_s: float = 0.02) -> threading.Thread:
        """A daemon thread sending joint states and/or frames every ``period_s`` (stamped
        now) until ``stop`` is set: a robot's drivers running beside a fault."""
        def run() -> None:
            while not stop.is_set():
                t = time.time()
                if joints:
                    self.send_joints(t)
                if frames:
                    self.send_frames(t)
                time.sleep(period_s)

        thread = threading.Thread(target=run, name="peer-feed", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.participant.__del__()


class Tap:
    """On a DdsPolicyServer: every command it puts on the wire with the monotonic time it
    left, every joint state it accepted and the time of every ``~/reset`` it served
    (wrapped on the instances: a reset rebuilds the loop, the transport and the core stay)."""

    def __init__(self, server) -> None:
        self.sent: list[tuple[float, object]] = []
        self.resets: list[float] = []
        self.states: list[tuple[float, np.ndarray]] = []
        self._lock = threading.Lock()
        send, reset = server.transport.send, server.core.reset
        on_state = server.core.on_joint_state

        def tapped_state(state, stamp, velocities=None):
            reason = on_state(state, stamp, velocities)
            if reason is None:
                self.states.append((time.monotonic(), np.array(state, dtype=np.float64)))
            return reason

        def tapped_send(command) -> None:
            send(command)
            with self._lock:
                self.sent.append((time.monotonic(), command))

        def tapped_reset():
            out = reset()
            self.resets.append(time.monotonic())
            return out

        server.transport.send = tapped_send
        server.core.reset = tapped_reset
        server.core.on_joint_state = tapped_state

    def since(self, t: float) -> list[tuple[float, object]]:
        with self._lock:
            return [(s, c) for s, c in self.sent if s >= t]


def python_process(script: str, *args: object, **popen: object) -> subprocess.Popen:
    """``python -c script args...`` with this checkout importable, one BLAS thread, text
    pipes (another process, as a second node on the machine would be)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)  # type: ignore[arg-type]


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory (MB) of a process (Linux ``/proc``; 0.0 where there is none)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


# A robot in another process that follows the server's trajectory commands at once: joint
# states at 100 Hz (the pose last commanded, starting at home + argv[2] rad on every arm
# joint) and black frames at 30 Hz, for argv[3] s at most. No physics, no ~/reset call (a
# robot driver restarting on its own), so it starts in a second where sim-robot takes a few.
TRACKING_ROBOT = """
import sys, time
import numpy as np
from cosmos_policy.embodiment import load_embodiment
from cosmos_policy.transport import msgs, naming
from cosmos_policy.transport.convert import joint_state_msg, seconds_to_stamp
from cosmos_policy.transport.endpoints import Endpoints, make_participant
from cosmos_policy.transport.images import rgb_to_image
domain, offset, seconds = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
emb = load_embodiment("franka")
ep = Endpoints(make_participant(domain), node="tracking_robot")
joints = ep.writer("/joint_states", msgs.JointState, naming.SENSOR_DATA)
cams = [(ep.writer(c.topic, msgs.Image, naming.SENSOR_DATA),
         np.zeros((c.height, c.width, 3), np.uint8)) for c in emb.cameras]
cmds = ep.reader("/joint_trajectory_controller/joint_trajectory", msgs.JointTrajectory,
                 naming.RELIABLE)
names = list(emb.joints) + [emb.gripper.joints[0]]
index = {n: i for i, n in enumerate(emb.joints)}
q = np.asarray(emb.home, dtype=np.float64) + offset
print("up", flush=True)
end, next_frame = time.monotonic() + seconds, 0.0
while time.monotonic() < end:
    for m in cmds.take(64):
        if isinstance(m, msgs.JointTrajectory) and m.points:
            for n, p in zip(m.joint_names, m.points[-1].positions):
                q[index[n]] = p
    t = time.time()
    joints.write(joint_state_msg(names, list(q) + [0.04], stamp=t))
    if time.monotonic() >= next_frame:
        for w, img in cams:
            w.write(rgb_to_image(img, seconds_to_stamp(t)))
        next_frame = time.monotonic() + 1 / 30
    time.sleep(0.01)
"""
