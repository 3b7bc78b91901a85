"""Batch runs over a library of photos and videos: resumable, on one machine or on a Ray cluster.

>>> from posekit.batch import Settings, collect_inputs, run_batch, LocalEngine
>>> summary = run_batch(["recordings/"], "out/", Settings(keypoints="jsonl", overlay=True))

How a run goes:

* :func:`collect_inputs` turns files, folders (recursive, by extension) and list files (``.txt``: one path a
  line) into :class:`Item` s, each with a *key*: its path relative to the folder it was found in (a file given
  alone: its name). Outputs go under the output folder at that key plus a suffix (``clips/a.mp4`` ->
  ``clips/a.mp4.keypoints.jsonl``, ``clips/a.mp4.overlay.mp4``, ``clips/a.mp4.openpose/``), so the output tree
  mirrors the input tree and ``a.mp4`` and ``a.mov`` in one folder never collide.
* An engine runs :class:`Worker` s, each holding one estimator loaded once: :class:`LocalEngine` (a process
  pool on this machine) or :class:`RayEngine` (Ray actors on a Ray cluster). Both call the same
  :meth:`Worker.run`, so both write the same bytes.
* A worker writes an item's outputs into a staging folder (``<output>/.posekit-partial/<hash>/``) on the same
  volume, then moves each into place with ``os.replace``: an output file is either complete or absent. A
  worker that dies leaves only its staging folder, which the driver removes.
* The driver appends one row per finished input to ``manifest.csv`` (one ``write`` of a whole line, flushed
  and fsynced) and rewrites it compactly (temporary file + ``os.replace``) at the start and the end of a run.
  A rerun skips an input whose last row is done for the same input (size and modification time), the same
  settings hash, and whose outputs all exist; ``force=True`` redoes it. Failed inputs are retried on a rerun.
* A bad input (corrupt, unreadable, empty) is a failed row with a one-line reason, never a crashed run. A
  worker that dies (killed, out of memory, node lost) gets its item retried on a fresh worker, up to
  ``retries`` times, then that item is failed with the reason.

The package's modules, one job each: :mod:`.inputs` (settings, inputs, output names), :mod:`.worker` (one
item into its outputs), :mod:`.engines` (local process pool, Ray), :mod:`.manifest` (the manifest's rows) and
:mod:`.driver` (:func:`run_batch`).
"""

from __future__ import annotations

from .driver import Summary, run_batch
from .engines import LocalEngine, RayEngine, import_ray
from .inputs import LIST_TYPES, PARTIAL, Item, Settings, collect_inputs, output_names, stage_dir
from .manifest import COLUMNS, DONE, FAILED, MANIFEST, SKIPPED, Manifest, Result
from .worker import Worker

__all__ = ["COLUMNS", "DONE", "FAILED", "LIST_TYPES", "MANIFEST", "PARTIAL", "SKIPPED", "Item", "LocalEngine",
           "Manifest", "RayEngine", "Result", "Settings", "Summary", "Worker", "collect_inputs", "import_ray",
           "output_names", "run_batch", "stage_dir"]
