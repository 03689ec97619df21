"""A Rerun blueprint (view layout) for the episode recordings of docs/VIZ.md.

Rerun lays a recording out by itself; for a control-loop episode that means one small plot
per scalar and commanded apart from measured. This layout puts the cameras and the chunk
in the top row, one plot per joint with the command and the measured position together
below, and the loop's health (queue depth, inference latency, safety, watchdog) at the
bottom::

    python -m cosmos_policy.viz.rerun_blueprint --embodiment franka episode.rbl
    rerun ep.rrd episode.rbl

A blueprint applies to recordings of its application id (``cosmos-policy``, all of ours).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cosmos_policy.viz.rerun_log import APPLICATION_ID, require_rerun

COMMANDED = (230, 120, 30)  # orange: what the loop sent
MEASURED = (40, 140, 230)  # blue: what the robot reported


def episode_blueprint(cameras: Sequence[str], joints: Sequence[str]) -> Any:
    """The layout for one episode: ``cameras`` (names under ``camera/``) and ``joints``
    (names under ``joints/commanded`` and ``joints/measured``, gripper included)."""
    rr = require_rerun()
    import rerun.blueprint as rrb
    from rerun.blueprint.encodings import TextLogColumn

    top = [rrb.Spatial2DView(origin=f"/camera/{c}", name=c) for c in cameras]
    top.append(rrb.TensorView(origin="/chunk/actions", name="chunk (step x action)"))
    plots = []
    for joint in joints:
        cmd, meas = f"/joints/commanded/{joint}", f"/joints/measured/{joint}"
        plots.append(rrb.TimeSeriesView(
            name=joint, origin="/joints", contents=[cmd, meas],
            plot_legend=rrb.PlotLegend(visible=joint == joints[0]), overrides={
                cmd: rr.SeriesLines(colors=[COMMANDED], names=["commanded"]).visualizer(),
                meas: rr.SeriesLines(colors=[MEASURED], names=["measured"]).visualizer()}))
    health = [
        rrb.TimeSeriesView(name="plans kept (2+: blending)", origin="/chunk/queue_depth"),
        rrb.TimeSeriesView(name="inference ms", origin="/chunk/latency_ms"),
        rrb.TimeSeriesView(name="safety modified / watchdog holding", origin="/",
                           contents=["/safety/modified", "/watchdog/holding"]),
        rrb.TextLogView(name="safety reasons", origin="/safety/reasons", columns=rrb.TextLogColumns(
            text_log_columns=[TextLogColumn("EntityPath", visible=False),  # room for the body
                              TextLogColumn("LogLevel"), TextLogColumn("Body")])),
    ]
    return rrb.Blueprint(
        rrb.Vertical(rrb.Horizontal(*top), rrb.Grid(*plots, grid_columns=4),
                     rrb.Horizontal(*health), row_shares=[3, 4, 2]),
        rrb.BlueprintPanel(state="collapsed"), rrb.SelectionPanel(state="collapsed"),
        rrb.TimePanel(state="collapsed"))


def main(argv: Sequence[str] | None = None) -> int:
    """Write the blueprint of an embodiment's episodes to an ``.rbl`` file."""
    from cosmos_policy.embodiment import load_embodiment

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="the .rbl file to write")
    parser.add_argument("--embodiment", default="franka")
    args = parser.parse_args(argv)
    emb = load_embodiment(args.embodiment)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    episode_blueprint([c.name for c in emb.cameras], [*emb.joints, "gripper"]).save(
        APPLICATION_ID, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
