"""``python -m supervisor_grpc`` is supgrpcd.

Owns: nothing. May import: daemon. Threading: main thread.
"""

import sys

from .daemon import main

sys.exit(main())
