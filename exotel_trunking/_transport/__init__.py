"""The only package that touches httpx2: pacing, sending, decoding, paging and retrying."""

from ._envelope import Envelope
from ._http import Call, Requester, RetryEvent
from ._pagination import ListIterator, records
from ._ratelimit import LocalRateLimiter, RateLimit, RateLimiter
from ._retry import RetryPolicy

__all__ = [
    "Call",
    "Envelope",
    "ListIterator",
    "LocalRateLimiter",
    "RateLimit",
    "RateLimiter",
    "Requester",
    "RetryEvent",
    "RetryPolicy",
    "records",
]
