"""A report a coach or a physiotherapist can hand over: one HTML5 file per session, in degrees and metres.

The file stands alone: its style is inline, its pictures (JPEG) and charts (SVG drawn by
:mod:`posekit.report.charts`) are ``data:`` URIs, it runs no script and fetches nothing, so it opens anywhere,
offline, and prints to PDF from a browser (A4, a page break before each section). A 2-minute clip makes well
under a megabyte or two: a few pictures, charts thinned to about 900 points a line.

What it holds (:func:`video_report`):

- who and what: the clip's name, when it was recorded (when the clip says) and when the report was made, the
  length analysed, the person's picture and number, the settings (pose model, second stage, angle convention);
- key moments with the skeleton drawn (:mod:`posekit.draw`): the person's first and last frame and the two ends of
  the joint that moves most (:func:`posekit.sequence.most_moving_angle`);
- joint angles over time, one chart per joint with the convention under it, and the range of motion (lowest,
  highest, range, when) per joint: "not in the picture" where a joint was never measured, never a number;
- repetitions (:func:`posekit.sequence.count_repetitions` on the most moving joint): count, range and duration
  of each, their spread;
- with the person's height: distances and speeds in metres and m/s (centre of the hips, wrists, ankles), scaled
  by :func:`posekit.export.pixels_per_metre`, with the assumption written out (one fixed camera, movement roughly
  parallel to the picture);
- with a reference (:func:`comparison_report`): the similarity, the phases with their joints in words, the
  repetitions paired with the reference's, and both movements side by side at the three moments that differ
  most.

One source for the numbers (:mod:`posekit.report.measures`): the range of motion is
:meth:`~posekit.kinematics.AngleSeries.summary` of the angles as the angle CSV writes them
(:func:`posekit.export.written_angles`), a comparison's repetitions are the rows of the compare CSV report
(:func:`posekit.compare.report_rows`). Number cells carry their value (``data-value``) as the files hold it.

:func:`image_report` is the same for one person in a photo. ``python -m posekit report`` and the app's "Download
report" buttons (Image, Video, Compare videos) make them.
"""

from .build import clip_of_people, clip_of_video, comparison_report, image_report, video_report, write_report
from .html import NOT_SEEN
from .sections import Clip, ReportSettings

__all__ = ["NOT_SEEN", "Clip", "ReportSettings", "clip_of_people", "clip_of_video", "comparison_report",
           "image_report", "video_report", "write_report"]
