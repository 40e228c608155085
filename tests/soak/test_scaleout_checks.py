"""The scale-out soak's own checks, on data (the soak itself is opt-in: test_scaleout.py)."""

from __future__ import annotations

from soak.scaleout.drive import _run_id
from soak.scaleout.load import window_peaks

LIMITS = {"slack": {"requests": 60, "window_seconds": 60.0}, "movidesk": {"requests": 10, "window_seconds": 60.0}}


def _log(vendor: str, times: list[float]) -> list[dict]:
    return [{"vendor": vendor, "at": t} for t in times]


def test_window_peak_is_the_busiest_rolling_window_not_the_total() -> None:
    # 5 Movidesk requests in 10 s, then 5 more 70 s later: 10 in all, at most 5 in any 60 s
    entries = _log("movidesk", [float(t) for t in range(0, 10, 2)] + [float(t) for t in range(80, 90, 2)])
    peaks = {p.vendor: p for p in window_peaks(entries + _log("hubspot", [1.0] * 50), LIMITS)}
    assert (peaks["movidesk"].peak, peaks["movidesk"].requests, peaks["movidesk"].limit) == (5, 10, 10)
    assert peaks["slack"].peak == 0


def test_window_peak_sees_a_burst_over_the_limit() -> None:
    entries = _log("slack", [30.0 + i * 0.5 for i in range(61)])  # 61 posts in 30 s
    (slack,) = [p for p in window_peaks(entries, LIMITS) if p.vendor == "slack"]
    assert slack.peak == 61 > slack.limit


def test_claimant_names_carry_the_flow_run_id() -> None:
    run = "4684d3d4-0f18-40ca-a3f0-ac63ec476c1b"
    assert _run_id(f"push-slack-{run}") == run
    assert _run_id("push") == ""
    assert _run_id(None) == ""
