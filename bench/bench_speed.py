"""The three speed targets of "fast by default", side by side from one run.

    .venv/bin/python bench/bench_speed.py

Runs, one after the other on the same machine, and prints their headline ratios in one table:

1. ``bench_backends.py --model mobilenet_v2_1.4``: the fastest float32 backend / the TFLite interpreter
   (target <= 1.2),
2. ``bench_live.py`` (x0.5 model, 640x480 frames through the Webcam page's path at 30 fps): analysed frames per
   second (target >= 25),
3. ``bench_video.py`` (dance.avi, the default model, ``auto``): end-to-end fps / the bare network's fps
   (target >= 0.85).

Each bench's full output is printed first. On a machine shared with other work the absolute rates sink; the
ratios of 1 and 3 hold better than the fps of 2, which the camera's rate caps at 30.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

RUNS = [
    ("float32 backend / TFLite (1.4 model)", ["bench_backends.py", "--model", "mobilenet_v2_1.4"],
     r"fastest float32 posekit backend \((.*?)\) / tflite = ([\d.]+)", "<= 1.2", lambda v: v <= 1.2),
    ("webcam analysed fps (x0.5, 640x480)", ["bench_live.py"],
     r"webcam processed fps ([\d.]+)", ">= 25", lambda v: v >= 25),
    ("video end-to-end / forward (dance.avi)", ["bench_video.py"],
     r"ratio end-to-end / forward\s+([\d.]+)", ">= 0.85", lambda v: v >= 0.85),
]


def main() -> None:
    rows = []
    for name, cmd, pattern, target, ok in RUNS:
        print(f"$ {' '.join(['bench/' + cmd[0], *cmd[1:]])}", flush=True)
        out = subprocess.run([sys.executable, str(ROOT / cmd[0]), *cmd[1:]], capture_output=True, text=True)
        text = "\n".join(line for line in (out.stdout + out.stderr).splitlines()
                         if not line.startswith(("INFO:", "WARNING:")) and "Warning" not in line)
        print(text, flush=True)
        m = re.search(pattern, text)
        value = float(m.groups()[-1]) if m else None
        rows.append((name, value, target, None if value is None else ok(value)))
    print("\nspeed targets, one run:")
    for name, value, target, met in rows:
        shown = "failed" if value is None else f"{value:.2f}"
        verdict = "?" if met is None else ("met" if met else "NOT met")
        print(f"  {name:<42} {shown:>8}   target {target:<7} {verdict}")


if __name__ == "__main__":
    main()
