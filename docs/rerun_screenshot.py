"""Screenshot of one eval episode in Rerun's web viewer, taken with headless Chromium.

Reproduces docs/images/rerun_eval_reach_franka.png (docs/VIZ.md)::

    apt-get install -y chromium            # Debian's package; run as root: --no-sandbox
    python docs/rerun_screenshot.py        # eval -> .rrd -> web viewer -> PNG

Steps: ``cosmos-policy eval --task reach --embodiment franka --episodes 1 --lockstep
--rerun`` (skipped with ``--rrd``), the layout of ``cosmos_policy.viz.rerun_blueprint``,
``rerun --serve-web`` on 127.0.0.1 (the viewer the installed rerun-sdk bundles; nothing is
fetched from the network), Chromium headless with SwiftShader's WebGL, driven over the
DevTools protocol: a screenshot every few seconds until two in a row are the same (the
viewer has loaded the recording and stopped drawing), at most ``--max-wait`` seconds.
Every process it starts is stopped before it returns.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--use-gl=angle", "--use-angle=swiftshader",
                  "--enable-unsafe-swiftshader", "--hide-scrollbars", "--no-first-run",
                  "--mute-audio", "--remote-debugging-address=127.0.0.1",
                  "--remote-debugging-port=0"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], log: Path) -> subprocess.Popen:
    """A process in its own session, so stop() ends it and its children."""
    return subprocess.Popen(cmd, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)


def wait_for(what: str, check, timeout_s: float) -> object:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError):
            got = check()
            if got:
                return got
        time.sleep(0.5)
    raise SystemExit(f"{what}: not within {timeout_s:.0f} s")


class DevTools:
    """Calls on the page target of a Chromium started with --remote-debugging-port."""

    def __init__(self, ws: object) -> None:
        self.ws, self.next_id = ws, 0

    @staticmethod
    def page_url(port: int) -> str:
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json", timeout=5))
        return next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"]

    def call(self, method: str, **params: object) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive in between; the answer carries our id
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]


def record_episode(work: Path) -> Path:
    rrd = work / "episode.rrd"
    env = dict(os.environ, PYTHONPATH=str(ROOT), MUJOCO_GL=os.environ.get("MUJOCO_GL", "egl"))
    subprocess.run([sys.executable, "-m", "cosmos_policy.cli", "eval", "--task", "reach",
                    "--embodiment", "franka", "--episodes", "1", "--lockstep",
                    "--out", str(work / "eval"), "--rerun", str(rrd)],
                   check=True, env=env, cwd=work, timeout=900)
    return rrd


def screenshot(rrd: Path, rbl: Path, out: Path, work: Path, *, size: tuple[int, int],
               min_wait_s: float, max_wait_s: float) -> None:
    from websockets.sync.client import connect

    rerun = shutil.which("rerun", path=str(Path(sys.executable).parent)) or "rerun"
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install -y chromium")
    grpc, http = free_port(), free_port()
    viewer = start([rerun, "--serve-web", "--bind", "127.0.0.1", "--port", str(grpc),
                    "--web-viewer-port", str(http), "--renderer", "webgl", str(rrd), str(rbl)],
                   work / "rerun.log")
    profile = work / "chromium-profile"
    browser = None
    try:
        wait_for("the web viewer", lambda: urllib.request.urlopen(
            f"http://127.0.0.1:{http}/", timeout=2).status == 200, 60)
        browser = start([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                         f"--window-size={size[0]},{size[1]}", "about:blank"],
                        work / "chromium.log")
        port_file = profile / "DevToolsActivePort"
        port = int(wait_for("chromium's DevTools port",
                            lambda: port_file.read_text().split()[0], 60))
        with connect(DevTools.page_url(port), max_size=None, open_timeout=10) as ws:
            tools = DevTools(ws)
            tools.call("Emulation.setDeviceMetricsOverride", width=size[0], height=size[1],
                       deviceScaleFactor=1, mobile=False)
            source = urllib.parse.quote(f"rerun+http://127.0.0.1:{grpc}/proxy", safe="")
            tools.call("Page.navigate",
                       url=f"http://127.0.0.1:{http}/?url={source}&renderer=webgl")
            t0, last = time.monotonic(), b""
            time.sleep(min_wait_s)
            while True:
                png = base64.b64decode(tools.call("Page.captureScreenshot", format="png")["data"])
                waited = time.monotonic() - t0
                if png == last or waited > max_wait_s:
                    break
                last = png
                time.sleep(5)
        print(f"screenshot after {waited:.0f} s ({'settled' if png == last else 'max wait'})")
    finally:
        if browser is not None:
            stop(browser)
        stop(viewer)
    write_png(png, out)


def write_png(png: bytes, out: Path, limit: int = 500_000) -> None:
    """The PNG, quantised to 256 colours when it is over ``limit`` bytes (docs stay small)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    if len(png) > limit:
        from PIL import Image

        buf = io.BytesIO()
        Image.open(io.BytesIO(png)).convert("RGB").quantize(256).save(buf, "PNG", optimize=True)
        png = buf.getvalue()
    out.write_bytes(png)
    print(f"{out} ({len(png) / 1e3:.0f} kB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rrd", type=Path, help="a recording to show (default: record one)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "docs" / "images" / "rerun_eval_reach_franka.png")
    parser.add_argument("--size", default="1600x1000", help="viewport, WIDTHxHEIGHT")
    parser.add_argument("--min-wait", type=float, default=20.0,
                        help="seconds before the first screenshot (SwiftShader is slow)")
    parser.add_argument("--max-wait", type=float, default=180.0)
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))
    sys.path.insert(0, str(ROOT))
    from cosmos_policy.viz.rerun_blueprint import main as write_blueprint

    with tempfile.TemporaryDirectory(prefix="rerun-shot-") as tmp:
        work = Path(tmp)
        rrd = args.rrd.resolve() if args.rrd else record_episode(work)
        rbl = work / "episode.rbl"
        write_blueprint([str(rbl), "--embodiment", "franka"])
        screenshot(rrd, rbl, args.out.resolve(), work, size=(width, height),
                   min_wait_s=args.min_wait, max_wait_s=args.max_wait)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
