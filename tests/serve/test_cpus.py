"""``[serve] model_cpus``: how the CPUs are split between the model process and the HTTP process (the pinning of
real processes is tested in ``test_model_process.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siteclass.config import load_settings
from siteclass.errors import InputError
from siteclass.serve.cpus import plan_cpus


def test_auto_reserves_one_cpu_for_a_single_threaded_model_when_two_or_more_are_available() -> None:
    plan = plan_cpus("auto", True, [0, 1])
    assert plan is not None and plan.model == (1,) and plan.http == (0,)
    assert plan.describe() == "model process on CPU 1, HTTP on CPU 0"
    plan = plan_cpus("auto", True, [2, 5, 7, 9])  # a container's CPU set: the last one of those allowed
    assert plan is not None and plan.model == (9,) and plan.http == (2, 5, 7)
    assert plan_cpus("auto", True, [3]) is None  # one CPU: nothing to split
    assert plan_cpus("auto", False, [0, 1, 2, 3]) is None  # ONNX Runtime / torch use several threads
    assert plan_cpus("auto", True, []) is None  # a platform that cannot pin (not Linux)


def test_an_explicit_count_is_taken_as_given_and_zero_turns_pinning_off() -> None:
    plan = plan_cpus(2, False, [0, 1, 2, 3])
    assert plan is not None and plan.model == (2, 3) and plan.http == (0, 1)
    assert plan_cpus(0, True, [0, 1]) is None


@pytest.mark.parametrize(("wanted", "available", "match"), [
    (2, [0, 1], r"model_cpus = 2.*may use 2 CPUs \(0,1\).*below 2"),
    (1, [4], r"model_cpus = 1.*may use 1 CPUs"),
    (1, [], r"model_cpus = 1.*cannot pin.*Linux"),
])
def test_a_count_that_leaves_the_http_side_no_cpu_is_a_clear_error(wanted: int, available: list[int],
                                                                   match: str) -> None:
    with pytest.raises(InputError, match=match):
        plan_cpus(wanted, True, available)


@given(st.sets(st.integers(0, 255), min_size=1, max_size=64), st.data())
def test_the_split_covers_the_available_cpus_once(available: set[int], data: st.DataObject) -> None:
    cpus = sorted(available)
    wanted = data.draw(st.integers(0, len(cpus) - 1))
    plan = plan_cpus(wanted, data.draw(st.booleans()), cpus)
    if wanted == 0:
        assert plan is None
        return
    assert plan is not None and len(plan.model) == wanted and plan.http
    assert sorted(plan.model + plan.http) == cpus
    assert max(plan.http) < min(plan.model)


def test_the_setting_takes_auto_or_a_count() -> None:
    assert load_settings(None, {"serve.model_cpus": "2"}).serve.model_cpus == 2
    assert load_settings(None, {}).serve.model_cpus == "auto"
    for bad in ("-1", "all"):
        with pytest.raises(InputError, match=r"serve\.model_cpus"):
            load_settings(None, {"serve.model_cpus": bad})
