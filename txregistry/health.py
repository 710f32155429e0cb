"""
The storage driver health check (C{health.storagedriver}): while the driver
fails C{threshold} checks in a row, every API request is answered with
C{503 UNAVAILABLE}, as Distribution does.
"""

from twisted.application.internet import TimerService
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from txregistry.storage.interfaces import PathNotFoundError


class StorageHealth:
    """
    Tracks whether the driver answers.

    @ivar healthy: the current verdict.
    """

    _log = Logger()

    def __init__(self, driver, threshold: int):
        self._driver = driver
        self._threshold = max(threshold, 1)
        self._failures = 0
        self.healthy = True

    async def check(self) -> None:
        """
        Stat the driver's root once and update L{healthy}.
        """
        try:
            await self._driver.stat("/")
        except PathNotFoundError:
            pass  # an empty store is a healthy one
        except Exception as e:
            self._failures += 1
            if self._failures >= self._threshold and self.healthy:
                self._log.error("storage driver unhealthy: {error}", error=e)
                self.healthy = False
            return
        if not self.healthy:
            self._log.info("storage driver healthy again")
        self._failures = 0
        self.healthy = True

    def service(self, interval: float, clock=None) -> TimerService:
        """
        A service running L{check} every C{interval} seconds.
        """
        timer = TimerService(interval, lambda: ensureDeferred(self.check()))
        if clock is not None:
            timer.clock = clock
        return timer
