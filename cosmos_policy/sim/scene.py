"""The tabletop scene: an embodiment's ``model.xml`` attached at the world origin of
``sim/scenes/tabletop.xml`` (table, three cubes, push target region, plate, light), plus the
embodiment's world cameras.

Frames follow docs/CONTRACTS.md: world = robot base frame, table top at z = 0, x away from
the robot. :class:`Scene` owns the ``MjModel``/``MjData`` pair and gives named access to the
things tasks and experts need; it knows nothing of rewards or prompts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import mujoco
import numpy as np

from cosmos_policy.embodiment import Camera, Embodiment
from cosmos_policy.errors import UserError
from cosmos_policy.paths import sim_dir
from cosmos_policy.training.layout import load_layout

# The cube colours (and the recorded fixtures) are the suite's, sim/suites/tabletop.yaml: one
# source for the scene, the tasks, the recordings and training. The MJCF names cube_<colour>.
COLORS = load_layout().colors
CUBE_HALF = 0.02  # m, half the cube's edge
PLATE_RADIUS = 0.07  # m
PLATE_TOP = 0.01  # m, height of the plate's top face
REGION_HALF = 0.05  # m, half the side of the push target region


def camera_xyaxes(pos: Sequence[float], lookat: Sequence[float]) -> np.ndarray:
    """MuJoCo ``xyaxes`` (6,) of a camera at ``pos`` looking at ``lookat`` with world z up.

    A MuJoCo camera looks along its -z axis; x is image right, y image up.
    """
    forward = np.asarray(lookat, float) - np.asarray(pos, float)
    forward /= np.linalg.norm(forward)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-6:  # looking straight down: pick image right = -y
        right = np.array([0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return np.concatenate([right, up])


def build_model(embodiment: Embodiment, cameras: Sequence[Camera],
                image_hw: tuple[int, int] | None = None) -> mujoco.MjModel:
    """Compile the tabletop scene with ``embodiment`` attached at the origin.

    cameras: the embodiment cameras the scene must provide; world-mounted ones are added here,
        the others must already exist in ``model.xml``.
    image_hw: (height, width) every camera renders at, or None for each camera's own size;
        the offscreen buffer is sized to fit.
    """
    spec = mujoco.MjSpec.from_file(str(sim_dir() / "scenes" / "tabletop.xml"))
    robot = mujoco.MjSpec.from_file(str(embodiment.model_path))
    base = robot.body(embodiment.base_body)
    if base is None:
        raise UserError(f"{embodiment.model_path}: no body '{embodiment.base_body}' (base_body)")
    spec.worldbody.add_frame(pos=[0.0, 0.0, 0.0]).attach_body(base, "", "")
    for cam in cameras:
        if cam.mount == "world":
            spec.worldbody.add_camera(name=cam.mjcf_camera, pos=list(cam.pos),
                                      fovy=cam.fovy_deg, mode=mujoco.mjtCamLight.mjCAMLIGHT_FIXED)
            spec.camera(cam.mjcf_camera).alt.type = mujoco.mjtOrientation.mjORIENTATION_XYAXES
            spec.camera(cam.mjcf_camera).alt.xyaxes = camera_xyaxes(cam.pos, cam.lookat).tolist()
        elif spec.camera(cam.mjcf_camera) is None:
            raise UserError(f"{embodiment.model_path}: camera '{cam.mjcf_camera}' of "
                            f"'{cam.name}' is missing; add it to the body '{cam.mount}'")
    sizes = [image_hw or (c.height, c.width) for c in cameras] or [(1, 1)]
    spec.visual.global_.offheight = max(h for h, _ in sizes)  # larger buffers cost time
    spec.visual.global_.offwidth = max(w for _, w in sizes)
    return spec.compile()


class Scene:
    """Named access to a compiled tabletop scene.

    All positions are metres in the world (= robot base) frame; quaternions are MuJoCo's
    (w, x, y, z).
    """

    def __init__(self, embodiment: Embodiment, cameras: Sequence[str],
                 image_hw: tuple[int, int] | None = None) -> None:
        self.embodiment = embodiment
        self.cameras = tuple(embodiment.camera(c) for c in cameras)
        self.model = build_model(embodiment, self.cameras, image_hw)
        self.data = mujoco.MjData(self.model)
        self.image_hw = image_hw
        m = self.model
        self.n_substeps = max(1, round(1.0 / (embodiment.control_rate_hz * m.opt.timestep)))
        self.arm_qadr = np.array([m.joint(j).qposadr[0] for j in embodiment.joints])
        self.arm_vadr = np.array([m.joint(j).dofadr[0] for j in embodiment.joints])
        self.arm_act = np.array([m.actuator(a).id for a in embodiment.actuators])
        self.grip_qadr = m.joint(embodiment.gripper.joints[0]).qposadr[0]
        self.grip_act = m.actuator(embodiment.gripper.actuator).id
        self.tcp_site = m.site(embodiment.ee_site).id
        self.cube_body = {c: m.body(f"cube_{c}").id for c in COLORS}
        self.cube_qadr = {c: m.joint(f"cube_{c}").qposadr[0] for c in COLORS}
        self.cube_vadr = {c: m.joint(f"cube_{c}").dofadr[0] for c in COLORS}
        self.cube_geom = {c: m.geom(f"cube_{c}").id for c in COLORS}
        self.plate_body = m.body("plate").id
        self.region_body = m.body("target_region").id
        root = m.body(embodiment.base_body).id
        robot_bodies = {b for b in range(m.nbody) if self._has_ancestor(b, root)}
        self.robot_geoms = frozenset(g for g in range(m.ngeom) if m.geom_bodyid[g] in robot_bodies)
        self._renderers: dict[tuple[int, int], mujoco.Renderer] = {}
        self._vopt = mujoco.MjvOption()
        self._vopt.geomgroup[:4] = 1  # embodiments keep hand and finger geoms in group 3

    def _has_ancestor(self, body: int, root: int) -> bool:
        while body != 0:
            if body == root:
                return True
            body = self.model.body_parentid[body]
        return False

    # --- state ---------------------------------------------------------------------------
    def reset_robot(self, q: np.ndarray | None = None) -> None:
        """Arm joints to ``q`` (default home), gripper open, velocities zero, targets tracking."""
        emb = self.embodiment
        q = emb.home if q is None else q
        self.data.qpos[self.arm_qadr] = q
        for joint in emb.gripper.joints:
            self.data.qpos[self.model.joint(joint).qposadr[0]] = emb.gripper.open_position
        self.data.qvel[:] = 0.0
        self.set_targets(q, 0.0)

    def set_targets(self, q: np.ndarray, gripper: float) -> None:
        """Actuator targets: arm joints (rad|m), gripper command in [0, 1] (1 closed)."""
        self.data.ctrl[self.arm_act] = q
        self.data.ctrl[self.grip_act] = self.gripper_position(gripper)

    def gripper_position(self, command: float) -> float:
        """Gripper command in [0, 1] (0 open) -> joint position of the gripper actuator."""
        return self.embodiment.gripper.position(command)

    def place_cube(self, color: str, xy: Sequence[float], yaw: float = 0.0) -> None:
        adr, vadr = self.cube_qadr[color], self.cube_vadr[color]
        self.data.qpos[adr:adr + 3] = [xy[0], xy[1], CUBE_HALF]
        self.data.qpos[adr + 3:adr + 7] = [np.cos(yaw / 2), 0.0, 0.0, np.sin(yaw / 2)]
        self.data.qvel[vadr:vadr + 6] = 0.0

    def place_plate(self, xy: Sequence[float]) -> None:
        self.model.body_pos[self.plate_body, :2] = xy

    def place_region(self, xy: Sequence[float]) -> None:
        self.model.body_pos[self.region_body, :2] = xy

    def forward(self) -> None:
        mujoco.mj_forward(self.model, self.data)

    def step(self, q_target: np.ndarray, gripper: float) -> None:
        """Advance one control period, ramping the arm targets linearly from the previous ones
        (what the runtime's interpolation does on a robot); the gripper target is set at once."""
        q0 = self.data.ctrl[self.arm_act].copy()
        self.data.ctrl[self.grip_act] = self.gripper_position(gripper)
        n = self.n_substeps
        for i in range(1, n + 1):
            self.data.ctrl[self.arm_act] = q0 + (q_target - q0) * (i / n)
            mujoco.mj_step(self.model, self.data)

    # --- readings ------------------------------------------------------------------------
    def arm_q(self) -> np.ndarray:
        return self.data.qpos[self.arm_qadr].copy()

    def arm_qvel(self) -> np.ndarray:
        return self.data.qvel[self.arm_vadr].copy()

    def gripper_opening(self) -> float:
        """Gripper opening normalised to [0, 1] (0 open, 1 closed)."""
        return self.embodiment.gripper.opening(float(self.data.qpos[self.grip_qadr]))

    def tcp_pos(self) -> np.ndarray:
        return self.data.site_xpos[self.tcp_site].copy()

    def tcp_rot(self) -> np.ndarray:
        return self.data.site_xmat[self.tcp_site].reshape(3, 3).copy()

    def cube_pos(self, color: str) -> np.ndarray:
        return self.data.xpos[self.cube_body[color]].copy()

    def cube_rot(self, color: str) -> np.ndarray:
        return self.data.xmat[self.cube_body[color]].reshape(3, 3).copy()

    def cube_speed(self, color: str) -> float:
        v = self.cube_vadr[color]
        return float(np.linalg.norm(self.data.qvel[v:v + 3]))

    def plate_pos(self) -> np.ndarray:
        return self.data.xpos[self.plate_body].copy()

    def region_pos(self) -> np.ndarray:
        return self.data.xpos[self.region_body].copy()

    def robot_touches(self, color: str) -> bool:
        """True if any robot geom is in contact with the cube of ``color``."""
        cube = self.cube_geom[color]
        for c in self.data.contact[:self.data.ncon]:
            g1, g2 = int(c.geom1), int(c.geom2)
            if (g1 == cube and g2 in self.robot_geoms) or (g2 == cube and g1 in self.robot_geoms):
                return True
        return False

    # --- images --------------------------------------------------------------------------
    def render(self) -> dict[str, np.ndarray]:
        """camera name -> uint8 (H, W, 3) RGB of the current state."""
        images = {}
        for cam in self.cameras:
            hw = self.image_hw or (cam.height, cam.width)
            renderer = self._renderers.get(hw)
            if renderer is None:
                renderer = self._renderers[hw] = mujoco.Renderer(self.model, *hw)
            renderer.update_scene(self.data, camera=cam.mjcf_camera, scene_option=self._vopt)
            images[cam.name] = renderer.render().copy()
        return images

    def close(self) -> None:
        for renderer in self._renderers.values():
            renderer.close()
        self._renderers.clear()


def object_state_reader(env: object) -> tuple[list[str], Callable[[], np.ndarray]] | None:
    """For our MuJoCo tasks: the names and a reader of the target cube's position, each
    cube's, then each fixture's of the suite's layout (the yellow region's and the plate's;
    m, base frame), stored as ``observation.environment_state`` (18,). Training uses it only
    as an auxiliary target (the policy never sees it). None for other envs."""
    scene, task = getattr(env, "scene", None), getattr(env, "task", None)
    if scene is None or task is None or not hasattr(scene, "cube_pos"):
        return None
    layout = load_layout()
    fixtures = {"region": scene.region_pos, "plate": scene.plate_pos}
    unknown = [f for f in layout.fixtures if f not in fixtures]
    if unknown:
        raise UserError(f"the suite's fixture {unknown[0]!r} is not in the tabletop scene; "
                        f"list only {sorted(fixtures)} under `fixtures`")

    def read() -> np.ndarray:
        return np.concatenate([scene.cube_pos(task.color)]
                              + [scene.cube_pos(c) for c in layout.colors]
                              + [fixtures[f]() for f in layout.fixtures]).astype(np.float32)
    return layout.state_names(), read
