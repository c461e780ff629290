"""The run's stop policy for a backend that cannot be reached: a bench whose model calls keep
failing (connection refused, timeouts, 5xx, each already retried by the backend) stops after a
bounded number of consecutive failures instead of turning every remaining cell into an error."""

from __future__ import annotations

from vrb_agent.benchmark.wrapped import WrappedBackend
from vrb_agent.judges.base import Backend, ConfigError, ModelReply, ModelRequest, TransientError

STOP_AFTER_FAILED_CALLS = 8


class BackendUnreachableError(ConfigError):
    """Consecutive model calls all failed: the server is down or --base-url is wrong (CLI exit 3)."""


class FailureWatch(WrappedBackend):
    """Passes calls to `inner`; after `limit` consecutive calls that end in TransientError (with no
    successful call between them) every call raises BackendUnreachableError, which stops the run.
    Any answer from the server (a reply, a refusal, a rejected request) resets the count."""

    def __init__(self, inner: Backend, limit: int = STOP_AFTER_FAILED_CALLS) -> None:
        super().__init__(inner)
        self.limit = limit
        self.streak = 0
        self.stopped: BackendUnreachableError | None = None

    async def complete(self, request: ModelRequest) -> ModelReply:
        if self.stopped is not None:
            raise self.stopped
        try:
            reply = await self.inner.complete(request)
        except TransientError as exc:
            self.streak += 1
            if self.streak >= self.limit:
                self.stopped = BackendUnreachableError(
                    f"stopped the run: the last {self.streak} model calls all failed (last: {exc}); "
                    "check that the server is up and --base-url is right, then run the same command "
                    "with --retry-errors to resume (finished results are kept)"
                )
                raise self.stopped from None
            raise
        except Exception:
            self.streak = 0
            raise
        self.streak = 0
        return reply
