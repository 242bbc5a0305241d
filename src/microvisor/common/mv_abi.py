"""Microvisor application ABI v0.7.0: the enums, sizes and layouts of sdk/include/mv_syscalls.h."""

from __future__ import annotations

from enum import IntEnum, IntFlag

ABI_VERSION = "0.7.0"


class MvStatus(IntEnum):
    OKAY = 0x0
    TIMENOTSET = 0x1
    PARAMETERFAULT = 0x2
    INVALIDBUFFERSIZE = 0x3
    PERIPHERALACCESSFAULT = 0x4
    BUFFERALREADYINUSE = 0x5
    INVALIDINTERRUPT = 0x6
    INVALIDHANDLE = 0x7
    TOOMANYNOTIFICATIONBUFFERS = 0x8
    INVALIDVECTOR = 0x9
    UNAVAILABLE = 0xA
    UNSUPPORTEDSTRUCTUREVERSION = 0xB
    TOOMANYCHANNELS = 0xC
    UNKNOWNCHANNELENDPOINT = 0xD
    UNKNOWNCHANNELTYPE = 0xE
    CHANNELCLOSED = 0xF
    NETWORKNOTCONNECTED = 0x10
    RATELIMITED = 0x11
    INVALIDBUFFERALIGNMENT = 0x12
    LATEFAULT = 0x13
    RESPONSENOTPRESENT = 0x14
    INDEXINVALID = 0x15
    OFFSETINVALID = 0x16
    REQUESTALREADYSENT = 0x17
    REQUESTUNSUCCESSFUL = 0x18
    LOGMESSAGETOOLONG = 0x19
    LOGGINGDISABLEDBYSERVER = 0x1A
    TOOMANYCONFIGKEYS = 0x1B
    UNKNOWNCONFIGSTORE = 0x1C
    UNKNOWNCONFIGSCOPE = 0x1D
    INVALIDCONFIGKEY = 0x1E
    INVALIDAUTHENTICATION = 0x1F
    WRONGDATAREQUESTED = 0x20
    INTERNALERROR = 0x21
    TOOMANYELEMENTS = 0x22
    REQUIREDELEMENTMISSING = 0x23
    MICROVISORBUSY = 0x24
    ADDRESSOUTOFRANGE = 0x25
    INPUTTOOLONG = 0x26


class MvEventType(IntEnum):
    NOEVENT = 0x0
    NETWORKSTATUSCHANGED = 0x1
    CHANNELDATAREADABLE = 0x2
    CHANNELDATAWRITESPACE = 0x3
    CHANNELNOTCONNECTED = 0x4
    UPDATEDOWNLOADED = 0x5


class MvNetworkStatus(IntEnum):
    DELIBERATELYOFFLINE = 0x0
    CONNECTED = 0x1
    CONNECTING = 0x2
    DISCONNECTEDWITHLINKUP = 0x3


class MvNetworkReason(IntFlag):
    NOTCONNECTING = 0x0
    USINGNETWORK = 0x1
    NEVERUSEDNETWORKAPI = 0x2
    MINIMUMCHECKINEXPIRED = 0x4
    RTCNOTSET = 0x8
    KERNELERROR = 0x10
    APPLICATIONERROR = 0x20
    COLDBOOTCONNECTION = 0x40
    FETCHINGUPDATE = 0x80
    DEBUGGERATTACHED = 0x100
    NOAPPLICATIONCODE = 0x200
    ENHANCECALM = 0x800


class MvChannelType(IntEnum):
    OPAQUEBYTES = 0x0
    MQTT = 0x1
    HTTP = 0x2
    CONFIGFETCH = 0x3


class MvClosureReason(IntEnum):
    NONE = 0x0
    CHANNELCLOSEDBYSERVER = 0x1
    CHANNELRESETBYSERVER = 0x2
    NETWORKDISCONNECTED = 0x3
    CONNECTIONTERMINATED = 0x4
    NOTYETOPEN = 0x5
    CLOSEDBYAPPLICATION = 0x6
    UNEXPECTEDLYTERMINATED = 0x7


class MvHttpResult(IntEnum):
    OK = 0x0
    UNSUPPORTEDURISCHEME = 0x1
    UNSUPPORTEDMETHOD = 0x2
    INVALIDHEADERS = 0x3
    INVALIDTIMEOUT = 0x4
    REQUESTFAILED = 0x5
    RESPONSETOOLARGE = 0x6


