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


class DeviceEvent(BaseModel):
    """This service's addition: something that happened to a device."""

    device_sid: str
    sequence: int
    type: str
    date_created: Annotated[str, Field(json_schema_extra={"format": "date-time"})]
    details: dict[str, Any]


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
