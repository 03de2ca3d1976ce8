"""What an etcd value is, and how to open it with a configured key.

Mirrors, from upstream Kubernetes:

- ``staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/aes/aes.go``: AES-CBC (IV of 16 bytes,
  PKCS#7 padding, no additional data) and AES-GCM (12-byte random nonce, 16-byte tag, the etcd
  key as additional authenticated data);
- ``staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/secretbox/secretbox.go``: NaCl
  secretbox (24-byte nonce, then the Poly1305 tag and XSalsa20 ciphertext);
- ``staging/src/k8s.io/apiserver/pkg/server/options/encryptionconfig/config.go``: the prefixes
  ``k8s:enc:<provider>:v1:<key name>:`` (``k8s:enc:kms:v1|v2:<plugin name>:`` for KMS);
- ``staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go``: the
  ``k8s\\x00`` magic that starts every protobuf-encoded object, i.e. an identity (clear) value.

Pure functions over bytes; no I/O.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kapsec.encryption.config import EncryptionConfig, Key, ProviderType

PROTOBUF_MAGIC = b"k8s\x00"
CBOR_MAGIC = b"\xd9\xd9\xf7"
ENC_PREFIX = b"k8s:enc:"

_ENC_RE = re.compile(rb"k8s:enc:(aescbc|aesgcm|secretbox|kms):(v1|v2):([^:]*):")


class StorageForm(enum.Enum):
    """How a value sits in etcd."""

    ENCRYPTED = "encrypted"
    PROTOBUF = "protobuf"  # clear: k8s\x00 + runtime.Unknown (identity)
    JSON = "json"  # clear: JSON (old servers, or --storage-media-type=application/json)
    CBOR = "cbor"  # clear: CBOR (custom resources with the CBOR serializer)
    UNKNOWN = "unknown"

    @property
    def in_clear(self) -> bool:
        return self in (StorageForm.PROTOBUF, StorageForm.JSON, StorageForm.CBOR)


@dataclass(frozen=True, slots=True)
class Classification:
    form: StorageForm
    provider: str = "identity"  # aescbc | aesgcm | secretbox | kms | identity | unknown
    key_name: str = ""  # the key (or KMS plugin) name in the prefix
    version: str = ""  # v1 | v2 for encrypted values

    @property
    def label(self) -> str:
        if self.form is StorageForm.ENCRYPTED:
            if self.provider == "kms":
                return f"kms:{self.version}/{self.key_name}"
            return f"{self.provider}/{self.key_name}"
        return str(self.form.value)


def classify(value: bytes, known_prefixes: tuple[bytes, ...] = ()) -> Classification:
    """Classify an etcd value by its first bytes.

    ``known_prefixes`` (full ``k8s:enc:...:<name>:`` prefixes from a config) are tried first, so
    key names that contain ``:`` are recognised exactly; otherwise the key name runs to the next
    ``:``.
    """
    if value.startswith(ENC_PREFIX):
        for prefix in known_prefixes:
            if value.startswith(prefix):
                _, _, provider, version, *_ = prefix.split(b":", 4)
                name = prefix[len(b"k8s:enc:" + provider + b":" + version + b":") : -1]
                return Classification(
                    StorageForm.ENCRYPTED,
                    provider.decode(),
                    name.decode("utf-8", "replace"),
                    version.decode(),
                )
        m = _ENC_RE.match(value)
        if m:
            return Classification(
                StorageForm.ENCRYPTED,
                m.group(1).decode(),
                m.group(3).decode("utf-8", "replace"),
                m.group(2).decode(),
            )
        return Classification(StorageForm.ENCRYPTED, "unknown", "", "")
    if value.startswith(PROTOBUF_MAGIC):
        return Classification(StorageForm.PROTOBUF)
    if value[:1] == b"{":
        return Classification(StorageForm.JSON)
    if value.startswith(CBOR_MAGIC):
        return Classification(StorageForm.CBOR)
    return Classification(StorageForm.UNKNOWN, "unknown")


class DecryptError(Exception):
    """A value could not be opened with the key its prefix names."""


def _aescbc_open(key: bytes, data: bytes) -> bytes:
    if len(data) < 16:
        raise DecryptError("the stored data was shorter than the required size")
    iv, body = data[:16], data[16:]
    if len(body) % 16 != 0 or not body:
        raise DecryptError("the stored data is not a multiple of the block size")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(body) + decryptor.finalize()
    pad = plain[-1]
    if pad == 0 or pad > len(plain):
        raise DecryptError("invalid PKCS7 data (empty or not padded)")
    if plain[-pad:] != bytes([pad]) * pad:
        raise DecryptError("invalid padding on input")
    return plain[:-pad]


def _aesgcm_open(key: bytes, data: bytes, etcd_key: bytes) -> bytes:
    if len(data) < 12:
        raise DecryptError("the stored data was shorter than the required size")
    try:
        return AESGCM(key).decrypt(data[:12], data[12:], etcd_key)
    except InvalidTag:
        raise DecryptError("cipher: message authentication failed") from None


def _secretbox_open(key: bytes, data: bytes) -> bytes:
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    if len(data) < 24 + 16:
        raise DecryptError("the stored data was shorter than the required size")
    try:
        out: bytes = SecretBox(key).decrypt(data[24:], data[:24])
    except CryptoError:
        raise DecryptError("secretbox: message authentication failed") from None
    return out


def open_value(provider: ProviderType, key: Key, value: bytes, etcd_key: bytes) -> bytes:
    """Decrypt ``value`` (the whole etcd value, prefix included) with ``key`` of ``provider``."""
    prefix = f"k8s:enc:{provider.value}:v1:{key.name}:".encode()
    if not value.startswith(prefix):
        raise DecryptError(f"value does not start with {prefix.decode()!r}")
    body = value[len(prefix) :]
    material = key.material()
    if provider is ProviderType.AESCBC:
        return _aescbc_open(material, body)
    if provider is ProviderType.AESGCM:
        return _aesgcm_open(material, body, etcd_key)
    if provider is ProviderType.SECRETBOX:
        return _secretbox_open(material, body)
    raise DecryptError(f"kapsec cannot open {provider.value} values (the key is held by the KMS plugin)")


def seal_value(provider: ProviderType, key: Key, plaintext: bytes, etcd_key: bytes, nonce: bytes) -> bytes:
    """Encrypt like the API server (used to build test data; ``nonce`` is the IV/nonce to use)."""
    prefix = f"k8s:enc:{provider.value}:v1:{key.name}:".encode()
    material = key.material()
    if provider is ProviderType.AESCBC:
        pad = 16 - len(plaintext) % 16
        encryptor = Cipher(algorithms.AES(material), modes.CBC(nonce)).encryptor()
        return prefix + nonce + encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()
    if provider is ProviderType.AESGCM:
        return prefix + nonce + AESGCM(material).encrypt(nonce, plaintext, etcd_key)
    if provider is ProviderType.SECRETBOX:
        from nacl.secret import SecretBox

        box = SecretBox(material).encrypt(plaintext, nonce)
        return prefix + bytes(box)
    raise ValueError(f"cannot seal with {provider.value}")


def known_prefixes(config: EncryptionConfig) -> tuple[bytes, ...]:
    """Every ``k8s:enc:...:<name>:`` prefix the config can read, longest first."""
    out: set[bytes] = set()
    for rule in config.rules:
        for provider in rule.providers:
            if provider.type.has_keys:
                out.update(provider.prefix_for(k).encode() for k in provider.keys)
            elif provider.type is ProviderType.KMS and provider.kms is not None:
                out.add(f"k8s:enc:kms:{provider.kms.api_version}:{provider.kms.name}:".encode())
    return tuple(sorted(out, key=len, reverse=True))
