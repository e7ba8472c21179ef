"""``python -m posekit`` (and ``torchrun -m posekit train ...``)."""

import sys

from posekit.cli import main

sys.exit(main())
