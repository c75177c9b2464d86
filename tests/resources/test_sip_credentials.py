"""``client.credentials``: the live service's SIP digest credentials (create, list, update,
rotate, delete), on the wire, and their retry rules against the emulator."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
import respx

from exotel_trunking import (
    APIConnectionError,
    AsyncTrunkingClient,
    ConflictError,
    NotOnTrunkError,
    ResponseDecodeError,
    RetryPolicy,
    SipCredential,
)
from exotel_trunking._passwords import PASSWORD_ALPHABET, PASSWORD_LENGTH
from exotel_trunking.emulator import Emulator

from .. import wire

pytestmark = pytest.mark.anyio

PATH = f"trunks/{wire.TRUNK_SID}/credentials"
PASSWORD = "Vq8-distinctive-Pa55word"


def credential_record(
    index: int = 0, *, user_name: str = "voicebot", friendly_name: str | None = "Voice bot"
) -> dict[str, Any]:
    """A credential as the credentials document shows it: never a password."""
    return {
        "id": str(1234 + index),
        "trunk_sid": wire.TRUNK_SID,
        "user_name": user_name,
        "friendly_name": friendly_name,
        "date_created": wire.TIMESTAMPS["live"],
        "date_updated": wire.TIMESTAMPS["live"],
        "realm": "pstn.exotel.com",  # a field no document lists: ignored
    }


def expected(
    index: int = 0,
    *,
    user_name: str = "voicebot",
    friendly_name: str | None = "Voice bot",
    password: str | None = None,
) -> SipCredential:
    return SipCredential(
        id=str(1234 + index),
        trunk_sid=wire.TRUNK_SID,
        user_name=user_name,
        friendly_name=friendly_name,
        date_created=wire.DATETIMES["live"],
        date_updated=wire.DATETIMES["live"],
        password=password,
    )


def listing(*records: dict[str, Any]) -> dict[str, Any]:
    return wire.per_item("live", [wire.item_ok("live", r) for r in records], method="GET")


async def test_create_posts_the_given_password_and_returns_it_once_masked_in_repr(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single("live", credential_record(), method="POST")
    )

    async with wire.make_client(exotel) as client:
        created = await client.credentials.create(
            wire.TRUNK_SID, "voicebot", PASSWORD, friendly_name="Voice bot"
        )

    assert route.call_count == 1
    wire.assert_request(
        route.calls.last.request,
        "POST",
        PATH,
        body={"user_name": "voicebot", "password": PASSWORD, "friendly_name": "Voice bot"},
    )
    assert created == expected(password=PASSWORD)
    assert PASSWORD not in repr(created)
    assert PASSWORD not in str(created)
    assert "password='***'" in repr(created)


async def test_create_without_a_password_generates_a_strong_one_and_sends_it(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.post(f"/{PATH}").respond(
        200, json=wire.single("live", credential_record(friendly_name=None), method="POST")
    )

    async with wire.make_client(exotel) as client:
        created = await client.credentials.create(wire.TRUNK_SID, "voicebot")

    sent = route.calls.last.request
    body = httpx.Response(200, content=sent.content).json()
    assert set(body) == {"user_name", "password"}  # no friendly_name when none is given
    assert created.password == body["password"]
    password = created.password
    assert password is not None
    assert len(password) == PASSWORD_LENGTH
    assert set(password) <= set(PASSWORD_ALPHABET)
    assert re.search("[a-z]", password)
    assert re.search("[A-Z]", password)
    assert re.search("[0-9]", password)


async def test_each_generated_password_is_new(exotel: respx.MockRouter) -> None:
    exotel.post(f"/{PATH}").respond(200, json=wire.single("live", credential_record()))

    async with wire.make_client(exotel) as client:
        passwords = {
            (await client.credentials.create(wire.TRUNK_SID, "voicebot")).password
            for _ in range(20)
        }

    assert len(passwords) == 20


async def test_create_of_a_taken_user_name_raises_conflict_error(exotel: respx.MockRouter) -> None:
    status, body = wire.duplicate("live")
    exotel.post(f"/{PATH}").respond(status, json=body)

    async with wire.make_client(exotel) as client:
        with pytest.raises(ConflictError) as caught:
            await client.credentials.create(wire.TRUNK_SID, "voicebot", PASSWORD)

    assert PASSWORD not in str(caught.value)


async def test_create_whose_answer_holds_no_credential_reads_it_back_by_user_name(
    exotel: respx.MockRouter,
) -> None:
    exotel.post(f"/{PATH}").respond(200, json=wire.single("live", None, method="POST"))
    listed = exotel.get(f"/{PATH}").respond(
        200, json=listing(credential_record(0, user_name="other"), credential_record(1))
    )

    async with wire.make_client(exotel) as client:
        created = await client.credentials.create(wire.TRUNK_SID, "voicebot", PASSWORD)

    assert listed.call_count == 1
    assert created == expected(1, password=PASSWORD)


@pytest.mark.parametrize("read", ["list", "_current"])
async def test_list_returns_every_credential_of_every_page_without_a_password(
    exotel: respx.MockRouter, read: str
) -> None:
    # ``_current`` is what provision and `credentials show` read: the form is known only from
    # the first answer, which is not asked for again.
    records = [credential_record(i, user_name=f"bot{i}") for i in range(5)]
    pages = wire.list_pages("live", records, path=PATH, page_size=2)
    route = exotel.get(f"/{PATH}").mock(side_effect=wire.responses(pages))

    async with wire.make_client(exotel) as client:
        listed = await getattr(client.credentials, read)(wire.TRUNK_SID)

    assert listed == [expected(i, user_name=f"bot{i}") for i in range(5)]
    assert route.call_count == 3  # one request a page
    wire.assert_request(route.calls[0].request, "GET", PATH)
    offsets = [call.request.url.params.get("offset") for call in route.calls]
    assert offsets == [None, "2", "4"]


async def test_list_of_the_references_username_and_password_pair_raises_decode_error(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/{PATH}").respond(
        200, json=wire.single("reference", wire.credentials_record("reference"))
    )

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError) as caught:
            await client.credentials.list(wire.TRUNK_SID)

    assert wire.SIP_PASSWORD not in str(caught.value)


async def test_get_of_digest_credentials_says_to_use_list(exotel: respx.MockRouter) -> None:
    exotel.get(f"/{PATH}").respond(200, json=listing(credential_record()))

    async with wire.make_client(exotel) as client:
        with pytest.raises(ResponseDecodeError, match=r"credentials\.list\(\)"):
            await client.credentials.get(wire.TRUNK_SID)


async def test_update_puts_only_the_given_fields_at_the_credentials_path(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.put(f"/{PATH}/1234").respond(
        200, json=wire.single("live", credential_record(friendly_name="Renamed"), method="PUT")
    )

    async with wire.make_client(exotel) as client:
        updated = await client.credentials.update(wire.TRUNK_SID, "1234", friendly_name="Renamed")

    wire.assert_request(
        route.calls.last.request, "PUT", f"{PATH}/1234", body={"friendly_name": "Renamed"}
    )
    assert updated == expected(friendly_name="Renamed")


async def test_rotate_puts_a_new_generated_password_and_returns_it(
    exotel: respx.MockRouter,
) -> None:
    route = exotel.put(f"/{PATH}/1234").respond(
        200, json=wire.single("live", credential_record(), method="PUT")
    )

    async with wire.make_client(exotel) as client:
        first = await client.credentials.rotate(wire.TRUNK_SID, "1234")
        second = await client.credentials.rotate(wire.TRUNK_SID, "1234")

    sent = [httpx.Response(200, content=c.request.content).json() for c in route.calls]
    assert [set(body) for body in sent] == [{"password"}, {"password"}]
    assert [first.password, second.password] == [body["password"] for body in sent]
    assert first.password != second.password
    assert first == expected(password=first.password)


async def test_delete_reads_the_credential_then_deletes_it_by_query_id(
    exotel: respx.MockRouter,
) -> None:
    read = exotel.get(f"/{PATH}").respond(200, json=listing(credential_record()))
    route = exotel.delete(f"/{PATH}").respond(
        200, json=wire.single("live", credential_record(), method="DELETE")
    )

    async with wire.make_client(exotel) as client:
        deleted = await client.credentials.delete(wire.TRUNK_SID, "1234")

    wire.assert_request(read.calls.last.request, "GET", PATH, query=[("id", "1234")])
    wire.assert_request(route.calls.last.request, "DELETE", PATH, query=[("id", "1234")])
    assert deleted == expected()


async def test_delete_of_a_credential_the_trunk_lacks_raises_not_found_sending_no_delete(
    exotel: respx.MockRouter,
) -> None:
    exotel.get(f"/{PATH}").respond(200, json=listing(credential_record(1)))

    async with wire.make_client(exotel) as client:
        with pytest.raises(NotOnTrunkError, match="credential 1234 is not on trunk"):
            await client.credentials.delete(wire.TRUNK_SID, "1234")

    assert [call.request.method for call in exotel.calls] == ["GET"]


# -- retry rules, against the emulator ----------------------------------------------------


def live_emulator() -> Emulator:
    return Emulator(wire.API_KEY, wire.API_TOKEN, wire.ACCOUNT_SID, dialect="live")


#: Retries that take milliseconds.
FAST = RetryPolicy(initial_delay=0.001, max_delay=0.01)


def retrying_client(emulator: Emulator) -> AsyncTrunkingClient:
    """A client of ``emulator`` that repeats a failed call up to three times, at once."""
    return wire.make_client(None, transport=emulator.transport(), retry=FAST, max_retries=3)


async def test_create_is_not_repeated_after_an_unknown_outcome_and_the_error_says_so() -> None:
    emulator = live_emulator()
    async with retrying_client(emulator) as client:
        sid = (await client.trunks.create("tenant")).trunk_sid
        emulator.script("POST", "/trunks/*/credentials", "drop_after")
        with pytest.raises(APIConnectionError) as caught:
            await client.credentials.create(sid, "voicebot", PASSWORD)

    message = str(caught.value)
    assert "the credential 'voicebot' may have been created" in message
    assert "credentials.rotate()" in message
    assert PASSWORD not in message
    assert caught.value.attempts == 1
    posts = [r for r in emulator.requests if r.method == "POST" and "credentials" in r.path]
    assert len(posts) == 1
    [stored] = emulator.state.credentials(sid)  # it had in fact been created
    assert stored.user_name == "voicebot"


async def test_rotate_is_repeated_after_an_unknown_outcome_and_returns_the_password_set() -> None:
    emulator = live_emulator()
    async with retrying_client(emulator) as client:
        sid = (await client.trunks.create("tenant")).trunk_sid
        created = await client.credentials.create(sid, "voicebot")
        emulator.script("PUT", "/trunks/*/credentials/*", "drop_after")
        rotated = await client.credentials.rotate(sid, created.id)

    puts = [r for r in emulator.requests if r.method == "PUT"]
    assert [r.status for r in puts] == [None, 200]
    [stored] = emulator.state.credentials(sid)
    assert rotated.password == stored.password != created.password


async def test_delete_whose_first_attempt_was_applied_returns_the_deleted_credential() -> None:
    emulator = live_emulator()
    async with retrying_client(emulator) as client:
        sid = (await client.trunks.create("tenant")).trunk_sid
        created = await client.credentials.create(sid, "voicebot")
        emulator.script("DELETE", "/trunks/*/credentials", "drop_after")
        deleted = await client.credentials.delete(sid, created.id)

    deletes = [r.status for r in emulator.requests if r.method == "DELETE"]
    assert deletes == [None, 404]
    assert deleted.id == created.id
    assert emulator.state.credentials(sid) == []
