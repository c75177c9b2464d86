"""The Redis rate limiter against a real ``redis-server``, in one process and across several."""
