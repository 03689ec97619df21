"""cosmos-policy: a robot policy runtime for world-action models."""

import os as _os

# MuJoCo picks its OpenGL platform once, when ``mujoco`` is first imported: offscreen EGL
# unless the user chose another. Set here, before any module of ours can import mujoco, so the
# order of imports in a command never decides it (GLFW needs a display a robot or CI lacks).
_os.environ.setdefault("MUJOCO_GL", "egl")

__version__ = "0.1.0"
