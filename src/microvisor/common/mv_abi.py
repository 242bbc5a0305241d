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


# Size in bytes of each enum type in application memory (arm-none-eabi short enums: an enum whose
# C __MAX member is 0xff is one byte). When a call writes an enum through a pointer
# (mvGetWakeReason, mvGetNetworkStatus, ...), the kernel writes exactly this many bytes.
ENUM_SIZES: dict[str, int] = {
    "MvStatus": 4,
    "MvEventType": 4,
    "MvNetworkStatus": 4,
    "MvNetworkReason": 4,
    "MvChannelType": 4,
    "MvClosureReason": 4,
    "MvHttpResult": 4,
    "MvConfigKeyFetchScope": 4,
    "MvConfigKeyFetchStore": 4,
    "MvConfigFetchResult": 4,
    "MvConfigKeyFetchResult": 4,
    "MvMqttReadableDataType": 4,
    "MvMqttProtocolVersion": 4,
    "MvMqttAuthenticationMethod": 1,
    "MvMqttRequestState": 4,
    "MvMqttLostMessageReason": 4,
    "MvPowerSavingMode": 1,
    "MvSystemNotificationSource": 4,
    "MvDeepSleepMode": 1,
    "MvWakeReason": 1,
    "MvRestartMode": 4,
    "MvWifiConfigMode": 1,
}

# Structure layouts: name -> (size, {field: (offset, size)}). Pointers and handles are 4 bytes.
STRUCTS: dict[str, tuple[int, dict[str, tuple[int, int]]]] = {
    "MvNotification": (16, {"microseconds": (0, 8), "event_type": (8, 4), "tag": (12, 4)}),
    "MvNotificationSetup": (12, {"irq": (0, 4), "buffer": (4, 4), "buffer_size": (8, 4)}),
    "MvRequestNetworkParams": (
        12, {"version": (0, 4), "notification_handle": (4, 4), "notification_tag": (8, 4)}),
    "MvOpenSystemNotificationParams": (
        12, {"notification_handle": (0, 4), "notification_tag": (4, 4),
             "notification_source": (8, 4)}),
    "MvExternalFlashInfo": (
        16, {"version": (0, 4), "chip_id": (4, 4), "size": (8, 4), "num_handles": (12, 4)}),
    "MvSizedString": (8, {"data": (0, 4), "length": (4, 4)}),
    "MvTemporaryTestVersionedStruct": (
        20, {"version": (0, 4), "v1.a": (4, 2), "v1.b.a": (8, 1), "v1.b.b": (12, 4),
             "v1.b.c": (16, 4)}),
    "MvTemporaryTestSubStruct": (16, {"a": (0, 8), "b": (8, 4)}),
}

# MvNotification / mvSetupNotifications().
NOTIFICATION_SIZE = 16
NOTIFICATION_OFFSET_MICROSECONDS = 0
NOTIFICATION_OFFSET_EVENT_TYPE = 8
NOTIFICATION_OFFSET_TAG = 12
NOTIFICATION_SETUP_SIZE = 12
NOTIFICATION_SETUP_OFFSET_IRQ = 0
NOTIFICATION_SETUP_OFFSET_BUFFER = 4
NOTIFICATION_SETUP_OFFSET_BUFFER_SIZE = 8
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
