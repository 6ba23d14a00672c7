"""Webhook targets: every address a name resolves to is checked; the checked one is used."""

import asyncio
from collections.abc import Sequence

import pytest

from gql_server.values.targets import Resolver, TargetRefused, resolve


def resolver(*addresses: str) -> Resolver:
    async def resolve_to(host: str, port: int) -> Sequence[str]:
        return addresses

    return resolve_to


def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    with pytest.raises(TargetRefused) as refused:
        asyncio.run(
            resolve("https://hooks.example.com/", [], resolver("93.184.216.34", "192.168.1.1"))
        )
    # Without the address or its kind: the refusal is no DNS oracle.
    assert str(refused.value) == (
        "url's host hooks.example.com resolves to an address that is not public;"
        " webhooks go to public addresses only"
    )


def test_a_literal_address_is_refused_saying_what_it_is() -> None:
    with pytest.raises(TargetRefused, match=r"host 192\.168\.1\.1 is a private address"):
        asyncio.run(resolve("https://192.168.1.1/", [], resolver()))


def test_a_public_name_is_sent_to_the_address_that_was_checked() -> None:
    target = asyncio.run(
        resolve("https://Hooks.Example.com:8443/in", [], resolver("93.184.216.34"))
    )
    assert (target.scheme, target.host, target.port, target.address) == (
        "https", "hooks.example.com", 8443, "93.184.216.34"
    )  # fmt: skip


def test_an_allowed_name_may_resolve_anywhere() -> None:
    target = asyncio.run(resolve("http://receiver/", ["Receiver"], resolver("10.0.0.2")))
    assert target.address == "10.0.0.2"


def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def nowhere(host: str, port: int) -> Sequence[str]:
        raise OSError("Name or service not known")

    with pytest.raises(TargetRefused, match="does not resolve"):
        asyncio.run(resolve("https://nowhere.invalid/", [], nowhere))
