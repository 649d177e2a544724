"""The attestor's restart policy: exponential back-off with a cap, a stable run resets it, and too many deaths in
a row stop the restarts."""

from __future__ import annotations

import pytest

from sextant.trust.restart import RestartPolicy


def test_the_delay_doubles_with_each_death_in_a_row_up_to_the_cap() -> None:
    policy = RestartPolicy(first_delay_s=0.25, max_delay_s=2.0, max_deaths_in_a_row=10)
    assert [policy.delay_s(n) for n in range(1, 7)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]


def test_a_child_that_ran_stably_restarts_at_the_first_delay() -> None:
    policy = RestartPolicy(stable_after_s=60.0)
    assert policy.deaths_in_a_row(5, up_for_s=0.5) == 6
    assert policy.deaths_in_a_row(5, up_for_s=61.0) == 1


def test_too_many_deaths_in_a_row_give_up() -> None:
    policy = RestartPolicy(max_deaths_in_a_row=3)
    assert policy.delay_s(3) is not None and policy.delay_s(4) is None


def test_a_policy_that_makes_no_sense_is_refused() -> None:
    with pytest.raises(ValueError, match="first_delay_s"):
        RestartPolicy(first_delay_s=5.0, max_delay_s=1.0)
    with pytest.raises(ValueError, match="max_deaths_in_a_row"):
        RestartPolicy(max_deaths_in_a_row=0)
    with pytest.raises(TypeError):
        RestartPolicy(delay=1.0)  # type: ignore[call-arg]
