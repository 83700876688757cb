"""Cancelable, encrypted templates."""

import numpy as np
import pytest
from functions.errors import TemplateUnreadable

from functions.crypto.template_protection import (
    decrypt,
    encrypt,
    new_subject_token,
    pack_arrays,
    protect_embedding,
    protected_to_vector,
    unpack_arrays,
)

SECRET = b"s" * 32


def _emb(seed):
    v = np.random.default_rng(seed).standard_normal(128).astype(np.float32)
    return v / np.linalg.norm(v) * 0.9


def test_protection_keeps_distances_within_quantisation():
    token = new_subject_token()
    a, b = _emb(1), _emb(2)
    pa, pb = (protected_to_vector(protect_embedding(x, token, SECRET)) for x in (a, b))
    assert abs(np.linalg.norm(pa - pb) - np.linalg.norm(a - b)) < 1e-3


def test_protected_template_does_not_reveal_the_embedding():
    token = new_subject_token()
    a = _emb(3)
    pa = protected_to_vector(protect_embedding(a, token, SECRET))
    assert abs(np.corrcoef(a, pa)[0, 1]) < 0.5


def test_a_new_token_gives_an_unlinkable_template():
    a = _emb(4)
    p1 = protected_to_vector(protect_embedding(a, new_subject_token(), SECRET))
    p2 = protected_to_vector(protect_embedding(a, new_subject_token(), SECRET))
    # the same face under two tokens is as far apart as two unrelated vectors of that norm
    assert np.linalg.norm(p1 - p2) > 0.8


def test_encryption_round_trip_and_binding_to_the_subject():
    key = b"k" * 32
    blob = encrypt(pack_arrays([np.arange(5, dtype=np.int32)]), key, "bioauth:face:alice")
    assert unpack_arrays(decrypt(blob, key, "bioauth:face:alice"))[0].tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(TemplateUnreadable):
        decrypt(blob, key, "bioauth:face:mallory")  # a template moved to another subject does not decrypt
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(TemplateUnreadable):
        decrypt(tampered, key, "bioauth:face:alice")
