"""`workup worker` refuses claimers that would outnumber its connections, and its advice works.

Each case-run claimer holds its claim while the case's flow takes a second connection; with more
claimers than the engine's connections allow, every claimer waits for a connection that none will
give back (seen with WORKUP_CASE_RUNS_AT_ONCE=16 and the default pool: every case run stalled).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking.cases.errors import InvalidInput
from tracking.settings import Settings
from tracking.worker.lanes import check_connections


def settings(at_once: int, pool_size: int) -> Settings:
    return Settings(WORKUP_CASE_RUNS_AT_ONCE=at_once, WORKUP_DB_POOL_SIZE=pool_size)


def test_the_defaults_fit():
    check_connections(Settings())


@given(at_once=st.integers(1, 32), pool_size=st.integers(1, 40))
def test_refused_exactly_when_claimers_outnumber_the_connections(at_once, pool_size):
    fits = 2 * at_once + 4 <= 3 * pool_size
    if fits:
        check_connections(settings(at_once, pool_size))
        return
    with pytest.raises(InvalidInput) as refused:
        check_connections(settings(at_once, pool_size))
    message = str(refused.value)
    assert f"WORKUP_CASE_RUNS_AT_ONCE={at_once}" in message and f"WORKUP_DB_POOL_SIZE={pool_size}" in message
    larger_pool = int(re.search(r"WORKUP_DB_POOL_SIZE to at least (\d+)", message).group(1))
    check_connections(settings(at_once, larger_pool))  # the advice is enough
    with pytest.raises(InvalidInput):
        check_connections(settings(at_once, larger_pool - 1))  # and no more than enough
    fewer = re.search(r"WORKUP_CASE_RUNS_AT_ONCE to at most (\d+)", message)
    if fewer is None:
        assert 3 * pool_size < 2 * 1 + 4  # not even one claimer fits this pool
    else:
        check_connections(settings(int(fewer.group(1)), pool_size))
        with pytest.raises(InvalidInput):
            check_connections(settings(int(fewer.group(1)) + 1, pool_size))