class MvConfigKeyFetchScope(IntEnum):
    ACCOUNT = 0x0
    DEVICE = 0x1


class MvConfigKeyFetchStore(IntEnum):
    SECRET = 0x0
    CONFIG = 0x1


class MvConfigFetchResult(IntEnum):
    OK = 0x0
    RESPONSETOOLARGE = 0x1


class MvConfigKeyFetchResult(IntEnum):
    OK = 0x0
    KEYNOTFOUND = 0x1
    SERVERERROR = 0x2


class MvMqttReadableDataType(IntEnum):
    NONE = 0x0
    MESSAGERECEIVED = 0x1
    MESSAGELOST = 0x2
    CONNECTRESPONSE = 0x3
    SUBSCRIBERESPONSE = 0x4
    UNSUBSCRIBERESPONSE = 0x5
    PUBLISHRESPONSE = 0x6
    DISCONNECTRESPONSE = 0x7


class MvMqttProtocolVersion(IntEnum):
    V3_1_1 = 0x0
    V5 = 0x1


class MvMqttAuthenticationMethod(IntEnum):
    NONE = 0x0
    USERNAMEPASSWORD = 0x1


class MvMqttRequestState(IntEnum):
    REQUESTCOMPLETED = 0x0
    INVALIDPARAMETERS = 0x1
    ALREADYCONNECTED = 0x2
    NOTCONNECTED = 0x3
    NXDOMAIN = 0x4
    UNKNOWNCA = 0x5
    CERTIFICATEEXPIRED = 0x6
    SOCKETERROR = 0x7
    CONNECTIONCIRCUITBREAKER = 0x8


class MvMqttLostMessageReason(IntEnum):
    DEVICERECEIVEBUFFERTOOSMALL = 0x0


class MvPowerSavingMode(IntEnum):
    SLEEP = 0x0
    STOP0 = 0x1
    STOP1 = 0x2
    STOP2 = 0x3
    STOP3 = 0x4


class MvSystemNotificationSource(IntEnum):
    NETWORK = 0x0
    UPDATE = 0x1


class MvDeepSleepMode(IntEnum):
    STANDBY = 0x0
    SHUTDOWN = 0x1


class MvWakeReason(IntEnum):
    COLDBOOT = 0x0
    REMOTEMICROVISORRESTART = 0x1
    REMOTEAPPLICATIONRESTART = 0x2
    DEBUGGERRESTART = 0x3
    MICROVISORCRASH = 0x4
    MICROVISORWATCHDOG = 0x5
    MICROVISOROUTOFMEMORY = 0x6
    MICROVISORERROR = 0x7
    APPLICATIONCRASH = 0x8
    APPLICATIONUPDATE = 0x9
    MICROVISORUPDATE = 0xA
    OPTIONBYTES = 0xB
    DEEPSLEEPCHECKIN = 0xC
    DEEPSLEEPAPPLICATION = 0xD
    DEEPSLEEPMODEM = 0xE
    DEEPSLEEPAPPLICATIONRTC = 0xF
    DEEPSLEEPOTHER = 0x10


class MvRestartMode(IntEnum):
    AUTOAPPLYUPDATE = 0x0


class MvWifiConfigMode(IntEnum):
    APPLYNOW = 0x0
    CLEARNOW = 0x1


# --- Sizes and layouts: the one place the kernel takes them from --------------------------------
# Every enum of the header, in the header's order.
ENUM_NAMES: tuple[str, ...] = (
    "MvStatus", "MvEventType", "MvNetworkStatus", "MvNetworkReason", "MvChannelType", "MvClosureReason",
    "MvHttpResult", "MvConfigKeyFetchScope", "MvConfigKeyFetchStore", "MvConfigFetchResult",
    "MvConfigKeyFetchResult", "MvMqttReadableDataType", "MvMqttProtocolVersion", "MvMqttAuthenticationMethod",
    "MvMqttRequestState", "MvMqttLostMessageReason", "MvPowerSavingMode", "MvSystemNotificationSource",
    "MvDeepSleepMode", "MvWakeReason", "MvRestartMode", "MvWifiConfigMode",
)

