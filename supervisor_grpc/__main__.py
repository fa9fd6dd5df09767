"""``python -m supervisor_grpc`` is supgrpcd."""

import sys

from .daemon import main

sys.exit(main())
