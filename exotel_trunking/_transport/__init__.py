"""The only package that touches httpx: pacing, sending, decoding and retrying requests."""

from ._envelope import Envelope
from ._http import Call, HTTPTransport, RetryEvent
from ._ratelimit import Limiter, RateLimit, RateLimiter
from ._retry import RetryPolicy

__all__ = [
    "Call",
    "Envelope",
    "HTTPTransport",
    "Limiter",
    "RateLimit",
    "RateLimiter",
    "RetryEvent",
    "RetryPolicy",
]
