"""The engine's one cache: what pure functions of a document gave, bounded in bytes.

Parsing, validation, the cost estimate, variable coercion plans, operation and
list plans, rendered selections: each depends only on the document, the schema
and (for some) the values of @include/@skip or scalar variables, never on who
asks or on the data. Dashboards send the same few documents over and over, so
each is kept here, in one least-recently-used cache per schema (`cache_of`),
sized by one setting (GQL_SERVER_CACHE_BYTES) as asyncpg sizes its statement
cache. Entries weigh what their caller estimates (a parsed document: its
text's length times PARSED_BYTES_PER_CHAR; anything else ENTRY_BYTES), so
anonymous documents cannot pin more memory than the setting allows.

Keys are tuples whose first item names the kind of entry. Keys that hold AST
nodes hold them by identity (`Same`): nodes compare by value, walking their
whole subtree. Nothing here awaits, so a get and its insert are one step of
the event loop: a concurrent request cannot evict an entry between them.
"""

import collections
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from graphql import GraphQLSchema

T = TypeVar("T")
V = TypeVar("V")

# Estimates, in bytes: a parsed document (its source, tokens and nodes, with
# locations) per character of its text; any other entry (a plan, a validation
# result, a selection).
PARSED_BYTES_PER_CHAR = 48
ENTRY_BYTES = 2048
DEFAULT_BYTES = 64 * 1024 * 1024
SCHEMA_KEY = "gql_server.cache"


class Same(Generic[T]):
    """A cache key that is its value's identity; the key holds the value, so its id
    is not reused while the entry lives."""

    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value

    def __hash__(self) -> int:
        return id(self.value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Same) and other.value is self.value


class EngineCache:
    """Least recently used entries, at most `max_bytes` of them by their weights.

    An entry whose key holds nodes of a parsed document names that document's
    parse entry as its owner (`owner`: a node registered by `adopt`): it is kept
    only while the document is, and goes with it. Nodes keep their document's
    text alive, so without this a few small entries could pin documents whose
    weight the cache no longer counts."""

    def __init__(self, max_bytes: int = DEFAULT_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        # key -> (value, weight, the key of the entry that owns it or None)
        self._entries: collections.OrderedDict[
            tuple[Any, ...], tuple[Any, int, tuple[Any, ...] | None]
        ] = collections.OrderedDict()
        self._owners: dict[int, tuple[Any, ...]] = {}  # id(node) -> its parse entry's key
        self._members: dict[tuple[Any, ...], set[tuple[Any, ...]]] = {}
        self._adopted: dict[tuple[Any, ...], list[int]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self,
        key: tuple[Any, ...],
        make: Callable[[], V],
        weight: int = ENTRY_BYTES,
        owner: Any = None,
    ) -> V:
        """The entry for `key`, made by `make` (and kept, if it fits and its owner's
        document is kept) when missing."""
        found = self._entries.get(key)
        if found is not None:
            self._entries.move_to_end(key)
            value: V = found[0]
            return value
        made = make()
        owned_by = None
        if owner is not None:
            owned_by = self._owners.get(id(owner))
            if owned_by is None or owned_by not in self._entries:
                return made  # a document the cache does not hold: nothing of it is kept
        if weight <= self.max_bytes:
            self._entries[key] = (made, weight, owned_by)
            self.bytes += weight
            if owned_by is not None:
                self._members.setdefault(owned_by, set()).add(key)
            self._evict()
        return made

    def adopt(self, document_key: tuple[Any, ...], nodes: Iterable[Any]) -> None:
        """Name the entry `document_key` (a parsed document's) the owner of entries
        keyed by these nodes of it."""
        if document_key not in self._entries:
            return
        ids = self._adopted.setdefault(document_key, [])
        for node in nodes:
            self._owners[id(node)] = document_key
            ids.append(id(node))

    def _evict(self) -> None:
        while self.bytes > self.max_bytes and self._entries:
            key, (_, dropped, owned_by) = self._entries.popitem(last=False)
            self.bytes -= dropped
            if owned_by is not None:  # no longer one of its owner's
                self._members.get(owned_by, set()).discard(key)
            self._forget(key)

    def _forget(self, key: tuple[Any, ...]) -> None:
        """What goes with an entry that went: the entries it owned."""
        for node_id in self._adopted.pop(key, ()):
            self._owners.pop(node_id, None)
        for member in self._members.pop(key, ()):
            entry = self._entries.pop(member, None)
            if entry is not None:
                self.bytes -= entry[1]

    def clear(self) -> None:
        self._entries.clear()
        self._owners.clear()
        self._members.clear()
        self._adopted.clear()
        self.bytes = 0


def cache_of(schema: GraphQLSchema) -> EngineCache:
    """The schema's cache (create_schema sizes it; other schemas get the default)."""
    cache = schema.extensions.get(SCHEMA_KEY)
    if cache is None:
        cache = attach_cache(schema, EngineCache())
    assert isinstance(cache, EngineCache)
    return cache


def attach_cache(schema: GraphQLSchema, cache: EngineCache) -> EngineCache:
    schema.extensions = {**(schema.extensions or {}), SCHEMA_KEY: cache}
    return cache
