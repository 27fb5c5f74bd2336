"""Background auto-renewal: when to renew, and the daemon thread that checks."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from typing import Callable, Optional

log = logging.getLogger("vcc_pki_client")

#: First retry delay after a failed check (doubles per failure, capped at the check interval).
RETRY_BASE_SECONDS = 60.0


def renewal_threshold(
    not_before: datetime, not_after: datetime, renewal_threshold_days: float
) -> timedelta:
    """Renew when less than this remains: ``renewal_threshold_days`` or a third of the
    certificate's lifetime, whichever is shorter (so a short-lived certificate is not renewed
    again right after each renewal)."""
    lifetime = not_after - not_before
    return min(timedelta(days=renewal_threshold_days), lifetime / 3)


def renewal_due(
    not_before: datetime, not_after: datetime, now: datetime, renewal_threshold_days: float
) -> bool:
    return not_after - now < renewal_threshold(not_before, not_after, renewal_threshold_days)


class AutoRenewer:
    """A daemon thread that calls ``check`` at once and then every ``interval_seconds``.

    ``check`` renews if due and raises on failure; after a failure the next try comes sooner
    (60 s, 120 s, … never later than the interval). ``stop`` wakes the thread and joins it.
    """

    def __init__(
        self, check: Callable[[], bool], interval_seconds: float, name: str = "vcc-pki-renewal"
    ) -> None:
        if interval_seconds <= 0:
            raise ValueError("check interval must be positive")
        self._check = check
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.failures = 0
        self.last_error: Optional[BaseException] = None

    def start(self) -> None:
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: Optional[float] = None) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _next_delay(self) -> float:
        if self.failures == 0:
            return self._interval
        base = min(RETRY_BASE_SECONDS, self._interval)
        return min(self._interval, base * 2.0 ** (self.failures - 1))

    def _run(self) -> None:
        delay = 0.0
        while not self._stop.wait(delay):
            try:
                self._check()
                self.failures = 0
                self.last_error = None
            except Exception as e:  # keep the thread alive; report and back off
                self.failures += 1
                self.last_error = e
                log.warning(
                    "certificate auto-renewal check failed (%d in a row): %s", self.failures, e
                )
            delay = self._next_delay()
