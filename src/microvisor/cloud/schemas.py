"""The API's response models (field names as in the v1 OpenAPI document), for checks and generated docs."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

Timestamp = Annotated[str | None, Field(json_schema_extra={"format": "date-time"})]
Url = Annotated[str | None, Field(json_schema_extra={"format": "uri"})]


class PageMeta(BaseModel):
    page: int
    page_size: int
    first_page_url: str
    previous_page_url: str | None
    url: str
    next_page_url: str | None
    key: str


class AccountConfig(BaseModel):
    key: str | None
    date_updated: Timestamp
    value: str | None
    url: Url


class AccountSecret(BaseModel):
    key: str | None
    date_rotated: Timestamp
    url: Url


class DeviceConfig(AccountConfig):
    device_sid: str | None


class DeviceSecret(AccountSecret):
    device_sid: str | None


class App(BaseModel):
    sid: str | None
    account_sid: str | None
    hash: str | None = Field(description="App manifest hash as `hash_algorithm:hash_value`.")
    unique_name: str | None
    date_created: Timestamp
    date_updated: Timestamp
    url: Url
    links: dict[str, str] | None


class AppManifest(BaseModel):
    app_sid: str | None
    hash: str | None
    encoded_bytes: str | None = Field(description="The base-64 encoded manifest (co-signed by the platform).")
    url: Url


class SigningKey(BaseModel):
    """This service's addition: a public key the account signs app bundles with."""

    sid: str
    account_sid: str
    signer_id: str = Field(description="The key's signer id as bundles name it: 16 hex digits.")
    public_key: str = Field(description="PEM P-256 public key (SubjectPublicKeyInfo).")
    friendly_name: str | None
    date_created: Timestamp
    url: Url


class DeviceApp(BaseModel):
    target_sid: str | None
    target_hash: str | None
    date_targeted: Timestamp
    update_status: str = Field(description="One of up-to-date, pending and error.")
    update_error_code: int
    reported_sid: str | None
    date_reported: Timestamp


class DeviceLogging(BaseModel):
    enabled: bool
    date_expires: Timestamp


class DeviceConnection(BaseModel):
    """This service's addition: whether the device is connected to the link now."""

    connected: bool
    date_changed: Timestamp


class Device(BaseModel):
    sid: str | None
    unique_name: str | None
    account_sid: str | None
    app: DeviceApp | None
    logging: DeviceLogging | None
    connection: DeviceConnection | None
    date_created: Timestamp
    date_updated: Timestamp
    url: Url
    links: dict[str, str] | None


class DeviceRegistration(Device):
    """This service's addition: a registered device with its certificate and the platform's kernel."""

    certificate: str = Field(description="PEM client certificate, CN = the device SID, from the platform CA.")
    ca_certificate: str = Field(description="PEM certificate of the platform CA.")
    kernel_bundle: str = Field(description="The platform's signed kernel bundle (ZIP), base-64 encoded.")
    broker: str | None = Field(None, description="host:port of the MQTT broker (mutual TLS) the device "
                                                 "connects to; null when the service runs no device link.")


class DeviceLog(BaseModel):
    """This service's addition: one line an app logged."""

    device_sid: str
    sequence: int
    date_created: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    text: str


class DeviceDebugMessageSent(BaseModel):
    """This service's addition: a remote-debugging message handed to the device link."""

    device_sid: str
    bytes: int


class DeviceConsoleInputSent(BaseModel):
    """This service's addition: bytes for a device's console handed to the device link."""

    device_sid: str
    bytes: int


class DeviceEvent(BaseModel):
    """This service's addition: something that happened to a device."""

    device_sid: str
    sequence: int
    type: str
    date_created: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    details: dict[str, Any]


Moment = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class FactoryCard(BaseModel):
    """This service's addition: an SFI card the platform operator issued to the account, and its licences
    (the service counts them: a licence is used when a chip is first certified)."""

    sid: str
    account_sid: str
    public_key: str = Field(description="The card's P-256 public key, X9.62 uncompressed, in hex.")
    licences: int
    licences_used: int
    licences_left: int
    revoked: bool
    date_created: Moment
    url: Url


class FactoryChallenge(BaseModel):
    """This service's addition: a challenge for one attestation of this account, valid ten minutes."""

    challenge: str = Field(description="16 random bytes in hex.")
    date_expires: Moment


class FactoryCertifiedChip(BaseModel):
    """This service's addition: a chip a factory station had certified."""

    device_sid: str
    chip_uid: str = Field(description="The chip's 96-bit unique ID, in hex.")
    card_sid: str = Field(description="The SFI card that authorized the chip's install.")
    station: str | None
    date_created: Moment
    url: Url


class FactoryCertificate(FactoryCertifiedChip):
    """This service's addition: a certified chip with its device certificate and where it connects."""

    certificate: str = Field(description="PEM client certificate, CN = the device SID, from the platform CA.")
    ca_certificate: str = Field(description="PEM certificate of the platform CA.")
    broker: str | None = Field(None, description="host:port of the MQTT broker (mutual TLS) the device "
                                                 "connects to; null when the service runs no device link.")
    provisioning: str | None = Field(None, description=(
        "In the answer to a certification: the certificate, the CA and the broker, signed by the platform's "
        "root key around the attestation's challenge (JSON), for the test program to check."))


class FactoryResult(BaseModel):
    """This service's addition: what a station reported about one chip."""

    sequence: int
    chip_uid: str
    device_sid: str
    station: str | None
    passed: bool
    step: int = Field(description="The step of the factory flow (1 to 10) the chip passed or failed at.")
    reason: str | None
    date_created: Moment


