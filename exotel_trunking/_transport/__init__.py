"""The only package that touches httpx: pacing, sending, decoding and retrying requests."""

from ._envelope import Envelope
from ._http import Call, HTTPTransport, RetryEvent
from ._ratelimit import Limiter, RateLimit
from ._retry import RetryPolicy

__all__ = ["Call", "Envelope", "HTTPTransport", "Limiter", "RateLimit", "RetryEvent", "RetryPolicy"]
