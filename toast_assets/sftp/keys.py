"""SSH keys for the Toast SFTP login: create, load and fingerprint them.

Toast authenticates an export login by public key only. The restaurant group keeps the
private key (a file on the host, or the text of the key in a secret / environment variable)
and registers the public key with Toast. The same helpers give the bundled demo server its
host key and let operators compare fingerprints with what `ssh-keygen -lf` prints.

Nothing in this module logs or puts key material into an error message: only key types,
paths and public fingerprints are ever shown.
"""

import base64
import binascii
import hashlib
import io
import os
from pathlib import Path

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

KEY_KINDS: tuple[str, ...] = ("ed25519", "rsa")
# 3072 bits is OpenSSH's default RSA size since 8.x and what current guidance recommends.
RSA_KEY_BITS = 3072

_PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey


class PrivateKeyError(ValueError):
    """A private key could not be read, decrypted or is of an unsupported type."""


def _new_crypto_key(kind: str) -> _PrivateKey:
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    raise ValueError(f"unsupported key kind {kind!r}; choose one of {', '.join(KEY_KINDS)}")


def _to_paramiko(key: _PrivateKey) -> paramiko.PKey:
    """Convert a `cryptography` private key into the matching paramiko key class."""
    if isinstance(key, rsa.RSAPrivateKey):
        key_class: type[paramiko.PKey] = paramiko.RSAKey
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    else:
        raise PrivateKeyError(
            f"unsupported private key type {type(key).__name__}; use an Ed25519, RSA or ECDSA key"
        )
    # paramiko's Ed25519 loader only reads the OpenSSH container, so every key goes through
    # an unencrypted OpenSSH serialization held in memory only (never written anywhere).
    text = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    ).decode("ascii")
    return key_class.from_private_key(io.StringIO(text))


def new_private_key(kind: str = "ed25519") -> paramiko.PKey:
    """Create a fresh in-memory private key (e.g. an ephemeral host key for the demo server).

    paramiko cannot generate Ed25519 keys itself, so the key is made with `cryptography`.
    """
    return _to_paramiko(_new_crypto_key(kind))


def generate_private_key(
    path: Path,
    kind: str = "ed25519",
    comment: str = "toast-sftp",
    passphrase: str | None = None,
) -> str:
    """Write a new OpenSSH-format private key to `path` (mode 0600) and `<path>.pub`.

    This is the key a restaurant group registers with Toast (public half) and gives the
    platform (private half). Returns the public key line, `<type> <base64> <comment>`, as it
    belongs in an authorized_keys file.
    """
    path = Path(path)
    key = _new_crypto_key(kind)
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode("utf-8"))
        if passphrase
        else serialization.NoEncryption()
    )
    private_bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )
    # Create with 0600 from the start so the key is never readable by others, not even briefly;
    # chmod again because O_CREAT's mode does not apply to a file that already exists.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_bytes)
    os.chmod(path, 0o600)
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode("ascii")
    line = f"{public} {comment}" if comment else public
    public_path = path.with_name(path.name + ".pub")
    public_path.write_text(line + "\n", encoding="ascii")
    return line


