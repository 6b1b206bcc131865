# Per-task wall times of a playbook run as NDJSON, for benches/ansible/run (the junit callback
# of ansible-core keeps the first start time of a task across serial batches, so its times are
# useless with `serial`). Enabled by the runner: ANSIBLE_CALLBACKS_ENABLED=task_times,
# ANSIBLE_CALLBACK_PLUGINS=<this directory>, IHOS_BENCH_TASK_TIMES=<file>.
from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: task_times
    type: aggregate
    short_description: per-task wall times as NDJSON
    description:
      - One JSON line per task result (task, host, status, seconds since the task started)
        appended to the file named by the IHOS_BENCH_TASK_TIMES environment variable.
    requirements:
      - enabled in configuration
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._path = os.environ.get("IHOS_BENCH_TASK_TIMES")
        self._t0 = time.monotonic()
        self._task = None
        self._started = None

    def v2_playbook_on_task_start(self, task, is_conditional):
        # With serial 1, each batch starts the task anew for its one host.
        self._task = task.get_name().strip()
        self._started = time.monotonic()

    def _record(self, result, status):
        if not self._path or self._started is None:
            return
        now = time.monotonic()
        line = {
            "task": self._task,
            "host": result._host.get_name(),
            "status": status,
            "seconds": round(now - self._started, 4),
            "elapsed": round(now - self._t0, 4),
        }
        with open(self._path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")
