"""The store's tables (SQLAlchemy 2): accounts and their signing keys, apps and their layers, devices and
what they report, the factory's cards, challenges, certified chips, results and rejections."""

from __future__ import annotations

import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

SID_LENGTH = 34
SIGNER_ID_LENGTH = 16  # a signer id in hex (64 bits)
HASH_LENGTH = 64  # SHA-256, hex
KEY_LENGTH = 100  # config and secret keys
VALUE_LENGTH = 4096  # config and secret values
UNIQUE_NAME_LENGTH = 200
BOOT_LENGTH = 32  # a kernel start's random id, as the device names it

# 64-bit ids on PostgreSQL; SQLite only auto-increments an INTEGER primary key.
RowId = BigInteger().with_variant(Integer(), "sqlite")


class UtcDateTime(TypeDecorator):
    """A timestamp stored as naive UTC (the same on SQLite and PostgreSQL) and read back as aware UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("the store keeps aware timestamps only")
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime.datetime | None, dialect) -> datetime.datetime | None:
        return None if value is None else value.replace(tzinfo=datetime.UTC)


class Base(DeclarativeBase):
    pass


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    auth_token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    friendly_name: Mapped[str] = mapped_column(String(UNIQUE_NAME_LENGTH), default="")
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)  # no REST calls, no device traffic


class SigningKey(Base):
    """A public key the account signs app bundles with; an upload signed by any other key is refused."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("account_id", "signer_id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    signer_id: Mapped[str] = mapped_column(String(SIGNER_ID_LENGTH))  # hex, as bundles name their signers
    public_key: Mapped[str] = mapped_column(Text)  # PEM (SubjectPublicKeyInfo), P-256
    friendly_name: Mapped[str | None] = mapped_column(String(UNIQUE_NAME_LENGTH))
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class Layer(Base):
    """An app layer, stored once by its SHA-256 whichever apps use it."""

    __tablename__ = "layers"

    hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class App(Base):
    __tablename__ = "apps"
    __table_args__ = (UniqueConstraint("account_id", "unique_name"),
                      UniqueConstraint("account_id", "manifest_hash"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    unique_name: Mapped[str | None] = mapped_column(String(UNIQUE_NAME_LENGTH))
    manifest_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    manifest: Mapped[bytes] = mapped_column(LargeBinary)  # OpaqueManifest, co-signed by the platform
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    date_updated: Mapped[datetime.datetime] = mapped_column(UtcDateTime)

    layers: Mapped[list[AppLayer]] = relationship(order_by="AppLayer.position", cascade="all, delete-orphan",
                                                  passive_deletes=True)


class AppLayer(Base):
    __tablename__ = "app_layers"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer_hash: Mapped[str] = mapped_column(ForeignKey("layers.hash"), index=True)


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("account_id", "unique_name"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    unique_name: Mapped[str | None] = mapped_column(String(UNIQUE_NAME_LENGTH))
    chip_uid: Mapped[str] = mapped_column(String(24))
    certificate: Mapped[str] = mapped_column(Text)
    target_app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), index=True)
    date_targeted: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    update_status: Mapped[str] = mapped_column(String(16))
    update_error_code: Mapped[int] = mapped_column(Integer, default=0)
    reported_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    date_reported: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    logging_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    logging_expires: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    date_connection_changed: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    date_updated: Mapped[datetime.datetime] = mapped_column(UtcDateTime)

    account: Mapped[Account] = relationship()
    target_app: Mapped[App | None] = relationship()


class DeviceCommand(Base):
    """Something the service must tell a device (restart the app, restart the device) until delivered."""

    __tablename__ = "device_commands"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    date_delivered: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)