def _normalize_key_text(text: str) -> bytes:
    """Undo what secret stores and environment variables do to multi-line key text."""
    cleaned = text.strip().strip('"').strip("'").strip()
    # A key pasted into a one-line environment variable often arrives with literal "\n".
    if "\\n" in cleaned:
        cleaned = cleaned.replace("\\r\\n", "\n").replace("\\n", "\n")
    cleaned = cleaned.replace("\r\n", "\n").replace("\r", "\n")
    if "-----BEGIN" not in cleaned:
        # Some deployments store the whole key file base64-encoded to dodge newline mangling.
        try:
            decoded = base64.b64decode("".join(cleaned.split()), validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if "-----BEGIN" in decoded:
            cleaned = decoded.strip()
    return (cleaned + "\n").encode("ascii", errors="replace")


def load_private_key(
    path: Path | None = None,
    text: str | None = None,
    passphrase: str | None = None,
) -> paramiko.PKey:
    """Load the SFTP login's private key from a file or from key text.

    Accepts Ed25519, RSA and ECDSA keys in OpenSSH (`BEGIN OPENSSH PRIVATE KEY`) or PEM
    (PKCS#1 / SEC1 / PKCS#8, optionally encrypted) form. `text` is the key itself, e.g. the
    value of an environment variable or secret; literal `\\n` sequences are tolerated.
    Errors name the source (path or "key text") and what to check, never the key material.
    """
    if (path is None) == (text is None):
        raise ValueError("give exactly one of path= or text= to load_private_key")
    if path is not None:
        source = f"private key file {path}"
        try:
            data = _normalize_key_text(Path(path).read_text(encoding="ascii", errors="replace"))
        except OSError as exc:
            raise PrivateKeyError(
                f"cannot read {source}: {exc.strerror or exc}; check the path and that this "
                "process may read it"
            ) from exc
    else:
        source = "private key text"
        data = _normalize_key_text(text or "")
    if b"-----BEGIN" not in data:
        raise PrivateKeyError(
            f"{source} does not look like a private key (no '-----BEGIN ... PRIVATE KEY-----' "
            "line); pass the private key, not the .pub file or a fingerprint"
        )
    password = passphrase.encode("utf-8") if passphrase else None
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            loaded = serialization.load_ssh_private_key(data, password=password)
        else:
            loaded = serialization.load_pem_private_key(data, password=password)
    except TypeError as exc:
        # cryptography raises TypeError both for "needs a password" and "was given one it
        # does not need"; tell the operator which setting to look at.
        hint = (
            "it is encrypted: set the passphrase (TOAST_SFTP_PRIVATE_KEY_PASSPHRASE)"
            if password is None
            else "it is not encrypted: unset the passphrase (TOAST_SFTP_PRIVATE_KEY_PASSPHRASE)"
        )
        raise PrivateKeyError(f"cannot load {source}: {hint}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        hint = "wrong passphrase or " if password is not None else ""
        raise PrivateKeyError(
            f"cannot load {source}: {hint}damaged or unsupported key ({exc}); expected an "
            "Ed25519, RSA or ECDSA private key in OpenSSH or PEM form"
        ) from exc
    if not isinstance(loaded, (rsa.RSAPrivateKey, ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey)):
        raise PrivateKeyError(
            f"{source} holds a {type(loaded).__name__}; use an Ed25519, RSA or ECDSA key"
        )
    return _to_paramiko(loaded)


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style `SHA256:<base64>` fingerprint of a key's public blob.

    Identical to what `ssh-keygen -lf` and the OpenSSH "host key changed" warning print, so
    operators can compare it with what Toast or their own server shows.
    """
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_line(key: paramiko.PKey) -> str:
    """The `<type> <base64>` form of a key, as used in authorized_keys and known_hosts."""
    return f"{key.get_name()} {key.get_base64()}"


def parse_public_key(line: str) -> paramiko.PKey:
    """Parse one authorized_keys / `.pub` line into a public key.

    Leading options (`from="..."`, `no-pty`, ...) and trailing comments are ignored; the key
    is found as the first `<known type> <base64>` pair.
    """
    fields = line.split()
    for index, field in enumerate(fields[:-1]):
        if not _is_key_type(field):
            continue
        try:
            blob = base64.b64decode(fields[index + 1], validate=True)
            return paramiko.PKey.from_type_string(field, blob)
        except (binascii.Error, paramiko.SSHException, paramiko.UnknownKeyType, ValueError) as exc:
            raise ValueError(f"malformed {field} public key: {exc}") from exc
    raise ValueError("no '<key-type> <base64>' public key found on the line")


def _is_key_type(field: str) -> bool:
    return field in {"ssh-ed25519", "ssh-rsa"} or field.startswith("ecdsa-sha2-")