class FactoryRejection(BaseModel):
    """This service's addition: a certification the service refused, kept though the request failed."""

    sequence: int
    card_sid: str | None = Field(description="The card, when its certificate verified.")
    chip_uid: str | None = Field(description="The chip the attestation named, when it named one.")
    station: str | None
    status: int = Field(description="The HTTP status the station was answered.")
    reason: str
    date_created: Moment


class Error(BaseModel):
    code: int
    message: str
    more_info: str
    status: int


class ListAccountConfigResponse(BaseModel):
    configs: list[AccountConfig]
    meta: PageMeta


class ListAccountSecretResponse(BaseModel):
    secrets: list[AccountSecret]
    meta: PageMeta


class ListAppResponse(BaseModel):
    apps: list[App]
    meta: PageMeta


class ListDeviceResponse(BaseModel):
    devices: list[Device]
    meta: PageMeta


class ListDeviceConfigResponse(BaseModel):
    configs: list[DeviceConfig]
    meta: PageMeta


class ListDeviceSecretResponse(BaseModel):
    secrets: list[DeviceSecret]
    meta: PageMeta


class ListDeviceLogResponse(BaseModel):
    logs: list[DeviceLog]
    meta: PageMeta


class ListDeviceEventResponse(BaseModel):
    events: list[DeviceEvent]
    meta: PageMeta


class ListSigningKeyResponse(BaseModel):
    signing_keys: list[SigningKey]
    meta: PageMeta


class ListFactoryCardResponse(BaseModel):
    cards: list[FactoryCard]
    meta: PageMeta


class ListFactoryCertificateResponse(BaseModel):
    certificates: list[FactoryCertifiedChip]
    meta: PageMeta


class ListFactoryResultResponse(BaseModel):
    results: list[FactoryResult]
    meta: PageMeta


class ListFactoryRejectionResponse(BaseModel):
    rejections: list[FactoryRejection]
    meta: PageMeta


class CrashFrame(BaseModel):
    """A frame of a crash: the PC, the LR, or a return address found in the stacked bytes."""

    source: str = Field(description="`pc`, `lr` or `stack`.")
    address: int
    function: str | None
    file: str | None
    line: int | None
    stack_address: int | None = None


class CrashReport(BaseModel):
    """This service's addition: a crash report a device sent, symbolicated with its app's ELF (when the
    app was uploaded with one) unless its CrashPolicy sealed it to the developer's key."""

    sid: str
    account_sid: str
    device_sid: str
    app_sid: str | None
    manifest_hash: str | None
    group_sid: str | None
    signature: str | None
    sealed: bool
    fault: str | None = Field(description="The fault in words (none for a sealed or unreadable report).")
    frames: list[CrashFrame]
    date_created: Moment
    url: str


class CrashReportDetail(CrashReport):
    registers: dict[str, int] | None
    fault_status: dict[str, int] | None
    report: dict[str, Any] | None = Field(description="The report's document as the device wrote it "
                                                      "(none when sealed).")
    sealed_report: str | None = Field(description="A sealed report as it came, base 64: decrypt it with "
                                                  "the app developer's private key.")


class CrashVersionCount(BaseModel):
    app_sid: str | None
    manifest_hash: str | None = Field(description="None: an app the account no longer has, or none.")
    count: int


class CrashDeviceCount(BaseModel):
    device_sid: str
    count: int


class CrashGroup(BaseModel):
    """This service's addition: an account's crash reports of one signature (the fault type and the top
    three frames' functions), counted per app version and per device."""

    sid: str
    account_sid: str
    signature: str
    fault_type: str
    functions: list[str]
    count: int
    date_first: Moment
    date_last: Moment
    versions: list[CrashVersionCount]
    devices: list[CrashDeviceCount]
    url: str


class ListCrashReportResponse(BaseModel):
    crashes: list[CrashReport]
    meta: PageMeta


class ListCrashGroupResponse(BaseModel):
    crash_groups: list[CrashGroup]
    meta: PageMeta


class DeploymentStage(BaseModel):
    percent: int = Field(description="The share of the deployment's devices this stage reaches, cumulative.")
    devices: int = Field(description="How many devices that is.")
    updated: int = Field(description="How many of them run the app.")


class Deployment(BaseModel):
    """This service's addition: an app rolled out to devices in stages. A stage advances when its devices
    run the app and have stayed healthy for the soak time; the deployment halts by itself when an install
    fails or the share of its devices that crashed on the app passes the threshold."""

    sid: str
    account_sid: str
    app_sid: str
    status: str = Field(description="active, paused, halted, completed or rolled-back.")
    halt_reason: str | None
    stage: int = Field(description="The index of the stage being rolled out.")
    stages: list[DeploymentStage]
    halt_on_crash_rate: float
    soak_seconds: int
    politeness_seconds: int | None = Field(description="The longest a device waits before it restarts into "
                                                       "the app (0: forced, at once; none: the app's own).")
    devices: dict[str, int] = Field(description="How many devices are in each state: waiting, targeted, "
                                                "updated, failed, left (retargeted by hand or by a newer "
                                                "deployment) and rolled-back.")
    devices_ran: int = Field(description="Devices that ran the app.")
    devices_crashed: int = Field(description="Of those, the ones that crashed on it.")
    crash_rate: float
    date_created: Moment
    date_updated: Moment
    url: str


class DeploymentDevice(BaseModel):
    device_sid: str
    stage: int
    state: str
    previous_app_sid: str | None = Field(description="The app a rollback targets the device at.")
    date_targeted: Moment | None
    date_updated: Moment | None = Field(description="When the device was first seen running the app.")


class ListDeploymentResponse(BaseModel):
    deployments: list[Deployment]
    meta: PageMeta


class ListDeploymentDeviceResponse(BaseModel):
    devices: list[DeploymentDevice]
    meta: PageMeta
