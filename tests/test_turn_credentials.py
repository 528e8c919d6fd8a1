"""TURN REST credentials (coturn `use-auth-secret`): checked against the published scheme computed by an
independent implementation (openssl, as coturn's documentation does it), and as the hub hands them out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import subprocess

import jwt
from hypothesis import given
from hypothesis import strategies as st

from hearing.roles import Role
from signaling.turn_credentials import TurnRest, ice_servers_for, turn_rest_credential
from tests.live import live_server

SECRET = "north-court-turn-secret-0123456789"


def openssl_password(secret: str, username: str) -> str:
    """`echo -n $username | openssl dgst -binary -sha1 -hmac $secret | openssl base64` (coturn's README)."""
    digest = subprocess.run(["openssl", "dgst", "-binary", "-sha1", "-hmac", secret], input=username.encode(),
                            capture_output=True, check=True).stdout
    return base64.b64encode(digest).decode()


def test_username_is_expiry_colon_participant_and_password_the_hmac() -> None:
    username, password = turn_rest_credential(SECRET, "p_8f3a", 1_893_456_000)
    assert username == "1893456000:p_8f3a"
    assert password == openssl_password(SECRET, username)
    assert len(base64.b64decode(password)) == 20  # SHA-1


@given(secret=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=16, max_size=64),
       participant=st.text(st.characters(codec="ascii", categories=["L", "N"]), min_size=1, max_size=32),
       expiry=st.integers(0, 2**40))
def test_any_credential_verifies_as_coturn_checks_it(secret: str, participant: str, expiry: int) -> None:
    username, password = turn_rest_credential(secret, participant, expiry)
    # What coturn does on an allocation: split the timestamp off, recompute the HMAC over the whole username.
    stamp, _, who = username.partition(":")
    assert int(stamp) == expiry and who == participant
    expected = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    assert hmac.compare_digest(password, expected)
    # Another secret or another expiry gives another password: a credential cannot be stretched.
    assert turn_rest_credential(secret + "x", participant, expiry)[1] != password
    assert turn_rest_credential(secret, participant, expiry + 1)[1] != password


def test_ice_servers_per_participant() -> None:
    turn = TurnRest(("turn:turn.example.org:3478?transport=udp",), SECRET)
    stun = [{"urls": ["stun:stun.example.org:3478"]}]
    a = ice_servers_for(stun, turn, "p_a", 2000)
    b = ice_servers_for(stun, turn, "p_b", 2000)
    assert a[0] == stun[0] and a[0] is not stun[0]
    assert a[1]["urls"] == ["turn:turn.example.org:3478?transport=udp"]
    assert a[1]["username"] == "2000:p_a" and b[1]["username"] == "2000:p_b"
    assert a[1]["credential"] == openssl_password(SECRET, "2000:p_a") != b[1]["credential"]
    assert ice_servers_for(stun, None, "p_a", 2000) == stun


async def test_joined_carries_each_participants_own_credential_expiring_with_the_link(tmp_path) -> None:
    async with live_server(tmp_path, MEDIA_ENABLED=False, STUN_SERVERS="stun:stun.example.org:3478",
                           TURN_SERVERS="turn:turn.example.org:3478?transport=udp",
                           TURN_SHARED_SECRET=SECRET) as server:
        tokens = [await server.token("room-t", Role.PRESIDING_JUDGE, "王审判长"),
                  await server.token("room-t", Role.PLAINTIFF, "张原告")]
        seen = []
        for token in tokens:
            client = await server.client("room-t", token)
            joined = await client.expect("joined")
            exp = jwt.decode(token, options={"verify_signature": False})["exp"]
            stun, turn = joined["ice_servers"]
            assert stun == {"urls": ["stun:stun.example.org:3478"]}
            assert turn["username"] == f"{exp}:{joined['participant']['id']}"
            assert turn["credential"] == openssl_password(SECRET, turn["username"])
            seen.append(turn["username"])
            await client.close()
        assert seen[0] != seen[1]