# The published header sizes its enums with a last `__MAX` member. Most have 0xffffffff, which no
# smaller type holds: four bytes whatever the compiler's enum flag. These five have 0xff: they are
# one byte with -fshort-enums (arm-none-eabi-gcc's default) and four with -fno-short-enums, so a
# structure that holds one keeps its offsets under both flags and only that member's size changes.
BYTE_ENUMS = frozenset({"MvMqttAuthenticationMethod", "MvPowerSavingMode", "MvDeepSleepMode", "MvWakeReason",
                        "MvWifiConfigMode"})


def enum_size(name: str, *, short_enums: bool = True) -> int:
    """sizeof(enum name) in the application: its value width, or four under -fno-short-enums."""
    if name not in ENUM_NAMES:
        raise KeyError(name)
    return 1 if short_enums and name in BYTE_ENUMS else 4


# sizeof each enum under -fshort-enums, the default of arm-none-eabi-gcc and of the SDK's build.
ENUM_SIZES: dict[str, int] = {name: enum_size(name) for name in ENUM_NAMES}
# The width of an enum's values as the microvisor handles them, and so what it writes through an
# enum-typed output pointer (mvGetWakeReason, mvGetNetworkStatus, mvGetNetworkReasons): the width
# the __MAX sentinel declares, one byte for BYTE_ENUMS. Writing four there would overwrite the three
# bytes after a one-byte variable of a -fshort-enums application (arm-none-eabi-gcc keeps such a
# variable next to the saved registers); a -fno-short-enums application initialises its variable.
ENUM_VALUE_SIZES: dict[str, int] = ENUM_SIZES


def pack_enum(name: str, value: int) -> bytes:
    """An enum value as the kernel stores it in application memory (little-endian, ENUM_VALUE_SIZES)."""
    return int(value).to_bytes(ENUM_VALUE_SIZES[name], "little")


