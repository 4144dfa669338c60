"""``python -m bulksms``: the ``bulksms`` command."""

from bulksms.cli import main

main()
