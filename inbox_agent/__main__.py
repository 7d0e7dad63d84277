"""``python -m inbox_agent`` is the ``inbox-agent`` command."""

import sys

from inbox_agent.cli import main

sys.exit(main())
