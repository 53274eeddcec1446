"""Load profiles: ramps, steps, and how many devices stream when."""

from __future__ import annotations

import pytest

from loadtest.profile import ProfileError, constant, parse_ramp, stepped


def test_a_linear_ramp_then_a_hold() -> None:
    profile = parse_ramp("0:0,30:100,90:100")
    assert profile.duration_s == 90 and profile.max_devices == 100
    assert [profile.devices_at(t) for t in (0, 0.29, 0.3, 15, 29.99, 30, 60, 89.99)] == [0, 0, 1, 50, 99, 100, 100, 100]
    assert profile.devices_at(90) == 0 and profile.devices_at(-1) == 0


def test_two_points_at_one_time_make_a_step_and_ramps_go_down() -> None:
    profile = parse_ramp("0:10, 5:10, 5:20, 10:20, 20:0")
    assert [profile.devices_at(t) for t in (4.99, 5, 9.99, 15, 19.99)] == [10, 20, 20, 10, 0]


def test_stepped_profiles() -> None:
    assert parse_ramp("steps:25,50,75@10") == stepped([25, 50, 75], 10)
    profile = stepped([25, 50, 75], 10)
    assert [profile.devices_at(t) for t in (0, 9.9, 10, 25, 29.9)] == [25, 25, 50, 75, 75]
    assert profile.duration_s == 30
    assert constant(100, 20).describe() == "0:100,20:100"


@pytest.mark.parametrize("text, why", [
    ("0:0", "at least two points"), ("5:0,30:10", "starts at 0"), ("0:0,30:10,20:10", "must not go back"),
    ("0:0,30:0", "at least 1 device"), ("0:10,0:10", "longer than 0"), ("0:0,30", "bad ramp point"),
    ("0:0,30:1.5", "bad ramp point"), ("0:0,x:10", "bad ramp point"), ("steps:10@", "bad ramp point"),
])
def test_bad_ramps_say_why(text: str, why: str) -> None:
    with pytest.raises(ProfileError, match=why):
        parse_ramp(text)
