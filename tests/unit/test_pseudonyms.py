"""Pseudonyms carry the id of the key chain that made them; a chain re-keys its prefixes'."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pipeline.core.pseudonyms import (
    DIGEST_CHARS,
    KEY_ID_CHARS,
    PseudonymKeys,
    pseudonym_key_id,
)

K1 = bytes.fromhex("8f14e45fceea167a5a36dedd4bea2543")
K2 = bytes.fromhex("c9f0f895fb98ab9159f51fd0297e236d")
K3 = bytes.fromhex("45c48cce2e2d7fbdea1afc51c7c6ad26")


def test_a_pseudonym_is_key_id_and_digest() -> None:
    keys = PseudonymKeys((K1,))
    pseudonym = keys.pseudonymise("RXA", "patient-17")
    key_id, digest = pseudonym.split(":")
    assert len(key_id) == KEY_ID_CHARS and len(digest) == DIGEST_CHARS
    assert pseudonym_key_id(pseudonym) == key_id == keys.key_id
    # the digest is HMAC-SHA256 over "org \x1f ref", as stored before key ids existed
    expected = hmac.new(K1, b"RXA\x1fpatient-17", hashlib.sha256).hexdigest()[:DIGEST_CHARS]
    assert digest == expected
    assert keys.pseudonymise("RXA", "patient-17") == pseudonym
    assert keys.pseudonymise("R1K", "patient-17") != pseudonym  # scoped to the organisation
    assert "patient-17" not in pseudonym


def test_each_chain_has_its_own_key_id() -> None:
    ids = {
        PseudonymKeys(chain).key_id for chain in [(K1,), (K2,), (K1, K2), (K2, K1), (K1, K2, K3)]
    }
    assert len(ids) == 5
    assert PseudonymKeys((K1, K2)).ids[0] == PseudonymKeys((K1,)).key_id


@pytest.mark.parametrize("ref", ["patient-17", "0012345", "ü-ref/with:colon"])
def test_rekeying_gives_what_the_new_chain_makes_for_the_same_patient(ref: str) -> None:
    old = PseudonymKeys((K1,)).pseudonymise("RXA", ref)
    middle = PseudonymKeys((K1, K2)).pseudonymise("RXA", ref)
    new_keys = PseudonymKeys((K1, K2, K3))
    new = new_keys.pseudonymise("RXA", ref)
    assert new_keys.rekey("RXA", old) == new
    assert new_keys.rekey("RXA", middle) == new
    assert new_keys.rekey("RXA", new) == new  # already current: unchanged
    assert PseudonymKeys((K1, K2)).rekey("RXA", old) == middle
    # a pseudonym stored before key ids (a bare digest) is taken to be the first key's
    assert new_keys.rekey("RXA", old.split(":")[1]) == new
    assert pseudonym_key_id(old.split(":")[1]) == ""


def test_another_chains_pseudonyms_cannot_be_rekeyed() -> None:
    foreign = PseudonymKeys((K3,)).pseudonymise("RXA", "patient-17")
    assert PseudonymKeys((K1, K2)).rekey("RXA", foreign) is None
    assert PseudonymKeys((K1, K2)).rekey("RXA", "deadbeef:short") is None


def test_a_chain_needs_a_key() -> None:
    with pytest.raises(ValueError, match="at least one key"):
        PseudonymKeys(())
