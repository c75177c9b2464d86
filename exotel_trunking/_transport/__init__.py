"""Pacing, sending, decoding, paging and retrying requests: all the SDK does with httpx2."""

from ._envelope import Envelope
from ._http import Call, RateLimitWait, Requester, RetryEvent
from ._pagination import ListIterator, records
from ._ratelimit import LocalRateLimiter, RateLimit, RateLimiter
from ._retry import RetryPolicy

__all__ = [
    "Call",
    "Envelope",
    "ListIterator",
    "LocalRateLimiter",
    "RateLimit",
    "RateLimitWait",
    "RateLimiter",
    "Requester",
    "RetryEvent",
    "RetryPolicy",
    "records",
]
