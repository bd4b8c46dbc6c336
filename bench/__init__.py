"""Benchmarks of the performance budget (python -m bench.<name>).

They run the demo centre on throw-away databases with the development keys, so they run
as the demo does (`make run`): OW_DEMO=1, also for the servers they start.
"""

import os

os.environ.setdefault("OW_DEMO", "1")
