"""Fidelity: KMS Sign and Verify honour MessageType DIGEST.

moto 5.2.1 ignores `MessageType` (its docstring: "DIGEST is not yet implemented"): it hashes the
32-byte digest again and signs that, which its own Verify accepts but nothing else does; a
signature checked offline with the key from GetPublicKey, as an auditor checks the broker's
evidence digests, fails. On AWS, with MessageType DIGEST the message is the hash itself, which
must be as long as the signing algorithm's hash; RAW messages are at most 4096 bytes
(https://docs.aws.amazon.com/kms/latest/APIReference/API_Sign.html).
"""

from __future__ import annotations

import base64


class _Digest(bytes):
    """A message KMS was given already hashed (MessageType DIGEST)."""


_DIGEST_SIZES = {"256": 32, "384": 48, "512": 64}


def _message(response) -> bytes:
    from moto.kms.exceptions import ValidationException

    raw = response._get_param("Message")
    try:
        message = base64.b64decode(raw, validate=True) if isinstance(raw, str) else raw
    except ValueError:
        raise ValidationException("Message is not valid base64")
    if not message:
        raise ValidationException(
            "1 validation error detected: Value at 'Message' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    kind = response._get_param("MessageType") or "RAW"
    if kind not in ("RAW", "DIGEST"):
        raise ValidationException(
            f"1 validation error detected: Value '{kind}' at 'messageType' failed to satisfy "
            "constraint: Member must satisfy enum value set: [DIGEST, RAW]"
        )
    if kind == "RAW":
        if len(message) > 4096:
            raise ValidationException("Message must be at most 4096 bytes; sign a DIGEST instead")
        return message
    algorithm = response._get_param("SigningAlgorithm") or ""
    size = _DIGEST_SIZES.get(algorithm[-3:])
    if size is not None and len(message) != size:
        raise ValidationException(
            f"Digest is invalid length for algorithm {algorithm}: {len(message)} bytes, expected {size}"
        )
    return _Digest(message)


def _prehashed(hash_algorithm, message):
    from cryptography.hazmat.primitives.asymmetric import utils

    return utils.Prehashed(hash_algorithm) if isinstance(message, _Digest) else hash_algorithm


def apply() -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import ec
    from moto.kms import responses, utils

    rsa_padding = utils.RSAPrivateKey._RSAPrivateKey__padding_and_hash_algorithm
    ec_hash = utils.ECDSAPrivateKey._ECDSAPrivateKey__hash_algorithm

    def rsa_sign(self, message, signing_algorithm):
        utils.validate_signing_algorithm(signing_algorithm, utils.SigningAlgorithm.rsa_signing_algorithms())
        pad, hashing = rsa_padding(self, signing_algorithm)
        return self.private_key.sign(bytes(message), pad, _prehashed(hashing, message))

    def rsa_verify(self, message, signature, signing_algorithm):
        utils.validate_signing_algorithm(signing_algorithm, utils.SigningAlgorithm.rsa_signing_algorithms())
        pad, hashing = rsa_padding(self, signing_algorithm)
        try:
            self.private_key.public_key().verify(signature, bytes(message), pad, _prehashed(hashing, message))
            return True
        except InvalidSignature:
            return False

    def ec_sign(self, message, signing_algorithm):
        utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
        hashing = _prehashed(ec_hash(self, signing_algorithm), message)
        return self.private_key.sign(bytes(message), ec.ECDSA(hashing))

    def ec_verify(self, message, signature, signing_algorithm):
        utils.validate_signing_algorithm(signing_algorithm, self.valid_signing_algorithms)
        hashing = _prehashed(ec_hash(self, signing_algorithm), message)
        try:
            self.private_key.public_key().verify(signature, bytes(message), ec.ECDSA(hashing))
            return True
        except InvalidSignature:
            return False

    utils.RSAPrivateKey.sign = rsa_sign
    utils.RSAPrivateKey.verify = rsa_verify
    utils.ECDSAPrivateKey.sign = ec_sign
    utils.ECDSAPrivateKey.verify = ec_verify

    original_sign = responses.KmsResponse.sign
    original_verify = responses.KmsResponse.verify

    def with_decoded_message(original):
        def handler(self):
            message = _message(self)
            get = self._get_param

            def _get_param(name, *args, **kwargs):
                # moto re-reads Message; hand it the decoded bytes, which it passes through.
                return message if name == "Message" else get(name, *args, **kwargs)

            self._get_param = _get_param
            try:
                return original(self)
            finally:
                del self._get_param

        return handler

    responses.KmsResponse.sign = with_decoded_message(original_sign)
    responses.KmsResponse.verify = with_decoded_message(original_verify)