class Config(Base):
    """A config value; scope is "" for the account's own, else the device SID."""

    __tablename__ = "configs"
    __table_args__ = (UniqueConstraint("account_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(SID_LENGTH))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    value: Mapped[str] = mapped_column(Text)
    date_updated: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class Secret(Base):
    """A secret value, encrypted at rest; scope as for Config. The API never returns the value."""

    __tablename__ = "secrets"
    __table_args__ = (UniqueConstraint("account_id", "scope", "key"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(SID_LENGTH))
    key: Mapped[str] = mapped_column(String(KEY_LENGTH))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    date_rotated: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class DeviceLog(Base):
    """A log line; (device, boot, sequence) names it, so a batch the device sends again is stored once."""

    __tablename__ = "device_logs"
    __table_args__ = (Index("ix_device_logs_device_id_id", "device_id", "id"),
                      Index("uq_device_logs_line", "device_id", "boot", "sequence", unique=True))

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    boot: Mapped[str] = mapped_column(String(BOOT_LENGTH))  # the kernel start that logged it
    sequence: Mapped[int] = mapped_column(BigInteger)  # the line's number within that boot
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    text: Mapped[str] = mapped_column(Text)


class DeviceEvent(Base):
    """Something that happened to a device: registered, connected, disconnected, updated, crashed …"""

    __tablename__ = "device_events"
    __table_args__ = (Index("ix_device_events_device_id_id", "device_id", "id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    details: Mapped[str] = mapped_column(Text, default="{}")  # JSON object


STREAM_LENGTH = 8  # the name of a device's opaque stream: "debug" or "console"


class DeviceDebugMessage(Base):
    """A message of one of a device's opaque streams, kept as it came for its readers: a remote-debugging
    message (stream "debug") or a piece of console output (stream "console")."""

    __tablename__ = "device_debug_messages"
    __table_args__ = (Index("ix_device_debug_messages_device_id_stream_id", "device_id", "stream", "id"),
                      Index("ix_device_debug_messages_date_created", "date_created"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True)  # the message's sequence on the stream
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    stream: Mapped[str] = mapped_column(String(STREAM_LENGTH), server_default="debug")
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


# --- the factory (issue 10): SFI cards, the service's single-use challenges, and what stations report ---
CHIP_UID_LENGTH = 24  # a 96-bit chip UID in hex
RAW_KEY_LENGTH = 130  # a P-256 public key, X9.62 uncompressed, in hex
CHALLENGE_LENGTH = 32  # 16 bytes in hex


class FactoryCard(Base):
    """An SFI card (a token holding a P-256 key) the platform operator issued to an account, with its
    licences: the service counts what is used, the card cannot."""

    __tablename__ = "factory_cards"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(String(RAW_KEY_LENGTH))  # hex, X9.62 uncompressed
    licences: Mapped[int] = mapped_column(Integer)
    licences_used: Mapped[int] = mapped_column(Integer, default=0)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)

    account: Mapped[Account] = relationship(lazy="joined")


class FactoryChallenge(Base):
    """A challenge the service gave a station of an account; one attestation may carry it, once."""

    __tablename__ = "factory_challenges"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    challenge: Mapped[str] = mapped_column(String(CHALLENGE_LENGTH), unique=True)  # hex
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    date_expires: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class FactoryCertifiedChip(Base):
    """A chip the factory certified: one per chip UID ever, so a clone's second key is refused."""

    __tablename__ = "factory_certified_chips"
    __table_args__ = (Index("ix_factory_certified_chips_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    chip_uid: Mapped[str] = mapped_column(String(CHIP_UID_LENGTH), unique=True)
    device_sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("factory_cards.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    public_key: Mapped[str] = mapped_column(String(RAW_KEY_LENGTH))  # the device key, hex
    certificate: Mapped[str] = mapped_column(Text)  # PEM, as issued (a retry gets it again)
    station: Mapped[str | None] = mapped_column(String(UNIQUE_NAME_LENGTH))
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)

    card: Mapped[FactoryCard] = relationship(lazy="joined")


class FactoryResult(Base):
    """A station's report on one chip: passed, or failed at a step and why."""

    __tablename__ = "factory_results"
    __table_args__ = (Index("ix_factory_results_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    chip_uid: Mapped[str] = mapped_column(String(CHIP_UID_LENGTH))
    station: Mapped[str | None] = mapped_column(String(UNIQUE_NAME_LENGTH))
    passed: Mapped[bool] = mapped_column(Boolean)
    step: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class FactoryRejection(Base):
    """A certification the service refused, kept although the request failed: what a hostile factory tried."""

    __tablename__ = "factory_rejections"
    __table_args__ = (Index("ix_factory_rejections_account_id_id", "account_id", "id"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    card_sid: Mapped[str | None] = mapped_column(String(SID_LENGTH))  # once the card certificate verified
    chip_uid: Mapped[str | None] = mapped_column(String(CHIP_UID_LENGTH))  # when the attestation names one
    station: Mapped[str | None] = mapped_column(String(UNIQUE_NAME_LENGTH))
    status: Mapped[int] = mapped_column(Integer)  # the HTTP status the station got
    reason: Mapped[str] = mapped_column(Text)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


# --- crash reports (issue 15): apps' ELFs, symbolicated reports and their groups ---
FAULT_LENGTH = 300  # a fault type as signatures name it


class ElfFile(Base):
    """An application's ELF (its symbols and line tables), stored once by the SHA-256 of its bytes."""

    __tablename__ = "elf_files"

    sha256: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    build_id: Mapped[str | None] = mapped_column(String(HASH_LENGTH))  # .note.gnu.build-id, hex, if any
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class AppElf(Base):
    """The ELF an app was uploaded with (checked to load exactly the bundle's bytes)."""

    __tablename__ = "app_elfs"

    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True)
    elf_sha256: Mapped[str] = mapped_column(ForeignKey("elf_files.sha256"), index=True)


class CrashGroup(Base):
    """Crash reports of an account with one signature: the fault type and the top frames' functions."""

    __tablename__ = "crash_groups"
    __table_args__ = (UniqueConstraint("account_id", "signature_hash"),)

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    signature_hash: Mapped[str] = mapped_column(String(HASH_LENGTH))
    signature: Mapped[str] = mapped_column(Text)
    fault_type: Mapped[str] = mapped_column(String(FAULT_LENGTH))
    functions: Mapped[str] = mapped_column(Text)  # JSON list of the top frames' names
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    date_first: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    date_last: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class CrashTally(Base):
    """How many of a group's crashes one device had with one app version ("" : an app the account lacks)."""

    __tablename__ = "crash_tallies"

    group_id: Mapped[int] = mapped_column(ForeignKey("crash_groups.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    manifest_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger, default=0)
    date_last: Mapped[datetime.datetime] = mapped_column(UtcDateTime)


class CrashReport(Base):
    """A crash report as a device sent it, with what the service made of it: the fault in words and the
    symbolicated frames (none for a sealed report, which only the app's developer can open)."""

    __tablename__ = "crash_reports"
    __table_args__ = (Index("ix_crash_reports_account_id_id", "account_id", "id"),
                      Index("ix_crash_reports_device_id_id", "device_id", "id"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"), index=True)
    manifest_hash: Mapped[str | None] = mapped_column(String(HASH_LENGTH))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("crash_groups.id", ondelete="SET NULL"),
                                                 index=True)
    sealed: Mapped[bool] = mapped_column(Boolean, default=False)
    fault: Mapped[str | None] = mapped_column(Text)  # in words
    report: Mapped[str] = mapped_column(Text)  # JSON: the decoded document, or the sealed blob in base 64
    frames: Mapped[str] = mapped_column(Text, default="[]")  # JSON list
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)

    device: Mapped[Device] = relationship(lazy="joined")
    app: Mapped[App | None] = relationship(lazy="joined")
    group: Mapped[CrashGroup | None] = relationship(lazy="joined")


# --- fleet operations (issue 15): staged rollouts and the web console's sign-ins ---
STATUS_LENGTH = 16
REASON_LENGTH = 500


class Deployment(Base):
    """A staged rollout of one app to a set of the account's devices (cloud/rollouts.py drives it)."""

    __tablename__ = "deployments"
    __table_args__ = (Index("ix_deployments_account_id_id", "account_id", "id"),
                      Index("ix_deployments_status", "status"))

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    sid: Mapped[str] = mapped_column(String(SID_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(STATUS_LENGTH))  # active|paused|halted|completed|rolled-back
    stages: Mapped[str] = mapped_column(String(200))  # cumulative percentages, "1,10,50,100"
    stage: Mapped[int] = mapped_column(Integer, default=0)  # the index of the stage being rolled out
    halt_on_crash_rate: Mapped[float] = mapped_column(Float)  # 0..1: halt when the new version passes it
    soak_s: Mapped[int] = mapped_column(Integer)  # a stage's devices stay healthy this long before the next
    politeness_s: Mapped[int | None] = mapped_column(Integer)  # caps the app's politeness time; 0: forced
    halt_reason: Mapped[str | None] = mapped_column(String(REASON_LENGTH))
    date_stage_done: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)  # when soaking began
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    date_updated: Mapped[datetime.datetime] = mapped_column(UtcDateTime)

    app: Mapped[App] = relationship(lazy="joined")


class DeploymentDevice(Base):
    """One device of a deployment: its stage, the app to roll back to, and how far it got."""

    __tablename__ = "deployment_devices"
    __table_args__ = (Index("ix_deployment_devices_device_id", "device_id"),)

    deployment_id: Mapped[int] = mapped_column(ForeignKey("deployments.id", ondelete="CASCADE"),
                                               primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)  # the order devices are rolled out in
    stage: Mapped[int] = mapped_column(Integer)
    previous_app_id: Mapped[int | None] = mapped_column(ForeignKey("apps.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(STATUS_LENGTH))  # store/devices.py: waiting … rolled-back
    date_targeted: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)
    date_updated: Mapped[datetime.datetime | None] = mapped_column(UtcDateTime)  # first seen running the app

    device: Mapped[Device] = relationship(lazy="joined")


class WebSession(Base):
    """A sign-in to the web console: only the token's hash is kept, with the form token it was given."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(RowId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(HASH_LENGTH))
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
    date_expires: Mapped[datetime.datetime] = mapped_column(UtcDateTime, index=True)


# --- binary delta updates (issue 14) ---
class LayerDelta(Base):
    """A patch (common/delta.py) from a source image (an installed app's layers) to one layer, made once."""

    __tablename__ = "layer_deltas"

    source_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), primary_key=True)
    layer_hash: Mapped[str] = mapped_column(ForeignKey("layers.hash", ondelete="CASCADE"), primary_key=True)
    delta_hash: Mapped[str] = mapped_column(String(HASH_LENGTH), index=True)  # what a device fetches
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    date_created: Mapped[datetime.datetime] = mapped_column(UtcDateTime)
