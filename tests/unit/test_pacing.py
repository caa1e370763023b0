"""Pacing with explicit times: never above CPS in any one-second window, concurrency respected, no bursts."""
from __future__ import annotations

import random

import pytest

from outreach.pacing import PaceLimits, Pacer, max_in_window


def _drive(pacer: Pacer, n: int, start: float = 0.0, lateness=lambda i: 0.0, active=lambda i: 0) -> list[float]:
    """Start n calls as soon as allowed (plus some lateness); return the start times."""
    now, starts = start, []
    for i in range(n):
        t = pacer.next_start(now, active(i))
        assert t is not None
        t += lateness(i)
        pacer.record_start(t)
        starts.append(t)
        now = t
    return starts


def test_one_cps_spaces_calls_one_second_apart():
    starts = _drive(Pacer(PaceLimits(cps=1, max_concurrent=10)), 5, start=100.0)
    assert starts == [100.0, 101.0, 102.0, 103.0, 104.0]


@pytest.mark.parametrize("cps", [1, 5, 10, 100])
def test_never_more_than_cps_in_any_window_even_when_late(cps):
    rng = random.Random(cps)
    # Random lateness makes the pacer catch up; the sliding guard must still hold.
    starts = _drive(Pacer(PaceLimits(cps=cps, max_concurrent=10_000)), 20 * cps,
                    lateness=lambda i: rng.choice([0.0, 0.0, 0.003, 0.05]))
    assert max_in_window(starts) <= cps
    assert max_in_window(starts) >= cps * 0.8  # and it does not crawl either


def test_overall_rate_close_to_cps_with_margin():
    cps = 100
    starts = _drive(Pacer(PaceLimits(cps=cps, max_concurrent=10_000, margin_s=0.02)), 1000)
    rate = (len(starts) - 1) / (starts[-1] - starts[0])
    assert 0.95 * cps <= rate <= cps
    assert max_in_window(starts) <= cps


def test_fractional_cps_below_one_spaces_calls_wider():
    starts = _drive(Pacer(PaceLimits(cps=0.5, max_concurrent=1_000)), 4)
    assert starts == [0.0, 2.0, 4.0, 6.0]
    assert max_in_window(starts, 2.0) == 1


def test_concurrent_limit_blocks_until_a_call_ends():
    pacer = Pacer(PaceLimits(cps=10, max_concurrent=2))
    assert pacer.next_start(0.0, active=2) is None
    assert pacer.next_start(0.0, active=1) == 0.0


def test_idle_gap_restarts_the_grid_without_a_burst():
    pacer = Pacer(PaceLimits(cps=10, max_concurrent=100))
    _drive(pacer, 10)
    later = _drive(pacer, 10, start=500.0)
    # After an idle minute the calls are spaced again, not fired all at once.
    assert later[1] - later[0] == pytest.approx(0.1)
    assert max_in_window(later) <= 10


def test_max_in_window_counts_half_open_windows():
    assert max_in_window([0.0, 0.5, 1.0, 1.5]) == 2
    assert max_in_window([]) == 0
    assert max_in_window([0.0, 0.1, 0.2]) == 3


def test_bad_limits_are_rejected():
    with pytest.raises(ValueError):
        PaceLimits(cps=0, max_concurrent=1)
    with pytest.raises(ValueError):
        PaceLimits(cps=1, max_concurrent=0)


def test_guard_counts_from_the_providers_acknowledgement_so_jitter_cannot_break_the_limit():
    pacer = Pacer(PaceLimits(cps=2, max_concurrent=100))
    first = pacer.record_start(0.0, pending=True)
    second = pacer.record_start(pacer.next_start(0.0, 0), pending=True)
    assert pacer.next_start(0.6, 0) is None  # the first request is still on its way
    pacer.record_sent(first, 0.3)  # it may have arrived as late as 0.3
    assert pacer.next_start(0.6, 0) == pytest.approx(1.3)
    pacer.record_sent(second, 0.5)
    third = pacer.next_start(1.3, 0)
    pacer.record_start(third)
    assert pacer.next_start(third, 0) == pytest.approx(1.5)


@pytest.mark.parametrize("cps", [5, 100])
def test_arrivals_anywhere_between_start_and_ack_never_exceed_cps(cps):
    rng = random.Random(cps)
    pacer = Pacer(PaceLimits(cps=cps, max_concurrent=10_000))
    now, arrivals = 0.0, []
    for _ in range(30 * cps):
        at = pacer.next_start(now, 0)
        assert at is not None
        ticket = pacer.record_start(at, pending=True)
        latency = 0.1 if rng.random() < 0.01 else rng.uniform(0.001, 0.01)  # an occasional slow request
        arrivals.append(at + rng.uniform(0, latency))
        pacer.record_sent(ticket, at + latency)
        now = at
    assert max_in_window(arrivals) <= cps
    rate = (len(arrivals) - 1) / (max(arrivals) - min(arrivals))
    assert rate >= 0.95 * cps


def test_a_request_the_provider_never_answers_expires_instead_of_stalling():
    pacer = Pacer(PaceLimits(cps=1, max_concurrent=10))
    pacer.record_start(0.0, pending=True)
    assert pacer.next_start(5.0, 0) is None
    assert pacer.expire(5.0, after_s=30) == 0
    assert pacer.expire(31.0, after_s=30) == 1
    assert pacer.next_start(31.0, 0) == 32.0
