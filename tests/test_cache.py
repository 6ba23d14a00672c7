"""The engine's one cache: least recently used, bounded in bytes, one per schema."""

import functools

from gql_server.engine.cache import PARSED_BYTES_PER_CHAR, EngineCache, cache_of
from gql_server.schema import create_schema
from gql_server.settings import Settings


def test_entries_are_kept_until_their_weights_pass_the_bound() -> None:
    cache = EngineCache(max_bytes=100)
    made: list[str] = []

    def get(key: str, weight: int = 40) -> str:
        def make() -> str:
            made.append(key)
            return key.upper()

        return cache.get(("k", key), make, weight)

    assert get("a") == "A" and get("b") == "B"
    assert get("a") == "A"  # kept, and now used last
    assert made == ["a", "b"]
    get("c")  # 120 bytes: the least recently used (b) goes
    assert cache.bytes == 80 and len(cache) == 2
    get("a")
    get("b")
    assert made == ["a", "b", "c", "b"]


def test_an_entry_heavier_than_the_whole_cache_is_made_but_not_kept() -> None:
    cache = EngineCache(max_bytes=100)
    get = cache.get(("k", "small"), lambda: 1, 10)
    assert get == 1
    assert cache.get(("k", "huge"), lambda: 2, 1000) == 2
    assert len(cache) == 1 and cache.bytes == 10  # and nothing was pushed out


def test_the_schema_owns_one_cache_sized_by_the_setting() -> None:
    schema = create_schema(Settings(cache_bytes=200_000))
    cache = cache_of(schema._schema)
    assert cache.max_bytes == 200_000
    rules = schema.document_rules
    assert rules is not None and rules.cache is cache
    # Parsing goes through it, weighed by the document's length: a document
    # padded with a comment to more than the cache holds is parsed, not kept.
    small = "{ __typename }"
    assert rules.parse(small) is rules.parse(small)
    padded = "{ __typename } #" + "x" * (200_000 // PARSED_BYTES_PER_CHAR)
    assert rules.parse(padded) is not rules.parse(padded)
    assert cache.bytes <= cache.max_bytes


def test_what_is_kept_of_a_document_goes_with_it() -> None:
    # Nodes keep their document's text alive: entries keyed by them (validation,
    # cost, plans) are kept only while the document's own entry is, so small
    # entries cannot pin documents the cache no longer counts.
    cache = EngineCache(max_bytes=10_000)
    document, operation = object(), object()
    cache.get(("parse", "a"), lambda: document, weight=4_000)
    cache.adopt(("parse", "a"), [document, operation])
    cache.get(("validate", "a"), lambda: [], weight=100, owner=document)
    cache.get(("cost", "a"), lambda: 7, weight=100, owner=operation)
    assert len(cache) == 3 and cache.bytes == 4_200
    stranger = object()  # a node of no document the cache holds: made, not kept
    assert cache.get(("cost", "b"), lambda: 8, owner=stranger) == 8
    assert len(cache) == 3
    # Two more documents push the first out, and what was kept of it goes too.
    cache.get(("parse", "b"), lambda: object(), weight=4_000)
    cache.get(("parse", "c"), lambda: object(), weight=4_000)
    assert len(cache) == 2 and cache.bytes == 8_000
    made = []
    cache.get(("validate", "a"), lambda: made.append(1), owner=document)
    assert made == [1] and len(cache) == 2


def test_entries_of_a_document_that_went_on_their_own_are_no_longer_its() -> None:
    # A popular document lives long while entries of its (a page's arguments per
    # cursor) come and go: the document must not keep a list of them that grows.
    cache = EngineCache(max_bytes=5_000)
    document = object()
    cache.get(("parse", "a"), lambda: document, weight=1_000)
    cache.adopt(("parse", "a"), [document])
    for n in range(1_000):
        cache.get(("parse", "a"), lambda: document)  # used: stays the newest
        cache.get(("arguments", n), functools.partial(int, n), weight=1_000, owner=document)
    assert len(cache._members[("parse", "a")]) <= 4
    assert cache.bytes <= 5_000