# Structure layouts: name -> (size, alignment, {field: (offset, size)}), as arm-none-eabi-gcc lays
# out the header's structures; a field in a named union member is "v1.field". Pointers and handles
# are 4 bytes. A field whose size is an enum's name is that enum: its size follows the enum flag.
STRUCTS: dict[str, tuple[int, int, dict[str, tuple[int, int | str]]]] = {
    "MvNotification": (16, 8, {"microseconds": (0, 8), "event_type": (8, 4), "tag": (12, 4)}),
    "MvNotificationSetup": (12, 4, {"irq": (0, 4), "buffer": (4, 4), "buffer_size": (8, 4)}),
    "MvRequestNetworkParams": (12, 4, {
        "version": (0, 4), "v1": (4, 8), "v1.notification_handle": (4, 4), "v1.notification_tag": (8, 4)}),
    "MvSizedString": (8, 4, {"data": (0, 4), "length": (4, 4)}),
    "MvOpenChannelParams": (44, 4, {
        "version": (0, 4), "v1": (4, 40), "v1.notification_handle": (4, 4), "v1.notification_tag": (8, 4),
        "v1.network_handle": (12, 4), "v1.receive_buffer": (16, 4), "v1.receive_buffer_len": (20, 4),
        "v1.send_buffer": (24, 4), "v1.send_buffer_len": (28, 4), "v1.channel_type": (32, 4),
        "v1.endpoint": (36, 8)}),
    "MvHttpHeader": (8, 4, {"length": (0, 4), "data": (4, 4)}),
    "MvHttpRequest": (36, 4, {
        "method": (0, 8), "url": (8, 8), "num_headers": (16, 4), "headers": (20, 4), "body": (24, 8),
        "timeout_ms": (32, 4)}),
    "MvHttpResponseData": (16, 4, {
        "result": (0, 4), "status_code": (4, 4), "num_headers": (8, 4), "body_length": (12, 4)}),
    "MvConfigKeyToFetch": (16, 4, {"scope": (0, 4), "store": (4, 4), "key": (8, 8)}),
    "MvConfigKeyFetchParams": (8, 4, {"num_items": (0, 4), "keys_to_fetch": (4, 4)}),
    "MvConfigResponseData": (8, 4, {"result": (0, 4), "num_items": (4, 4)}),
    "MvSizedStringBuffer": (12, 4, {"data": (0, 4), "size": (4, 4), "length": (8, 4)}),
    "MvConfigResponseReadItemParams": (20, 4, {"item_index": (0, 4), "result": (4, 4), "buf": (8, 12)}),
    "MvUsernamePassword": (16, 4, {"username": (0, 8), "password": (8, 8)}),
    "MvMqttAuthentication": (20, 4, {
        "method": (0, "MvMqttAuthenticationMethod"), "username_password": (4, 16)}),
    "MvTlsCertificateChain": (8, 4, {"num_certs": (0, 4), "certs": (4, 4)}),
    "MvOwnTlsCertificateChain": (16, 4, {"chain": (0, 8), "key": (8, 8)}),
    "MvTlsCredentials": (24, 4, {"cacert": (0, 8), "clientcert": (8, 16)}),
    "MvMqttWill": (24, 4, {"topic": (0, 8), "payload": (8, 8), "qos": (16, 4), "retain": (20, 1)}),
    "MvMqttConnectRequest": (60, 4, {
        "protocol_version": (0, 4), "host": (4, 8), "port": (12, 2), "clientid": (16, 8),
        "authentication": (24, 20), "tls_credentials": (44, 4), "keepalive": (48, 4), "clean_start": (52, 1),
        "will": (56, 4)}),
    "MvMqttConnectResponse": (8, 4, {"request_state": (0, 4), "reason_code": (4, 4)}),
    "MvMqttSubscription": (24, 4, {
        "topic": (0, 8), "desired_qos": (8, 4), "nl": (12, 4), "rap": (16, 4), "rh": (20, 4)}),
    "MvMqttSubscribeRequest": (12, 4, {
        "correlation_id": (0, 4), "subscriptions": (4, 4), "num_subscriptions": (8, 4)}),
    "MvMqttSubscribeResponse": (20, 4, {
        "request_state": (0, 4), "correlation_id": (4, 4), "reason_codes": (8, 4),
        "reason_codes_size": (12, 4), "reason_codes_len": (16, 4)}),
    "MvMqttUnsubscribeRequest": (12, 4, {"correlation_id": (0, 4), "topics": (4, 4), "num_topics": (8, 4)}),
    "MvMqttUnsubscribeResponse": (20, 4, {
        "request_state": (0, 4), "correlation_id": (4, 4), "reason_codes": (8, 4),
        "reason_codes_size": (12, 4), "reason_codes_len": (16, 4)}),
    "MvMqttPublishRequest": (28, 4, {
        "correlation_id": (0, 4), "topic": (4, 8), "payload": (12, 8), "desired_qos": (20, 4),
        "retain": (24, 4)}),
    "MvMqttPublishResponse": (12, 4, {
        "request_state": (0, 4), "correlation_id": (4, 4), "reason_code": (8, 4)}),
    "MvMqttMessage": (36, 4, {
        "correlation_id": (0, 4), "topic": (4, 12), "payload": (16, 12), "qos": (28, 4), "retain": (32, 4)}),
    "MvMqttLostMessageInfo": (20, 4, {"reason": (0, 4), "topic": (4, 12), "message_len": (16, 4)}),
    "MvMqttDisconnectResponse": (8, 4, {"request_state": (0, 4), "disconnect_code": (4, 4)}),
    "MvOpenSystemNotificationParams": (12, 4, {
        "notification_handle": (0, 4), "notification_tag": (4, 4), "notification_source": (8, 4)}),
    "MvExternalFlashInfo": (16, 4, {
        "version": (0, 4), "v1": (4, 12), "v1.chip_id": (4, 4), "v1.size": (8, 4),
        "v1.num_handles": (12, 4)}),
    "MvWifiConfig": (24, 4, {
        "version": (0, 4), "v1": (4, 20), "v1.config_mode": (4, "MvWifiConfigMode"), "v1.wifi_ssid": (8, 8),
        "v1.wifi_password": (16, 8)}),
    "MvWifiConfigOut": (20, 4, {
        "version": (0, 4), "v1": (4, 16), "v1.ssid": (4, 12), "v1.has_encryption": (16, 4)}),
}


# Handles are opaque pointers: 4 bytes.
HANDLE_SIZE = 4


def struct_layout(name: str, *, short_enums: bool = True) -> tuple[int, int, dict[str, tuple[int, int]]]:
    """(size, alignment, {field: (offset, size)}) of a header structure under the given enum flag."""
    size, align, fields = STRUCTS[name]
    return size, align, {path: (offset, enum_size(width, short_enums=short_enums) if isinstance(width, str)
                                else width) for path, (offset, width) in fields.items()}


def struct_size(name: str) -> int:
    return STRUCTS[name][0]


