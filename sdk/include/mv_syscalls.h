/*
 * mv_syscalls.h - the Microvisor system-call interface for applications (stm32u5, ABI v0.7.0).
 *
 * Written for this project. It is binary compatible with the published Microvisor SDK header of
 * the same version: the same type names, enum names and values, structure layouts and call
 * signatures, so an application written for the published SDK builds against it unchanged.
 *
 * Every call is a Non-Secure-Callable entry point of the microvisor at a fixed address; the
 * addresses come from sdk/ld/mv_syscalls.ld (include it in the application's linker script).
 * Calls follow the base AAPCS: arguments in r0-r3 (then the stack), the 32-bit MvStatus in r0.
 *
 * Enum sizes are set, as in the published header, by each enum's last member, __MAX, alone; the
 * enums carry no attribute. Where __MAX is 0xffffffff the enum needs 32 bits, so it is 4 bytes
 * whatever the compiler's enum flag. Where __MAX is 0xff (MvMqttAuthenticationMethod,
 * MvPowerSavingMode, MvDeepSleepMode, MvWakeReason, MvWifiConfigMode) the values are one byte
 * wide: the enum is 1 byte with -fshort-enums, arm-none-eabi-gcc's default, and 4 bytes with
 * -fno-short-enums. Structures that hold one of those keep the same offsets and size either way
 * (the member is followed by padding up to the next 4-byte member).
 */
#ifndef MV_SYSCALLS_H
#define MV_SYSCALLS_H

#include <stdint.h>

#define MV_SYSCALLS_ABI_VERSION "0.7.0"

#if defined(__arm__) && (defined(__GNUC__) || defined(__clang__))
#define MV_CALL __attribute__((pcs("aapcs")))
#else
#define MV_CALL
#endif

/* ---------------------------------------------------------------------------------------------
 * Status codes: the result of every call.
 * ------------------------------------------------------------------------------------------- */

enum MvStatus {
    MV_STATUS_OKAY = 0x0,                       /* the call succeeded */
    MV_STATUS_TIMENOTSET = 0x1,                 /* wall time has not been set by the server yet */
    MV_STATUS_PARAMETERFAULT = 0x2,             /* a pointer argument is not application memory */
    MV_STATUS_INVALIDBUFFERSIZE = 0x3,          /* a buffer has the wrong size */
    MV_STATUS_PERIPHERALACCESSFAULT = 0x4,      /* register not allowed, or not word aligned */
    MV_STATUS_BUFFERALREADYINUSE = 0x5,         /* the buffer is used by another object */
    MV_STATUS_INVALIDINTERRUPT = 0x6,           /* the IRQ cannot be used (or is taken) */
    MV_STATUS_INVALIDHANDLE = 0x7,              /* unknown handle, or handle of another kind */
    MV_STATUS_TOOMANYNOTIFICATIONBUFFERS = 0x8, /* notification buffer limit reached */
    MV_STATUS_INVALIDVECTOR = 0x9,              /* bad vector for a fast interrupt */
    MV_STATUS_UNAVAILABLE = 0xa,                /* not possible in the current state */
    MV_STATUS_UNSUPPORTEDSTRUCTUREVERSION = 0xb,/* unknown version of a versioned structure */
    MV_STATUS_TOOMANYCHANNELS = 0xc,            /* channel limit reached */
    MV_STATUS_UNKNOWNCHANNELENDPOINT = 0xd,     /* unknown channel endpoint */
    MV_STATUS_UNKNOWNCHANNELTYPE = 0xe,         /* unknown channel type */
    MV_STATUS_CHANNELCLOSED = 0xf,              /* the channel is closed */
    MV_STATUS_NETWORKNOTCONNECTED = 0x10,       /* the device is offline */
    MV_STATUS_RATELIMITED = 0x11,               /* called too often; retry later */
    MV_STATUS_INVALIDBUFFERALIGNMENT = 0x12,    /* a buffer is not aligned as required */
    MV_STATUS_LATEFAULT = 0x13,                 /* a fault after the action was already done */
    MV_STATUS_RESPONSENOTPRESENT = 0x14,        /* no response to read */
    MV_STATUS_INDEXINVALID = 0x15,              /* an item index is out of range */
    MV_STATUS_OFFSETINVALID = 0x16,             /* an offset is beyond the data */
    MV_STATUS_REQUESTALREADYSENT = 0x17,        /* the channel's request was already sent */
    MV_STATUS_REQUESTUNSUCCESSFUL = 0x18,       /* the request failed; no data to read */
    MV_STATUS_LOGMESSAGETOOLONG = 0x19,         /* the log message is longer than allowed */
    MV_STATUS_LOGGINGDISABLEDBYSERVER = 0x1a,   /* the server has turned logging off */
    MV_STATUS_TOOMANYCONFIGKEYS = 0x1b,         /* too many configuration keys requested */
    MV_STATUS_UNKNOWNCONFIGSTORE = 0x1c,        /* unknown configuration store */
    MV_STATUS_UNKNOWNCONFIGSCOPE = 0x1d,        /* unknown configuration scope */
    MV_STATUS_INVALIDCONFIGKEY = 0x1e,          /* key is not printable ASCII */
    MV_STATUS_INVALIDAUTHENTICATION = 0x1f,     /* invalid authentication given */
    MV_STATUS_WRONGDATAREQUESTED = 0x20,        /* the object does not hold that kind of data */
    MV_STATUS_INTERNALERROR = 0x21,             /* unexpected internal error */
    MV_STATUS_TOOMANYELEMENTS = 0x22,           /* too many elements in a request */
    MV_STATUS_REQUIREDELEMENTMISSING = 0x23,    /* a required element is missing */
    MV_STATUS_MICROVISORBUSY = 0x24,            /* the microvisor is busy */
    MV_STATUS_ADDRESSOUTOFRANGE = 0x25,         /* an address is out of range */
    MV_STATUS_INPUTTOOLONG = 0x26,              /* an input buffer is too long */
    MV_STATUS__MAX = 0xffffffff,
};

/* ---------------------------------------------------------------------------------------------
 * Notifications.
 * ------------------------------------------------------------------------------------------- */

enum MvEventType {
    MV_EVENTTYPE_NOEVENT = 0x0,               /* no event (never delivered) */
    MV_EVENTTYPE_NETWORKSTATUSCHANGED = 0x1,  /* the network state changed */
    MV_EVENTTYPE_CHANNELDATAREADABLE = 0x2,   /* a channel has data to read */
    MV_EVENTTYPE_CHANNELDATAWRITESPACE = 0x3, /* a channel has room to write */
    MV_EVENTTYPE_CHANNELNOTCONNECTED = 0x4,   /* a channel was disconnected */
    MV_EVENTTYPE_UPDATEDOWNLOADED = 0x5,      /* an update has been downloaded */
    MV_EVENTTYPE__MAX = 0xffffffff,
};

/* One entry of a notification buffer (16 bytes). */
struct MvNotification {
    uint64_t microseconds;        /* when it was issued, on the mvGetMicroseconds() clock */
    enum MvEventType event_type;  /* what happened */
    uint32_t tag;                 /* the tag the application gave the source */
};

/* Parameters of mvSetupNotifications() (12 bytes). */
struct MvNotificationSetup {
    uint32_t irq;                   /* IRQ the microvisor pends when it adds a notification */
    struct MvNotification *buffer;  /* ring of notifications written by the microvisor */
    uint32_t buffer_size;           /* bytes: a multiple of 16, at least 32 */
};

/* Handles are 32-bit values chosen by the microvisor; zero is never valid. */
typedef struct MvNotificationHandleOpaque *MvNotificationHandle;

/* ---------------------------------------------------------------------------------------------
 * Network.
 * ------------------------------------------------------------------------------------------- */

struct MvRequestNetworkParams {
    uint32_t version; /* selects the union member below: 1 */
    union {
        struct {
            MvNotificationHandle notification_handle; /* where network events go */
            uint32_t notification_tag;                /* tag of those events */
        } v1;
    };
};

typedef struct MvNetworkHandleOpaque *MvNetworkHandle;

enum MvNetworkStatus {
    MV_NETWORKSTATUS_DELIBERATELYOFFLINE = 0x0,
    MV_NETWORKSTATUS_CONNECTED = 0x1,
    MV_NETWORKSTATUS_CONNECTING = 0x2,
    MV_NETWORKSTATUS_DISCONNECTEDWITHLINKUP = 0x3,
    MV_NETWORKSTATUS__MAX = 0xffffffff,
};

/* Bit field: why the device is (or is not) connecting. */
enum MvNetworkReason {
    MV_NETWORKREASON_NOTCONNECTING = 0x0,
    MV_NETWORKREASON_USINGNETWORK = 0x1,
    MV_NETWORKREASON_NEVERUSEDNETWORKAPI = 0x2,
    MV_NETWORKREASON_MINIMUMCHECKINEXPIRED = 0x4,
    MV_NETWORKREASON_RTCNOTSET = 0x8,
    MV_NETWORKREASON_KERNELERROR = 0x10,
    MV_NETWORKREASON_APPLICATIONERROR = 0x20,
    MV_NETWORKREASON_COLDBOOTCONNECTION = 0x40,
    MV_NETWORKREASON_FETCHINGUPDATE = 0x80,
    MV_NETWORKREASON_DEBUGGERATTACHED = 0x100,
    MV_NETWORKREASON_NOAPPLICATIONCODE = 0x200,
    MV_NETWORKREASON_ENHANCECALM = 0x800, /* prevents connection attempts while set */
    MV_NETWORKREASON__MAX = 0xffffffff,
};

/* ---------------------------------------------------------------------------------------------
 * Channels.
 * ------------------------------------------------------------------------------------------- */

enum MvChannelType {
    MV_CHANNELTYPE_OPAQUEBYTES = 0x0,
    MV_CHANNELTYPE_MQTT = 0x1,
    MV_CHANNELTYPE_HTTP = 0x2,
    MV_CHANNELTYPE_CONFIGFETCH = 0x3,
    MV_CHANNELTYPE__MAX = 0xffffffff,
};

/* A string given by pointer and length (no terminator needed). */
struct MvSizedString {
    const uint8_t *data;
    uint32_t length;
};

struct MvOpenChannelParams {
    uint32_t version; /* 1 */
    union {
        struct {
            MvNotificationHandle notification_handle; /* where channel events go */
            uint32_t notification_tag;                /* tag of those events */
            MvNetworkHandle network_handle;           /* network carrying the channel */
            uint8_t *receive_buffer;                  /* incoming data */
            uint32_t receive_buffer_len;
            uint8_t *send_buffer;                     /* outgoing data */
            uint32_t send_buffer_len;
            enum MvChannelType channel_type;
            struct MvSizedString endpoint;            /* endpoint name */
        } v1;
    };
};

typedef struct MvChannelHandleOpaque *MvChannelHandle;

enum MvClosureReason {
    MV_CLOSUREREASON_NONE = 0x0,
    MV_CLOSUREREASON_CHANNELCLOSEDBYSERVER = 0x1,
    MV_CLOSUREREASON_CHANNELRESETBYSERVER = 0x2,
    MV_CLOSUREREASON_NETWORKDISCONNECTED = 0x3,
    MV_CLOSUREREASON_CONNECTIONTERMINATED = 0x4,
    MV_CLOSUREREASON_NOTYETOPEN = 0x5,
    MV_CLOSUREREASON_CLOSEDBYAPPLICATION = 0x6,
    MV_CLOSUREREASON_UNEXPECTEDLYTERMINATED = 0x7,
    MV_CLOSUREREASON__MAX = 0xffffffff,
};

/* ---------------------------------------------------------------------------------------------
 * HTTP requests through the service.
 * ------------------------------------------------------------------------------------------- */

struct MvHttpHeader {
    uint32_t length;
    const uint8_t *data;
};

struct MvHttpRequest {
    struct MvSizedString method;        /* GET, HEAD, POST, PUT, DELETE, PATCH or OPTIONS */
    struct MvSizedString url;           /* https:// only */
    uint32_t num_headers;
    const struct MvHttpHeader *headers;
    struct MvSizedString body;
    uint32_t timeout_ms;                /* 5000 .. 10000 */
};

enum MvHttpResult {
    MV_HTTPRESULT_OK = 0x0,
    MV_HTTPRESULT_UNSUPPORTEDURISCHEME = 0x1,
    MV_HTTPRESULT_UNSUPPORTEDMETHOD = 0x2,
    MV_HTTPRESULT_INVALIDHEADERS = 0x3,
    MV_HTTPRESULT_INVALIDTIMEOUT = 0x4,
    MV_HTTPRESULT_REQUESTFAILED = 0x5,
    MV_HTTPRESULT_RESPONSETOOLARGE = 0x6,
    MV_HTTPRESULT__MAX = 0xffffffff,
};

struct MvHttpResponseData {
    enum MvHttpResult result;
    uint32_t status_code;   /* HTTP status from the remote end */
    uint32_t num_headers;
    uint32_t body_length;
};

/* ---------------------------------------------------------------------------------------------
 * Configuration and secrets.
 * ------------------------------------------------------------------------------------------- */

enum MvConfigKeyFetchScope {
    MV_CONFIGKEYFETCHSCOPE_ACCOUNT = 0x0,
    MV_CONFIGKEYFETCHSCOPE_DEVICE = 0x1,
    MV_CONFIGKEYFETCHSCOPE__MAX = 0xffffffff,
};

enum MvConfigKeyFetchStore {
    MV_CONFIGKEYFETCHSTORE_SECRET = 0x0,
    MV_CONFIGKEYFETCHSTORE_CONFIG = 0x1,
    MV_CONFIGKEYFETCHSTORE__MAX = 0xffffffff,
};

struct MvConfigKeyToFetch {
    enum MvConfigKeyFetchScope scope;
    enum MvConfigKeyFetchStore store;
    struct MvSizedString key;
};

struct MvConfigKeyFetchParams {
    uint32_t num_items;
    const struct MvConfigKeyToFetch *keys_to_fetch;
};

enum MvConfigFetchResult {
    MV_CONFIGFETCHRESULT_OK = 0x0,
    MV_CONFIGFETCHRESULT_RESPONSETOOLARGE = 0x1,
    MV_CONFIGFETCHRESULT__MAX = 0xffffffff,
};

struct MvConfigResponseData {
    enum MvConfigFetchResult result;
    uint32_t num_items;
};

enum MvConfigKeyFetchResult {
    MV_CONFIGKEYFETCHRESULT_OK = 0x0,
    MV_CONFIGKEYFETCHRESULT_KEYNOTFOUND = 0x1,
    MV_CONFIGKEYFETCHRESULT_SERVERERROR = 0x2,
    MV_CONFIGKEYFETCHRESULT__MAX = 0xffffffff,
};

/* A buffer the microvisor writes a string into. */
struct MvSizedStringBuffer {
    uint8_t *data;
    uint32_t size;     /* capacity in bytes */
    uint32_t *length;  /* receives the number of bytes written */
};

struct MvConfigResponseReadItemParams {
    uint32_t item_index;
    enum MvConfigKeyFetchResult *result;
    struct MvSizedStringBuffer buf;
};

/* ---------------------------------------------------------------------------------------------
 * MQTT through the service.
 * ------------------------------------------------------------------------------------------- */

enum MvMqttReadableDataType {
    MV_MQTTREADABLEDATATYPE_NONE = 0x0,
    MV_MQTTREADABLEDATATYPE_MESSAGERECEIVED = 0x1,
    MV_MQTTREADABLEDATATYPE_MESSAGELOST = 0x2,
    MV_MQTTREADABLEDATATYPE_CONNECTRESPONSE = 0x3,
    MV_MQTTREADABLEDATATYPE_SUBSCRIBERESPONSE = 0x4,
    MV_MQTTREADABLEDATATYPE_UNSUBSCRIBERESPONSE = 0x5,
    MV_MQTTREADABLEDATATYPE_PUBLISHRESPONSE = 0x6,
    MV_MQTTREADABLEDATATYPE_DISCONNECTRESPONSE = 0x7,
    MV_MQTTREADABLEDATATYPE__MAX = 0xffffffff,
};

enum MvMqttProtocolVersion {
    MV_MQTTPROTOCOLVERSION_V3_1_1 = 0x0,
    MV_MQTTPROTOCOLVERSION_V5 = 0x1,
    MV_MQTTPROTOCOLVERSION__MAX = 0xffffffff,
};

enum MvMqttAuthenticationMethod {
    MV_MQTTAUTHENTICATIONMETHOD_NONE = 0x0,
    MV_MQTTAUTHENTICATIONMETHOD_USERNAMEPASSWORD = 0x1,
    MV_MQTTAUTHENTICATIONMETHOD__MAX = 0xff,
};

struct MvUsernamePassword {
    struct MvSizedString username;
    struct MvSizedString password;
};

struct MvMqttAuthentication {
    enum MvMqttAuthenticationMethod method; /* 1 or 4 bytes (enum flag); then username_password at 4 */
    struct MvUsernamePassword username_password;
};

struct MvTlsCertificateChain {
    uint32_t num_certs;
    const struct MvSizedString *certs;
};

struct MvOwnTlsCertificateChain {
    struct MvTlsCertificateChain chain;
    struct MvSizedString key;
};

struct MvTlsCredentials {
    struct MvTlsCertificateChain cacert;        /* CA of the broker */
    struct MvOwnTlsCertificateChain clientcert; /* client certificate and key */
};

struct MvMqttWill {
    struct MvSizedString topic;
    struct MvSizedString payload;
    uint32_t qos;
    uint8_t retain;
};

struct MvMqttConnectRequest {
    enum MvMqttProtocolVersion protocol_version;
    struct MvSizedString host;
    uint16_t port;
    struct MvSizedString clientid;
    struct MvMqttAuthentication authentication;
    const struct MvTlsCredentials *tls_credentials;
    uint32_t keepalive;        /* seconds */
    uint8_t clean_start;
    const struct MvMqttWill *will;
};

enum MvMqttRequestState {
    MV_MQTTREQUESTSTATE_REQUESTCOMPLETED = 0x0,
    MV_MQTTREQUESTSTATE_INVALIDPARAMETERS = 0x1,
    MV_MQTTREQUESTSTATE_ALREADYCONNECTED = 0x2,
    MV_MQTTREQUESTSTATE_NOTCONNECTED = 0x3,
    MV_MQTTREQUESTSTATE_NXDOMAIN = 0x4,
    MV_MQTTREQUESTSTATE_UNKNOWNCA = 0x5,
    MV_MQTTREQUESTSTATE_CERTIFICATEEXPIRED = 0x6,
    MV_MQTTREQUESTSTATE_SOCKETERROR = 0x7,
    MV_MQTTREQUESTSTATE_CONNECTIONCIRCUITBREAKER = 0x8,
    MV_MQTTREQUESTSTATE__MAX = 0xffffffff,
};

struct MvMqttConnectResponse {
    enum MvMqttRequestState request_state;
    uint32_t reason_code;
};

struct MvMqttSubscription {
    struct MvSizedString topic;
    uint32_t desired_qos;
    uint32_t nl;   /* no-local (v5) */
    uint32_t rap;  /* retain as published (v5) */
    uint32_t rh;   /* retain handling (v5) */
};

struct MvMqttSubscribeRequest {
    uint32_t correlation_id;
    const struct MvMqttSubscription *subscriptions;
    uint32_t num_subscriptions;
};

struct MvMqttSubscribeResponse {
    enum MvMqttRequestState *request_state;
    uint32_t *correlation_id;
    uint32_t *reason_codes;
    uint32_t reason_codes_size;  /* bytes available at reason_codes */
    uint32_t *reason_codes_len;  /* receives the number of codes written */
};

struct MvMqttUnsubscribeRequest {
    uint32_t correlation_id;
    const struct MvSizedString *topics;
    uint32_t num_topics;
};

struct MvMqttUnsubscribeResponse {
    enum MvMqttRequestState *request_state;
    uint32_t *correlation_id;
    uint32_t *reason_codes;
    uint32_t reason_codes_size;
    uint32_t *reason_codes_len;
};

struct MvMqttPublishRequest {
    uint32_t correlation_id;
    struct MvSizedString topic;
    struct MvSizedString payload;
    uint32_t desired_qos;
    uint32_t retain;
};

struct MvMqttPublishResponse {
    enum MvMqttRequestState request_state;
    uint32_t correlation_id;
    uint32_t reason_code;  /* always 0 with MQTT 3.1.1 */
};

struct MvMqttMessage {
    uint32_t *correlation_id;
    struct MvSizedStringBuffer topic;
    struct MvSizedStringBuffer payload;
    uint32_t *qos;     /* above 0: acknowledge with mvMqttAcknowledgeMessage() */
    uint8_t *retain;
};

enum MvMqttLostMessageReason {
    MV_MQTTLOSTMESSAGEREASON_DEVICERECEIVEBUFFERTOOSMALL = 0x0,
    MV_MQTTLOSTMESSAGEREASON__MAX = 0xffffffff,
};

struct MvMqttLostMessageInfo {
    enum MvMqttLostMessageReason *reason;
    struct MvSizedStringBuffer topic;
    uint32_t *message_len;
};

struct MvMqttDisconnectResponse {
    enum MvMqttRequestState request_state;
    uint32_t disconnect_code;
};

/* ---------------------------------------------------------------------------------------------
 * Power, system notifications, restarts.
 * ------------------------------------------------------------------------------------------- */

enum MvPowerSavingMode {
    MV_POWERSAVINGMODE_SLEEP = 0x0,
    MV_POWERSAVINGMODE_STOP0 = 0x1,
    MV_POWERSAVINGMODE_STOP1 = 0x2,
    MV_POWERSAVINGMODE_STOP2 = 0x3,
    MV_POWERSAVINGMODE_STOP3 = 0x4,
    MV_POWERSAVINGMODE__MAX = 0xff,
};

enum MvSystemNotificationSource {
    MV_SYSTEMNOTIFICATIONSOURCE_NETWORK = 0x0, /* connection to the cloud */
    MV_SYSTEMNOTIFICATIONSOURCE_UPDATE = 0x1,  /* application and kernel updates */
    MV_SYSTEMNOTIFICATIONSOURCE__MAX = 0xffffffff,
};

struct MvOpenSystemNotificationParams {
    MvNotificationHandle notification_handle;
    uint32_t notification_tag;
    enum MvSystemNotificationSource notification_source;
};

typedef struct MvSystemEventHandleOpaque *MvSystemEventHandle;

enum MvDeepSleepMode {
    MV_DEEPSLEEPMODE_STANDBY = 0x0,
    MV_DEEPSLEEPMODE_SHUTDOWN = 0x1,
    MV_DEEPSLEEPMODE__MAX = 0xff,
};

/* Why the application is running now (values one byte wide). */
enum MvWakeReason {
    MV_WAKEREASON_COLDBOOT = 0x0,                 /* power on, or out of Shutdown */
    MV_WAKEREASON_REMOTEMICROVISORRESTART = 0x1,  /* server asked for a microvisor restart */
    MV_WAKEREASON_REMOTEAPPLICATIONRESTART = 0x2, /* server asked for an application restart */
    MV_WAKEREASON_DEBUGGERRESTART = 0x3,          /* restarted by the debugger */
    MV_WAKEREASON_MICROVISORCRASH = 0x4,
    MV_WAKEREASON_MICROVISORWATCHDOG = 0x5,
    MV_WAKEREASON_MICROVISOROUTOFMEMORY = 0x6,
    MV_WAKEREASON_MICROVISORERROR = 0x7,
    MV_WAKEREASON_APPLICATIONCRASH = 0x8,
    MV_WAKEREASON_APPLICATIONUPDATE = 0x9,
    MV_WAKEREASON_MICROVISORUPDATE = 0xa,
    MV_WAKEREASON_OPTIONBYTES = 0xb,
    MV_WAKEREASON_DEEPSLEEPCHECKIN = 0xc,         /* deep sleep ended: check-in due */
    MV_WAKEREASON_DEEPSLEEPAPPLICATION = 0xd,     /* deep sleep ended: application wake-up */
    MV_WAKEREASON_DEEPSLEEPMODEM = 0xe,           /* deep sleep ended: modem interrupt */
    MV_WAKEREASON_DEEPSLEEPAPPLICATIONRTC = 0xf,  /* deep sleep ended: application RTC */
    MV_WAKEREASON_DEEPSLEEPOTHER = 0x10,          /* deep sleep ended: other */
    MV_WAKEREASON__MAX = 0xff,
};

enum MvRestartMode {
    MV_RESTARTMODE_AUTOAPPLYUPDATE = 0x0, /* restart app or device, as pending updates need */
    MV_RESTARTMODE__MAX = 0xffffffff,
};

/* ---------------------------------------------------------------------------------------------
 * External (QSPI) flash.
 * ------------------------------------------------------------------------------------------- */

typedef struct MvExternalFlashHandleOpaque *MvExternalFlashHandle;

struct MvExternalFlashInfo {
    uint32_t version; /* set to 1 by the caller */
    union {
        struct {
            uint32_t chip_id;
            uint32_t size;         /* bytes available to the application */
            uint32_t num_handles;  /* open handles */
        } v1;
    };
};

/* ---------------------------------------------------------------------------------------------
 * Wi-Fi.
 * ------------------------------------------------------------------------------------------- */

enum MvWifiConfigMode {
    MV_WIFICONFIGMODE_APPLYNOW = 0x0,
    MV_WIFICONFIGMODE_CLEARNOW = 0x1,
    MV_WIFICONFIGMODE__MAX = 0xff,
};

struct MvWifiConfig {
    uint32_t version; /* 1 */
    union {
        struct {
            enum MvWifiConfigMode config_mode;
            struct MvSizedString wifi_ssid;
            struct MvSizedString wifi_password;
        } v1;
    };
};

struct MvWifiConfigOut {
    uint32_t version; /* 1 */
    union {
        struct {
            struct MvSizedStringBuffer ssid;
            uint8_t *has_encryption;
        } v1;
    };
};

/* ---------------------------------------------------------------------------------------------
 * The calls.
 * ------------------------------------------------------------------------------------------- */

#ifdef __cplusplus
extern "C" {
#endif

/* Basics and clocks */
MV_CALL enum MvStatus mvNoOp(void);
MV_CALL enum MvStatus mvGetMicroseconds(uint64_t *ms);   /* free-running, from microvisor start */
MV_CALL enum MvStatus mvGetSysClk(uint32_t *hz);
MV_CALL enum MvStatus mvGetHClk(uint32_t *hz);
MV_CALL enum MvStatus mvGetPClk1(uint32_t *hz);
MV_CALL enum MvStatus mvGetPClk2(uint32_t *hz);
MV_CALL enum MvStatus mvGetWallTime(uint64_t *usec);     /* TIMENOTSET until synchronised */
/* Writes the 34-byte device SID ("UV" + 32 hex digits, no terminator); len must be 34. */
MV_CALL enum MvStatus mvGetDeviceId(uint8_t *buf, uint32_t len);
/* A vendor test entry point; it has no public parameter structure in this ABI version. */
MV_CALL enum MvStatus mvTemporaryStructTest(const void *in);

/* Registers of secure peripherals, as far as the application may touch them.
 * mvPeriphPoke32 does: *reg = (*reg & ~mask) ^ xorvalue. */
MV_CALL enum MvStatus mvPeriphPeek32(uint32_t reg, uint32_t *output);
MV_CALL enum MvStatus mvPeriphPoke32(uint32_t reg, uint32_t mask, uint32_t xorvalue);

/* Notifications */
MV_CALL enum MvStatus mvSetupNotifications(const struct MvNotificationSetup *notifications,
                                           MvNotificationHandle *handle_out);
MV_CALL enum MvStatus mvCloseNotifications(MvNotificationHandle *handle_in_out);
MV_CALL enum MvStatus mvTempTriggerNotification(MvNotificationHandle handle, enum MvEventType type,
                                                uint32_t tag);

/* Fast interrupts */
MV_CALL enum MvStatus mvSetFastInterrupt(uint32_t irqn);
MV_CALL enum MvStatus mvClearFastInterrupt(uint32_t irqn);
MV_CALL enum MvStatus mvEnableFastInterrupt(uint32_t irqn);
MV_CALL enum MvStatus mvDisableFastInterrupt(uint32_t irqn);
MV_CALL enum MvStatus mvDisableAllFastInterrupts(void);
MV_CALL enum MvStatus mvEnableAllFastInterrupts(void);

/* Network */
MV_CALL enum MvStatus mvRequestNetwork(const struct MvRequestNetworkParams *params,
                                       MvNetworkHandle *handle);
MV_CALL enum MvStatus mvReleaseNetwork(MvNetworkHandle *handle);
MV_CALL enum MvStatus mvGetNetworkStatus(MvNetworkHandle handle, enum MvNetworkStatus *status);
MV_CALL enum MvStatus mvGetNetworkReasons(enum MvNetworkReason *reasons,
                                          uint32_t *request_ref_count);

/* Channels */
MV_CALL enum MvStatus mvOpenChannel(const struct MvOpenChannelParams *params,
                                    MvChannelHandle *handle);
MV_CALL enum MvStatus mvReadChannel(MvChannelHandle handle, uint8_t **read_pointer_out,
                                    uint32_t *length_out);
MV_CALL enum MvStatus mvReadChannelComplete(MvChannelHandle handle, uint32_t consumed);
MV_CALL enum MvStatus mvWriteChannelStream(MvChannelHandle handle, const uint8_t *data,
                                           uint32_t len, uint32_t *written);
MV_CALL enum MvStatus mvWriteChannel(MvChannelHandle handle, const uint8_t *data, uint32_t len,
                                     uint32_t *available);
MV_CALL enum MvStatus mvCloseChannel(MvChannelHandle *handle);
MV_CALL enum MvStatus mvGetChannelClosureReason(MvChannelHandle handle,
                                                enum MvClosureReason *reason_out);

/* HTTP */
MV_CALL enum MvStatus mvSendHttpRequest(MvChannelHandle handle,
                                        const struct MvHttpRequest *request);
MV_CALL enum MvStatus mvReadHttpResponseData(MvChannelHandle handle,
                                             struct MvHttpResponseData *response_data);
MV_CALL enum MvStatus mvReadHttpResponseHeader(MvChannelHandle handle, uint32_t header_index,
                                               uint8_t *buf, uint32_t size);
MV_CALL enum MvStatus mvReadHttpResponseBody(MvChannelHandle handle, uint32_t offset,
                                             uint8_t *buf, uint32_t size);

/* Logging to the server */
MV_CALL enum MvStatus mvServerLoggingInit(uint8_t *buffer, uint32_t length_bytes);
MV_CALL enum MvStatus mvServerLog(const uint8_t *message, uint16_t length_bytes);

/* Configuration and secrets */
MV_CALL enum MvStatus mvSendConfigFetchRequest(MvChannelHandle handle,
                                               const struct MvConfigKeyFetchParams *request);
MV_CALL enum MvStatus mvReadConfigFetchResponseData(MvChannelHandle handle,
                                                    struct MvConfigResponseData *response_data);
MV_CALL enum MvStatus mvReadConfigResponseItem(MvChannelHandle handle,
                                               const struct MvConfigResponseReadItemParams *params);

/* MQTT */
MV_CALL enum MvStatus mvMqttGetNextReadableDataType(MvChannelHandle handle,
                                                    enum MvMqttReadableDataType *data_type);
MV_CALL enum MvStatus mvMqttRequestConnect(MvChannelHandle handle,
                                           const struct MvMqttConnectRequest *request);
MV_CALL enum MvStatus mvMqttReadConnectResponse(MvChannelHandle handle,
                                                struct MvMqttConnectResponse *response_data);
MV_CALL enum MvStatus mvMqttRequestSubscribe(MvChannelHandle handle,
                                             const struct MvMqttSubscribeRequest *request);
MV_CALL enum MvStatus mvMqttReadSubscribeResponse(
    MvChannelHandle handle, const struct MvMqttSubscribeResponse *response_data);
MV_CALL enum MvStatus mvMqttRequestUnsubscribe(MvChannelHandle handle,
                                               const struct MvMqttUnsubscribeRequest *request);
MV_CALL enum MvStatus mvMqttReadUnsubscribeResponse(
    MvChannelHandle handle, const struct MvMqttUnsubscribeResponse *response_data);
MV_CALL enum MvStatus mvMqttRequestPublish(MvChannelHandle handle,
                                           const struct MvMqttPublishRequest *request);
MV_CALL enum MvStatus mvMqttReadPublishResponse(MvChannelHandle handle,
                                                struct MvMqttPublishResponse *response_data);
MV_CALL enum MvStatus mvMqttReceiveMessage(MvChannelHandle handle,
                                           const struct MvMqttMessage *message_data);
MV_CALL enum MvStatus mvMqttReceiveLostMessageInfo(
    MvChannelHandle handle, const struct MvMqttLostMessageInfo *lost_message_info);
MV_CALL enum MvStatus mvMqttAcknowledgeMessage(MvChannelHandle handle, uint32_t correlation_id);
MV_CALL enum MvStatus mvMqttRequestDisconnect(MvChannelHandle handle);
MV_CALL enum MvStatus mvMqttReadDisconnectResponse(MvChannelHandle handle,
                                                   struct MvMqttDisconnectResponse *response_data);

/* Manufacturing test of the application (only in application-testing mode) */
MV_CALL enum MvStatus mvTestingComplete(uint32_t status);
MV_CALL enum MvStatus mvTestLoggingInit(uint8_t *buffer, uint32_t length_bytes);
MV_CALL enum MvStatus mvTestLog(const uint8_t *message, uint16_t length_bytes);

/* Power, system notifications, restarts */
MV_CALL enum MvStatus mvPowerSave(enum MvPowerSavingMode mode);
MV_CALL enum MvStatus mvSystemLedEnable(uint32_t enable);  /* 0 off, 1 on */
MV_CALL enum MvStatus mvOpenSystemNotification(const struct MvOpenSystemNotificationParams *params,
                                               MvSystemEventHandle *handle);
MV_CALL enum MvStatus mvCloseSystemNotification(MvSystemEventHandle *handle);
MV_CALL enum MvStatus mvDeepSleep(enum MvDeepSleepMode mode);
/* Writes the reason's one-byte value: built with -fno-short-enums, zero the variable first. */
MV_CALL enum MvStatus mvGetWakeReason(enum MvWakeReason *mode);
MV_CALL enum MvStatus mvRestart(enum MvRestartMode mode);

/* External flash */
MV_CALL enum MvStatus mvExternalFlashOpen(MvExternalFlashHandle *handle);
MV_CALL enum MvStatus mvExternalFlashClose(MvExternalFlashHandle *handle);
MV_CALL enum MvStatus mvExternalFlashReadBlocking(MvExternalFlashHandle handle, uint32_t address,
                                                  uint32_t length, uint8_t *buffer);
MV_CALL enum MvStatus mvExternalFlashEraseBlocking(MvExternalFlashHandle handle, uint32_t address,
                                                   uint32_t length);  /* 4 KiB aligned */
MV_CALL enum MvStatus mvExternalFlashWriteBlocking(MvExternalFlashHandle handle, uint32_t address,
                                                   uint32_t length, const uint8_t *buffer);
MV_CALL enum MvStatus mvExternalFlashGetInfo(MvExternalFlashHandle handle,
                                             struct MvExternalFlashInfo *info);

/* Wi-Fi */
MV_CALL enum MvStatus mvSetWifiConfig(const struct MvWifiConfig *params);
MV_CALL enum MvStatus mvGetWifiConfig(const struct MvWifiConfigOut *params);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* MV_SYSCALLS_H */
