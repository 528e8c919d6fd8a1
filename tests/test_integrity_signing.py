"""The signed integrity code verifies offline with only the public key; tampered, foreign or expired ones do not."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from integrity.signing import CodeSigner, TokenInvalid, verify

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _issue(signer: CodeSigner, colour: str | None = "green", ttl: timedelta = timedelta(days=1)) -> str:
    return signer.issue(person_id="person-1", colour=colour, ruleset_version="2026.1", issued_at=NOW,
                        expires_at=NOW + ttl)


def test_a_code_verifies_offline_with_the_public_key_only() -> None:
    signer = CodeSigner.generate()
    token = _issue(signer)
    claims = verify(token, signer.public_pem(), NOW + timedelta(hours=1))
    assert claims.colour == "green" and claims.ruleset_version == "2026.1"
    assert claims.expires_at == NOW + timedelta(days=1) and claims.key_id == signer.key_id
    assert claims.subject == signer.pseudonym("person-1") and "person-1" not in token
    assert verify(_issue(signer, None), signer.public_pem(), NOW).colour == "none"


def test_tampered_codes_are_refused() -> None:
    signer = CodeSigner.generate()
    token = _issue(signer, "red")
    prefix, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["col"] = "green"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    flipped_sig = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    for bad in (f"{prefix}.{forged}.{sig}", f"{prefix}.{payload}.{flipped_sig}", f"{prefix}.{payload}."):
        with pytest.raises(TokenInvalid) as info:
            verify(bad, signer.public_pem(), NOW)
        assert info.value.reason == "bad_signature"
    for junk in ("", "IC1.x", "JWT.a.b", "a" * 5000):
        with pytest.raises(TokenInvalid) as info:
            verify(junk, signer.public_pem(), NOW)
        assert info.value.reason == "malformed"


def test_a_code_of_another_key_is_refused() -> None:
    with pytest.raises(TokenInvalid) as info:
        verify(_issue(CodeSigner.generate()), CodeSigner.generate().public_pem(), NOW)
    assert info.value.reason == "bad_signature"


def test_expired_codes_are_refused() -> None:
    signer = CodeSigner.generate()
    token = _issue(signer, ttl=timedelta(minutes=5))
    verify(token, signer.public_pem(), NOW + timedelta(minutes=4))
    with pytest.raises(TokenInvalid) as info:
        verify(token, signer.public_pem(), NOW + timedelta(minutes=5))
    assert info.value.reason == "expired" and "fresh" in str(info.value)
    with pytest.raises(ValueError):
        signer.issue(person_id="p", colour="blue", ruleset_version="x", issued_at=NOW, expires_at=NOW)


def test_the_key_is_persisted_owner_only_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "var" / "integrity_signing_key.pem"
    first = CodeSigner.load_or_create(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    again = CodeSigner.load_or_create(path)
    assert again.key_id == first.key_id and again.pseudonym("p") == first.pseudonym("p")
    with pytest.raises(ValueError, match="PEM"):
        CodeSigner.from_pem("not a key")


def test_the_command_line_verifier(tmp_path: Path) -> None:
    signer = CodeSigner.generate()
    key = tmp_path / "court.pub.pem"
    key.write_text(signer.public_pem())
    fresh = signer.issue(person_id="p", colour="yellow", ruleset_version="2026.1", issued_at=datetime.now(UTC),
                         expires_at=datetime.now(UTC) + timedelta(hours=1))
    ok = subprocess.run([sys.executable, "-m", "integrity.signing", fresh, str(key)], capture_output=True, text=True)
    assert ok.returncode == 0 and "colour=yellow" in ok.stdout
    past = datetime.now(UTC) - timedelta(hours=2)
    stale = signer.issue(person_id="p", colour="green", ruleset_version="2026.1", issued_at=past,
                         expires_at=past + timedelta(hours=1))
    expired = subprocess.run([sys.executable, "-m", "integrity.signing", stale, str(key)],
                             capture_output=True, text=True)
    assert expired.returncode == 1 and "expired" in expired.stderr
    tampered = fresh[:-3] + ("x" if fresh[-3] != "x" else "y") + fresh[-2:]
    refused = subprocess.run([sys.executable, "-m", "integrity.signing", tampered, str(key)],
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "refused" in refused.stderr