def pack_struct(name: str, values: dict[str, int]) -> bytes:
    """A whole header structure as the kernel writes it: the given fields little-endian, zero elsewhere.

    Padding and the unused bytes of a one-byte enum member are zero, so the structure reads the same
    to an application built with either enum flag.
    """
    size, _, fields = struct_layout(name)
    out = bytearray(size)
    for path, value in values.items():
        offset, width = fields[path]
        out[offset : offset + width] = (int(value) & ((1 << 8 * width) - 1)).to_bytes(width, "little")
    return bytes(out)


# mvTemporaryStructTest(in): a vendor self-test. Its structures are not in the v0.7.0 header (an
# earlier header had them): a version word, then v1 {uint16_t a; {uint8_t a; pointer b; uint32_t c}}.
VENDOR_TEST_STRUCTS: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {
    "MvTemporaryTestVersionedStruct": (
        20, {"version": (0, 4), "v1.a": (4, 2), "v1.b.a": (8, 1), "v1.b.b": (12, 4),
             "v1.b.c": (16, 4)}),
    "MvTemporaryTestSubStruct": (16, {"a": (0, 8), "b": (8, 4)}),
}

# MvNotification / mvSetupNotifications().
NOTIFICATION_SIZE = struct_size("MvNotification")
NOTIFICATION_OFFSET_MICROSECONDS = STRUCTS["MvNotification"][2]["microseconds"][0]
NOTIFICATION_OFFSET_EVENT_TYPE = STRUCTS["MvNotification"][2]["event_type"][0]
NOTIFICATION_OFFSET_TAG = STRUCTS["MvNotification"][2]["tag"][0]
NOTIFICATION_SETUP_SIZE = struct_size("MvNotificationSetup")
NOTIFICATION_SETUP_OFFSET_IRQ = STRUCTS["MvNotificationSetup"][2]["irq"][0]
NOTIFICATION_SETUP_OFFSET_BUFFER = STRUCTS["MvNotificationSetup"][2]["buffer"][0]
NOTIFICATION_SETUP_OFFSET_BUFFER_SIZE = STRUCTS["MvNotificationSetup"][2]["buffer_size"][0]
NOTIFICATION_BUFFER_MIN_SIZE = 32  # bytes; and a whole number of 16-byte notifications
MAX_NOTIFICATION_BUFFERS = 32  # more at once: TOOMANYNOTIFICATIONBUFFERS

# mvServerLoggingInit(buffer, length_bytes) / mvServerLog(message, length_bytes).
# There is no setup structure: the buffer and its length travel in r0 and r1. The header names
# the failures (PARAMETERFAULT, INVALIDBUFFERALIGNMENT, INVALIDBUFFERSIZE) but not the limits;
# the published examples all pass a 512-byte-aligned buffer of 1024 to 8192 bytes, which these
# rules accept. mvServerLog takes the length as uint16_t.
LOG_BUFFER_ALIGNMENT = 512
LOG_BUFFER_MIN_SIZE = 512
LOG_BUFFER_SIZE_MULTIPLE = 512

# mvGetDeviceId(buf, len): the 34-byte device SID, "UV" followed by 32 lower-case hex digits,
# without a terminator. Any other len: INVALIDBUFFERSIZE.
DEVICE_ID_LENGTH = 34

# mvServerLog / mvTestLog: the longest message accepted; longer ones are LOGMESSAGETOOLONG.
LOG_MESSAGE_MAX = 128

# mvSetupNotifications(): the notification buffer must be 8-byte aligned (struct MvNotification
# starts with a uint64_t); more than MAX_NOTIFICATION_BUFFERS centres at once are refused.
NOTIFICATION_BUFFER_ALIGNMENT = 8

# mvExternalFlash*: at most this many open handles (TOOMANYCHANNELS beyond); erases take whole
# 4 KiB sectors (INVALIDBUFFERALIGNMENT otherwise); MvExternalFlashInfo.version must be 1.
MAX_EXTERNAL_FLASH_HANDLES = 32
EXTERNAL_FLASH_ERASE_ALIGNMENT = 4096
EXTERNAL_FLASH_INFO_VERSION = 1

# mvTemporaryStructTest(in): a versioned test structure; only version 1 is known. v1.b.b points
# to a 16-byte MvTemporaryTestSubStruct (uint64_t a, uint32_t b, padding).
TEMPORARY_TEST_STRUCT_VERSION = 1
