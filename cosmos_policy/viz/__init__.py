"""Recordings for viewers: Rerun (``--rerun FILE.rrd``) off the control thread.

The entity paths are documented in docs/VIZ.md; :mod:`cosmos_policy.viz.rerun_log` imports
``rerun`` only when a recording is asked for (the optional ``viz`` extra).
"""
