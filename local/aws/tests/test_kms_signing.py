"""KMS Sign and Verify against the real server, checked offline with the public key, as an auditor
checks the broker's evidence digests.

Cases from the KMS API reference: Sign ("To indicate that the message is a digest, use
MessageType DIGEST"; RAW messages up to 4096 bytes), Verify, GetPublicKey (a DER-encoded
SubjectPublicKeyInfo), and "Offline verification with SM2 key pairs"/"Digital signing with the
new asymmetric keys feature of AWS KMS" (verify with OpenSSL or any library using the public key).
"""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError
from conftest import Aws, code
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils


def _key(aws: Aws, spec: str) -> tuple[object, str, object]:
    kms = aws.client("kms", aws.admin)
    key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    return kms, key_id, public


def test_a_raw_message_is_signed_as_its_bytes_and_verifies_offline(aws: Aws) -> None:
    kms, key_id, public = _key(aws, "RSA_2048")
    message = b"the digest body \x00\xff"
    signature = kms.sign(KeyId=key_id, Message=message, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(signature, message + b".", padding.PKCS1v15(), hashes.SHA256())


def test_a_digest_is_signed_as_the_hash_of_the_message(aws: Aws) -> None:
    kms, key_id, public = _key(aws, "RSA_2048")
    body = b"x" * 10_000  # longer than RAW allows
    digest = hashlib.sha256(body).digest()
    signature = kms.sign(
        KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"
    )["Signature"]
    # Offline, over the whole body (the library hashes it) and over the prehashed digest.
    public.verify(signature, body, padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
    verdict = kms.verify(
        KeyId=key_id,
        Message=digest,
        MessageType="DIGEST",
        Signature=signature,
        SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256",
    )
    assert verdict["SignatureValid"] is True


def test_kms_verify_refuses_a_signature_of_other_bytes(aws: Aws) -> None:
    kms, key_id, _ = _key(aws, "RSA_2048")
    signature = kms.sign(KeyId=key_id, Message=b"one", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")["Signature"]
    # AWS answers KMSInvalidSignatureException; moto answers SignatureValid false. Either way, not valid.
    try:
        valid = kms.verify(
            KeyId=key_id, Message=b"two", Signature=signature, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256"
        )["SignatureValid"]
    except ClientError as e:
        valid = e.response["Error"]["Code"] != "KMSInvalidSignatureException"
    assert not valid


def test_ecdsa_digests_verify_offline(aws: Aws) -> None:
    kms, key_id, public = _key(aws, "ECC_NIST_P256")
    digest = hashlib.sha256(b"body").digest()
    signature = kms.sign(KeyId=key_id, Message=digest, MessageType="DIGEST", SigningAlgorithm="ECDSA_SHA_256")[
        "Signature"
    ]
    public.verify(signature, b"body", ec.ECDSA(hashes.SHA256()))


def test_a_digest_of_the_wrong_length_and_an_oversized_raw_message_are_refused(aws: Aws) -> None:
    kms, key_id, _ = _key(aws, "RSA_2048")
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key_id, Message=b"short", MessageType="DIGEST", SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
    assert code(e) == "ValidationException"
    with pytest.raises(ClientError) as e:
        kms.sign(KeyId=key_id, Message=b"x" * 4097, SigningAlgorithm="RSASSA_PKCS1_V1_5_SHA_256")
    assert code(e) == "ValidationException"
