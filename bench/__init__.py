"""Benchmarks of the performance budget (python -m bench.<name>).

They run the demo centre on throw-away databases with the development keys, so they run
as the demo does (`make run`): OW_DEMO=1, also for the servers they start. Their
throw-away databases write no checkpoints (OW_CHECKPOINT_LOG empty): the demo's log records
other cases under the same numbers.
"""

import os

os.environ.setdefault("OW_DEMO", "1")
os.environ.setdefault("OW_CHECKPOINT_LOG", "")
