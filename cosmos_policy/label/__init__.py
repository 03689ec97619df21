"""Inverse-dynamics labelling: unlabelled demonstrations in, a LeRobot v3 dataset with
inferred actions out (see docs/LABELLING.md).

| module | holds |
| --- | --- |
| ``episode.py`` | the ``Episode`` every reader returns |
| ``readers/`` | one module per input format and ``detect_format`` |
| ``infer.py`` | sliding windows, samples, stitching, confidence |
| ``cycle.py`` | the forward-dynamics cycle check |
| ``worker.py`` | one loaded model labelling episodes (in-process, pool, Ray) |
| ``shards.py`` | resumable per-episode shards |
| ``assemble.py`` | shards -> the final dataset |
| ``pipeline.py`` | the run |
| ``quality.py`` | R^2 and normalised error against true actions |
"""
