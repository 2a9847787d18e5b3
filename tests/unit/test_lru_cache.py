"""`gateway.lru.LruCache` behaves as cachetools' LRUCache, operation by operation."""

from __future__ import annotations

import pytest
from cachetools import LRUCache
from hypothesis import given
from hypothesis import strategies as st

from gateway.lru import LruCache

KEYS = st.sampled_from("abcdefgh")
OPERATIONS = st.lists(
    st.one_of(
        st.tuples(st.just("get"), KEYS),
        st.tuples(st.just("set"), KEYS, st.integers(0, 99)),
        st.tuples(st.just("pop"), KEYS),
    ),
    max_size=60,
)


@given(st.integers(1, 5), OPERATIONS)
def test_every_operation_answers_and_evicts_as_cachetools_does(
    maxsize: int, operations: list[tuple[object, ...]]
) -> None:
    ours: LruCache[str, int] = LruCache(maxsize)
    theirs: LRUCache[str, int] = LRUCache(maxsize=maxsize)
    for operation in operations:
        name, key = operation[0], operation[1]
        assert isinstance(key, str)
        if name == "get":
            assert ours.get(key) == theirs.get(key)
        elif name == "set":
            value = operation[2]
            assert isinstance(value, int)
            ours[key] = value
            theirs[key] = value
        else:
            assert ours.pop(key, None) == theirs.pop(key, None)
        assert len(ours) == len(theirs)
        assert all((k in ours) == (k in theirs) for k in "abcdefgh")


def test_the_least_recently_read_entry_goes_first() -> None:
    cache: LruCache[str, int] = LruCache(2)
    cache["old"] = 1
    cache["new"] = 2
    assert cache.get("old") == 1  # now the most recent
    cache["third"] = 3
    assert "new" not in cache and cache.get("old") == 1 and cache.get("third") == 3


def test_an_empty_cache_is_refused() -> None:
    with pytest.raises(ValueError):
        LruCache(0)
