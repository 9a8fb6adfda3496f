"""``[serve] model_cpus``: how the CPUs are split between the model process and the HTTP process (the pinning of
real processes is tested in ``test_model_process.py``)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siteclass.config import Settings, load_settings
from siteclass.errors import InputError
from siteclass.serve.app import create_app
from siteclass.serve.cpus import plan_cpus


def test_the_model_gets_the_last_cpus_it_may_use_and_the_http_side_the_rest() -> None:
    plan = plan_cpus(1, [0, 1])
    assert plan is not None and plan.model == (1,) and plan.http == (0,)
    plan = plan_cpus(2, [2, 5, 7, 9])  # a container's CPU set: the last ones of those allowed
    assert plan is not None and plan.model == (7, 9) and plan.http == (2, 5)
    assert plan_cpus(0, [0, 1]) is None  # the default: no pinning
    assert plan_cpus(0, []) is None  # nor on a platform that cannot pin


@pytest.mark.parametrize(("wanted", "available", "match"), [
    (2, [0, 1], r"model_cpus = 2.*may use 2 CPUs \(0,1\).*below 2"),
    (1, [4], r"model_cpus = 1.*may use 1 CPUs"),
    (1, [], r"model_cpus = 1.*cannot pin.*Linux"),
])
def test_a_count_that_leaves_the_http_side_no_cpu_is_a_clear_error(wanted: int, available: list[int],
                                                                   match: str) -> None:
    with pytest.raises(InputError, match=match):
        plan_cpus(wanted, available)


@given(st.sets(st.integers(0, 255), min_size=1, max_size=64), st.data())
def test_the_split_covers_the_available_cpus_once(available: set[int], data: st.DataObject) -> None:
    cpus = sorted(available)
    wanted = data.draw(st.integers(0, len(cpus) - 1))
    plan = plan_cpus(wanted, cpus)
    if wanted == 0:
        assert plan is None
        return
    assert plan is not None and len(plan.model) == wanted and plan.http
    assert sorted(plan.model + plan.http) == cpus
    assert max(plan.http) < min(plan.model)


def test_the_setting_is_a_count_of_zero_or_more() -> None:
    assert load_settings(None, {"serve.model_cpus": "2"}).serve.model_cpus == 2
    assert load_settings(None, {}).serve.model_cpus == 0
    for bad in ("-1", "all"):
        with pytest.raises(InputError, match=r"serve\.model_cpus"):
            load_settings(None, {"serve.model_cpus": bad})


def test_model_cpus_without_a_model_process_is_a_clear_error(keyword_model) -> None:
    settings = Settings()
    settings.serve.model_cpus = 1
    settings.serve.inference = "thread"
    with pytest.raises(InputError, match=r"model_cpus = 1 pins the model process.*inference 'thread'"):
        create_app(keyword_model, settings)
