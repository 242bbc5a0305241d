"""A platform: its root, kernel-signing and app-signing keys and its certificate authority, in a folder."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from . import keys

ROOT_KEY, KERNEL_KEY, APP_KEY, CA_KEY, CA_CERT = (
    "root-key.pem", "kernel-signing-key.pem", "app-signing-key.pem", "ca-key.pem", "ca.pem")
SFI_MASTER = "sfi-master.key"  # 32 secret bytes: every chip's key derives from them (factory_protocol)
SFI_MASTER_SIZE = 32
PLATFORM_FILE = "platform.json"
CERT_DAYS = 3650


class PlatformError(Exception):
    """A folder that is not (or cannot become) a platform."""


class Platform:
    """The keys and CA of one platform; `Platform.init(dir)` makes one, `Platform(dir)` opens it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        if not (self.path / PLATFORM_FILE).is_file():
            raise PlatformError(f"{self.path} is not a platform folder (no {PLATFORM_FILE}); "
                                "make one with `microvisor platform init`")
        try:
            self.root_key = keys.load_private(self.path / ROOT_KEY)
            self.kernel_key = keys.load_private(self.path / KERNEL_KEY)
            self.app_key = keys.load_private(self.path / APP_KEY)
            self.ca_key = keys.load_private(self.path / CA_KEY)
            self.ca_cert = x509.load_pem_x509_certificate((self.path / CA_CERT).read_bytes())
        except (keys.KeyFileError, OSError, ValueError) as exc:
            raise PlatformError(f"platform {self.path} is incomplete: {exc}") from None

    @classmethod
    def init(cls, path: Path, name: str = "Microvisor development platform") -> Platform:
        """Create the folder (owner-only) with fresh keys and a self-signed CA certificate."""
        path = Path(path)
        if path.exists() and any(path.iterdir()):
            raise PlatformError(f"{path} exists and is not empty; a platform needs a new folder")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        for filename in (ROOT_KEY, KERNEL_KEY, APP_KEY):
            keys.write_private(path / filename, keys.private_pem(keys.generate()))
        ca_key = keys.generate()
        keys.write_private(path / CA_KEY, keys.private_pem(ca_key))
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, name),
                             x509.NameAttribute(NameOID.COMMON_NAME, f"{name} CA")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CERT_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        (path / CA_CERT).write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        (path / PLATFORM_FILE).write_text(json.dumps({"format": 1, "name": name}, indent=2) + "\n")
        platform = cls(path)
        platform.sfi_master()
        return platform

    @property
    def root_key_hash(self) -> bytes:
        """What a device's OTP holds: SHA-256 of the root public key (X9.62 uncompressed)."""
        return hashlib.sha256(keys.raw_public(self.root_key.public_key())).digest()

    def sfi_master(self) -> bytes:
        """The secret chip keys derive from (made on first use in a platform that predates it)."""
        path = self.path / SFI_MASTER
        try:
            master = path.read_bytes()
        except FileNotFoundError:
            master = os.urandom(SFI_MASTER_SIZE)
            draft = path.with_name(f".{SFI_MASTER}.{os.getpid()}")
            keys.write_private(draft, master)
            try:
                os.link(draft, path)  # whole or not at all; if another process won, use theirs
            except FileExistsError:
                return self.sfi_master()
            finally:
                draft.unlink()
        except OSError as exc:
            raise PlatformError(f"platform {self.path}: cannot read {SFI_MASTER}: {exc}") from None
        if len(master) != SFI_MASTER_SIZE:
            raise PlatformError(f"platform {self.path}: {SFI_MASTER} is damaged")
        return master

    def ca_pem(self) -> bytes:
        return self.ca_cert.public_bytes(serialization.Encoding.PEM)

    def issue_certificate(self, common_name: str, public_key: keys.PublicKey, days: int = CERT_DAYS) -> bytes:
        """A client certificate (PEM) for CN = common_name (a device SID), signed by the CA."""
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.ca_cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)

    def issue_server_certificate(self, host: str, public_key: keys.PublicKey, days: int = CERT_DAYS) -> bytes:
        """A TLS server certificate (PEM) for host and for 127.0.0.1 and localhost, signed by the CA."""
        names: list[x509.GeneralName] = []
        for name in dict.fromkeys((host, "127.0.0.1", "localhost")):
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
            .issuer_name(self.ca_cert.subject).public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return certificate.public_bytes(serialization.Encoding.PEM)
