"""API-key tokens: format, checksum, hint, hash and ids."""

from __future__ import annotations

import hashlib
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.keys.token import (
    BASE62_ALPHABET,
    BODY_WIDTH,
    CHECKSUM_WIDTH,
    TAIL_WIDTH,
    base62_encode,
    check_api_key_format,
    encode_api_key,
    generate_api_key,
    generate_key_id,
    hash_api_key,
    key_hint,
)

PREFIX = "ck_live_"
EVM_PREFIX = "stk_"
secrets_256 = st.integers(min_value=0, max_value=(1 << 256) - 1)


def test_generated_key_is_prefix_body_checksum_in_base62():
    key = generate_api_key(PREFIX)
    assert re.fullmatch(rf"ck_live_[0-9A-Za-z]{{{BODY_WIDTH + CHECKSUM_WIDTH}}}", key)
    assert check_api_key_format(key, PREFIX)


def test_key_length_is_constant_even_for_extreme_secrets():
    lengths = {len(encode_api_key(PREFIX, s)) for s in (0, 1, 61, 62, (1 << 256) - 1)}
    lengths |= {len(generate_api_key(PREFIX)) for _ in range(200)}
    assert lengths == {len(PREFIX) + TAIL_WIDTH}
    assert TAIL_WIDTH == 43 + 6


def test_base62_width_is_the_smallest_that_holds_256_and_32_bits():
    assert 62**BODY_WIDTH > 2**256 > 62 ** (BODY_WIDTH - 1)
    assert 62**CHECKSUM_WIDTH > 2**32 > 62 ** (CHECKSUM_WIDTH - 1)
    assert base62_encode(0, 3) == "000"
    assert base62_encode(61, 2) == "0z"


def test_generated_keys_are_unique():
    assert len({generate_api_key(PREFIX) for _ in range(1000)}) == 1000


def test_key_is_checked_against_any_of_several_prefixes():
    v1, evm = generate_api_key(PREFIX), generate_api_key(EVM_PREFIX)
    both = (PREFIX, EVM_PREFIX)
    assert check_api_key_format(v1, both)
    assert check_api_key_format(evm, both)
    assert not check_api_key_format(evm, PREFIX)
    assert not check_api_key_format(v1, EVM_PREFIX)


def test_key_with_another_prefix_but_valid_tail_is_rejected():
    key = generate_api_key("ck_test_")
    assert not check_api_key_format(key, PREFIX)
    assert not check_api_key_format(PREFIX + key[len("ck_test_") :], PREFIX)


@given(secret=secrets_256, data=st.data())
def test_every_single_character_typo_is_rejected(secret, data):
    key = encode_api_key(PREFIX, secret)
    position = data.draw(st.integers(min_value=0, max_value=len(key) - 1))
    replacement = data.draw(st.sampled_from(BASE62_ALPHABET + "_-"))
    typo = key[:position] + replacement + key[position + 1 :]
    assert check_api_key_format(typo, PREFIX) == (typo == key)


def test_every_substitution_at_every_position_of_one_key_is_rejected():
    key = generate_api_key(PREFIX)
    for position in range(len(key)):
        for replacement in BASE62_ALPHABET:
            if replacement != key[position]:
                typo = key[:position] + replacement + key[position + 1 :]
                assert not check_api_key_format(typo, PREFIX), (position, replacement)


@given(secret=secrets_256, data=st.data())
def test_truncated_or_extended_key_is_rejected(secret, data):
    key = encode_api_key(PREFIX, secret)
    cut = data.draw(st.integers(min_value=0, max_value=len(key) - 1))
    extra = data.draw(st.text(alphabet=BASE62_ALPHABET, min_size=1, max_size=3))
    assert not check_api_key_format(key[:cut], PREFIX)
    assert not check_api_key_format(key[1:], PREFIX)
    assert not check_api_key_format(key + extra, PREFIX)
    assert not check_api_key_format(extra + key, PREFIX)


@given(secret=secrets_256, data=st.data())
def test_swapping_two_adjacent_different_characters_is_rejected(secret, data):
    key = encode_api_key(PREFIX, secret)
    i = data.draw(st.integers(min_value=len(PREFIX), max_value=len(key) - 2))
    swapped = key[:i] + key[i + 1] + key[i] + key[i + 2 :]
    assert check_api_key_format(swapped, PREFIX) == (swapped == key)


@settings(max_examples=300)
@given(text=st.text())
def test_arbitrary_text_is_rejected_without_raising(text):
    assert check_api_key_format(text, PREFIX) is False
    assert check_api_key_format(PREFIX + text, (PREFIX, EVM_PREFIX)) is False


def test_huge_unicode_and_non_string_inputs_are_rejected():
    key = generate_api_key(PREFIX)
    assert not check_api_key_format("x" * 10_000_000, PREFIX)
    assert not check_api_key_format(PREFIX + "é" * TAIL_WIDTH, PREFIX)
    assert not check_api_key_format(PREFIX + "\ud800" * TAIL_WIDTH, PREFIX)
    # Fullwidth digits are alphanumeric but not base62.
    assert not check_api_key_format(key[:-1] + "\uff11", PREFIX)
    assert not check_api_key_format(None, PREFIX)  # type: ignore[arg-type]
    assert not check_api_key_format(key.encode(), PREFIX)  # type: ignore[arg-type]
    assert not check_api_key_format("", PREFIX)


def test_hash_is_sha256_hex_of_the_whole_key():
    key = generate_api_key(PREFIX)
    assert hash_api_key(key) == hashlib.sha256(key.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_api_key(key))
    assert hash_api_key(key) != hash_api_key(generate_api_key(PREFIX))


def test_hint_shows_prefix_first_four_body_and_last_four_characters():
    key = generate_api_key(PREFIX)
    body = key[len(PREFIX) :]
    assert key_hint(key) == f"{PREFIX}{body[:4]}…{key[-4:]}"
    evm = generate_api_key(EVM_PREFIX)
    assert key_hint(evm).startswith(EVM_PREFIX)
    assert len(key_hint(evm)) == len(EVM_PREFIX) + 9


def test_hint_of_a_short_string_reveals_nothing():
    assert key_hint("abc") == "…"


def test_key_ids_are_prefixed_random_hex_and_unique():
    ids = {generate_key_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"key_[0-9a-f]{16}", i) for i in ids)
