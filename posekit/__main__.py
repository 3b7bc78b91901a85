"""``python -m posekit``: the command line (:mod:`posekit.cli`)."""

import sys

from .cli import main

sys.exit(main())
