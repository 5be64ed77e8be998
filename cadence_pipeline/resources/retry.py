"""A urllib3 retry policy that honours Retry-After only up to a ceiling.

A server may request any wait in Retry-After. Honouring every wait would let one rate limit
hold a weekly run for many minutes, so a longer wait stops the retries. urllib3
then returns the 429 itself (with `raise_on_status=False`), and the connector fails with
the API's rate-limit error.
"""

from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util.retry import Retry

# Longest Retry-After, in seconds, worth waiting for inside one run.
MAX_RETRY_AFTER_SECONDS = 30.0


class CappedRetry(Retry):
    """Retry that gives up, rather than sleeps, when Retry-After exceeds the ceiling."""

    max_retry_after: float = MAX_RETRY_AFTER_SECONDS

    def increment(
        self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None
    ):
        if response is not None:
            wait = self.get_retry_after(response)
            if wait is not None and wait > self.max_retry_after:
                reason = ResponseError(
                    f"Retry-After {wait:.0f} s exceeds the {self.max_retry_after:.0f} s ceiling"
                )
                raise MaxRetryError(_pool, url, reason) from reason
        return super().increment(method, url, response, error, _pool, _stacktrace)
