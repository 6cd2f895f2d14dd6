"""Rate limits on the write routes, per client address, when RATE_LIMIT_WRITES is set.

Counts live in this process's memory (limits' moving window): each worker counts on its own.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from starlette.exceptions import HTTPException
from starlette.requests import Request

if TYPE_CHECKING:
    from limits import RateLimitItem


class WriteLimit:
    """At most `rate` (e.g. "60/minute") writes per client address; then 429 with Retry-After."""

    def __init__(self, rate: str) -> None:
        # Imported here: with RATE_LIMIT_WRITES unset limits is never loaded, and a cold start
        # (Lambda's) does not pay for its import.
        from limits import parse
        from limits.aio.storage import MemoryStorage
        from limits.aio.strategies import MovingWindowRateLimiter

        self.item: RateLimitItem = parse(rate)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def check(self, request: Request) -> None:
        client = request.client.host if request.client else "unknown"
        if await self.limiter.hit(self.item, "writes", client):
            return
        stats = await self.limiter.get_window_stats(self.item, "writes", client)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise HTTPException(
            429,
            f"Too many writes: at most {self.item}; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )
