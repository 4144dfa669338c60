"""``python -m bulksms``: the ``bulksms`` command."""

import sys

try:
    from bulksms.cli import main

    main()
except KeyboardInterrupt:
    # Interrupted while still starting up (the demo stops its worker this way):
    # nothing was under way, so no traceback.
    sys.exit(130)
