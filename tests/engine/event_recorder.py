"""A thread-safe job-event sink for tests: remembers each event and the thread it came from."""

from __future__ import annotations

import threading


class Recorder:
    def __init__(self) -> None:
        self.events: list = []
        self.threads: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, event) -> None:
        with self._lock:
            self.events.append(event)
            self.threads.append(threading.current_thread().name)

    def of(self, job_id) -> list:
        with self._lock:
            return [e for e in self.events if e.job_id == job_id]

    def types(self, job_id) -> list[str]:
        return [type(e).__name__ for e in self.of(job_id)]
