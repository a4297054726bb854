"""CallRateLimiter: Marketo's 100 calls per 20 s, kept on our side as a sliding window."""

from __future__ import annotations

from tap_marketo_bulk.marketo.ratelimit import CallRateLimiter


def test_rate_limiter_waits_for_the_oldest_call_to_leave_the_window() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limiter = CallRateLimiter(3, 20.0, clock=lambda: now[0], sleep=sleep)
    for at in (0.0, 1.0, 2.0):
        now[0] = at
        limiter.acquire()
    now[0] = 5.0
    limiter.acquire()  # the 4th call must wait until the call at t=0 is 20 s old
    assert slept == [15.0]
    assert now[0] == 20.0
