/*
 * mqtt - talks to an MQTT broker of the customer's through the service, over an MQTT channel.
 *
 * The broker comes from the device's configuration (a configuration-fetch channel; the account's
 * answers where the device has none): "mqtt-host" and "mqtt-port"; optionally "mqtt-version" ("3" for
 * MQTT 3.1.1, otherwise 5), "mqtt-tls" ("1": TLS, trusting the service's CAs), "mqtt-ca" (a PEM CA to
 * trust as well), "mqtt-cert" with the secret "mqtt-key" (a PEM client certificate and key), and
 * "mqtt-user" with the secret "mqtt-password".
 *
 * With its device SID as client id (and a will on its out topic) it connects, subscribes with QoS 1 to
 * "devices/<sid>/in" ("mqtt: subscribed <topic>"), publishes "hello" with QoS 1 to "devices/<sid>/out",
 * then logs every message ("mqtt: message topic=... qos=... length=... payload=...", acknowledging QoS 1
 * ones) and every lost one ("mqtt: lost topic=... length=...") until the message "bye" comes; then it
 * unsubscribes, disconnects, closes the channel and ends with "mqtt: DONE pass=<n> fail=<m>". A connect
 * that fails is logged as "mqtt: connect state=<MvMqttRequestState> reason=<code>" before DONE.
 */
#include <stdbool.h>
#include <stdint.h>

#include "checks.h"
#include "log.h"
#include "net.h"

#define CONFIG_TAG 0xC0F1u
#define MQTT_TAG   0x4D51u
#define WAIT_MS    20000u   /* for one response */
#define RUN_MS     60000u   /* for the messages, until "bye" */
#define SID_LENGTH 34u

/* The MQTT channel's buffers: messages of up to 1 KiB (topic and payload) fit, larger ones are lost. */
static uint8_t s_rx[1024] __attribute__((aligned(512)));
static uint8_t s_tx[4096] __attribute__((aligned(512)));
static uint8_t s_config_rx[4096] __attribute__((aligned(512)));
static uint8_t s_config_tx[512] __attribute__((aligned(512)));

struct value {
    const char *key;
    enum MvConfigKeyFetchStore store;
    uint8_t *data;
    uint32_t size;
    uint32_t length;
};

static uint8_t s_host[128], s_port[8], s_version[4], s_tls[4], s_user[64], s_password[64];
static uint8_t s_ca[1536], s_cert[1536], s_key[512];
static struct value s_config[] = {
    {"mqtt-host", MV_CONFIGKEYFETCHSTORE_CONFIG, s_host, sizeof s_host, 0},
    {"mqtt-port", MV_CONFIGKEYFETCHSTORE_CONFIG, s_port, sizeof s_port, 0},
    {"mqtt-version", MV_CONFIGKEYFETCHSTORE_CONFIG, s_version, sizeof s_version, 0},
    {"mqtt-tls", MV_CONFIGKEYFETCHSTORE_CONFIG, s_tls, sizeof s_tls, 0},
    {"mqtt-ca", MV_CONFIGKEYFETCHSTORE_CONFIG, s_ca, sizeof s_ca, 0},
    {"mqtt-cert", MV_CONFIGKEYFETCHSTORE_CONFIG, s_cert, sizeof s_cert, 0},
    {"mqtt-key", MV_CONFIGKEYFETCHSTORE_SECRET, s_key, sizeof s_key, 0},
    {"mqtt-user", MV_CONFIGKEYFETCHSTORE_CONFIG, s_user, sizeof s_user, 0},
    {"mqtt-password", MV_CONFIGKEYFETCHSTORE_SECRET, s_password, sizeof s_password, 0},
};
#define CONFIG_ITEMS (sizeof s_config / sizeof s_config[0])

static char s_sid[SID_LENGTH + 1];
static char s_in[64], s_out[64];
static uint8_t s_topic[sizeof s_rx + 1], s_payload[sizeof s_rx + 1];
static MvChannelHandle s_channel;
static uint32_t s_correlation = 100;
static bool s_bye;

static uint32_t length_of(const char *text)
{
    uint32_t n = 0;
    while (text[n] != '\0') n++;
    return n;
}

static void topic_of(char *out, const char *middle, const char *end)
{
    uint32_t n = 0;
    for (const char *p = "devices/"; *p != '\0'; p++) out[n++] = *p;
    for (const char *p = middle; *p != '\0'; p++) out[n++] = *p;
    for (const char *p = end; *p != '\0'; p++) out[n++] = *p;
    out[n] = '\0';
}

/* A printable copy of at most `limit` bytes of data, for a log line. */
static const char *shown(const uint8_t *data, uint32_t length, uint32_t limit)
{
    static char buffers[2][64];
    static uint32_t which;
    char *out = buffers[which++ % 2];
    uint32_t n = 0;
    for (; n < length && n < limit && n < sizeof buffers[0] - 1; n++) {
        out[n] = data[n] >= 0x20 && data[n] < 0x7f ? (char)data[n] : '.';
    }
    out[n] = '\0';
    return out;
}

static uint32_t number(const uint8_t *text, uint32_t length)
{
    uint32_t value = 0;
    for (uint32_t i = 0; i < length && text[i] >= '0' && text[i] <= '9'; i++) value = value * 10 + text[i] - '0';
    return value;
}

/* One configuration request for every value; a key with no value leaves its length 0. */
static bool fetch_config(void)
{
    static struct MvConfigKeyToFetch keys[CONFIG_ITEMS];
    for (uint32_t i = 0; i < CONFIG_ITEMS; i++) {
        keys[i] = (struct MvConfigKeyToFetch){
            .scope = MV_CONFIGKEYFETCHSCOPE_DEVICE, .store = s_config[i].store,
            .key = {(const uint8_t *)s_config[i].key, length_of(s_config[i].key)}};
    }
    MvChannelHandle channel = 0;
    enum MvStatus status = net_open_channel(MV_CHANNELTYPE_CONFIGFETCH, NULL, CONFIG_TAG, s_config_rx,
                                            sizeof s_config_rx, s_config_tx, sizeof s_config_tx, &channel);
    struct MvConfigKeyFetchParams request = {.num_items = CONFIG_ITEMS, .keys_to_fetch = keys};
    if (status == MV_STATUS_OKAY) status = mvSendConfigFetchRequest(channel, &request);
    if (status == MV_STATUS_OKAY && net_wait(CONFIG_TAG, WAIT_MS) != MV_EVENTTYPE_CHANNELDATAREADABLE) {
        status = MV_STATUS_RESPONSENOTPRESENT;
    }
    for (uint32_t i = 0; status == MV_STATUS_OKAY && i < CONFIG_ITEMS; i++) {
        enum MvConfigKeyFetchResult result = MV_CONFIGKEYFETCHRESULT_SERVERERROR;
        struct MvConfigResponseReadItemParams item = {
            .item_index = i, .result = &result,
            .buf = {s_config[i].data, s_config[i].size, &s_config[i].length}};
        status = mvReadConfigResponseItem(channel, &item);
        if (result != MV_CONFIGKEYFETCHRESULT_OK) s_config[i].length = 0;
    }
    mvCloseChannel(&channel);
    check(status == MV_STATUS_OKAY && s_config[0].length > 0 && s_config[1].length > 0, "config",
          "status %u", (unsigned)status);
    return status == MV_STATUS_OKAY && s_config[0].length > 0 && s_config[1].length > 0;
}

/* --- what the broker sends ------------------------------------------------------------------ */
static void take_message(void)
{
    uint32_t id = 0, qos = 0, topic_length = 0, payload_length = 0;
    uint8_t retain = 0;
    struct MvMqttMessage message = {
        .correlation_id = &id, .topic = {s_topic, sizeof s_topic - 1, &topic_length},
        .payload = {s_payload, sizeof s_payload - 1, &payload_length}, .qos = &qos, .retain = &retain};
    enum MvStatus status = mvMqttReceiveMessage(s_channel, &message);
    if (status != MV_STATUS_OKAY) {
        check(false, "receive", "status %u", (unsigned)status);
        return;
    }
    log_printf("mqtt: message topic=%s qos=%u length=%u payload=%s", shown(s_topic, topic_length, 48),
               (unsigned)qos, (unsigned)payload_length, shown(s_payload, payload_length, 24));
    if (qos > 0) {
        status = mvMqttAcknowledgeMessage(s_channel, id);
        if (status != MV_STATUS_OKAY) check(false, "acknowledge", "status %u", (unsigned)status);
        else log_printf("mqtt: acknowledged %u", (unsigned)id);
    }
    s_bye = s_bye || (payload_length == 3 && s_payload[0] == 'b' && s_payload[1] == 'y' && s_payload[2] == 'e');
}

static void take_lost(void)
{
    enum MvMqttLostMessageReason reason = MV_MQTTLOSTMESSAGEREASON__MAX;
    uint32_t topic_length = 0, length = 0;
    struct MvMqttLostMessageInfo info = {
        .reason = &reason, .topic = {s_topic, sizeof s_topic - 1, &topic_length}, .message_len = &length};
    enum MvStatus status = mvMqttReceiveLostMessageInfo(s_channel, &info);
    if (status != MV_STATUS_OKAY) {
        check(false, "lost", "status %u", (unsigned)status);
        return;
    }
    log_printf("mqtt: lost topic=%s length=%u reason=%u", shown(s_topic, topic_length, 48), (unsigned)length,
               (unsigned)reason);
}

/* Take messages until a response is at the head: true when it is `wanted`, false on a timeout, a
 * closed channel or another response. */
static bool wait_for(enum MvMqttReadableDataType wanted, uint32_t timeout_ms)
{
    uint64_t deadline = net_now_us() + 1000ull * timeout_ms;
    for (;;) {
        enum MvMqttReadableDataType next = MV_MQTTREADABLEDATATYPE_NONE;
        enum MvStatus status = mvMqttGetNextReadableDataType(s_channel, &next);
        if (status != MV_STATUS_OKAY) {
            enum MvClosureReason why = MV_CLOSUREREASON_NONE;
            mvGetChannelClosureReason(s_channel, &why);
            log_printf("mqtt: the channel is gone (status %u, closure reason %u)", (unsigned)status,
                       (unsigned)why);
            return false;
        }
        if (next == MV_MQTTREADABLEDATATYPE_MESSAGERECEIVED) {
            take_message();
        } else if (next == MV_MQTTREADABLEDATATYPE_MESSAGELOST) {
            take_lost();
        } else if (next != MV_MQTTREADABLEDATATYPE_NONE) {
            return next == wanted;
        } else if (wanted == MV_MQTTREADABLEDATATYPE_NONE && s_bye) {
            return true;
        } else if (net_now_us() >= deadline) {
            return false;
        } else {
            net_wait(MQTT_TAG, 500);
        }
    }
}

/* --- the session ----------------------------------------------------------------------------- */
static bool connect(void)
{
    static struct MvSizedString ca, chain;
    ca = (struct MvSizedString){s_ca, s_config[4].length};
    chain = (struct MvSizedString){s_cert, s_config[5].length};
    struct MvTlsCredentials tls = {
        .cacert = {.num_certs = ca.length ? 1 : 0, .certs = &ca},
        .clientcert = {.chain = {.num_certs = chain.length ? 1 : 0, .certs = &chain},
                       .key = {s_key, s_config[6].length}}};
    struct MvMqttWill will = {.topic = {(const uint8_t *)s_out, length_of(s_out)},
                              .payload = {(const uint8_t *)"gone", 4}, .qos = 0, .retain = 0};
    bool v3 = s_config[2].length == 1 && s_version[0] == '3';
    bool with_user = s_config[7].length > 0;
    struct MvMqttConnectRequest request = {
        .protocol_version = v3 ? MV_MQTTPROTOCOLVERSION_V3_1_1 : MV_MQTTPROTOCOLVERSION_V5,
        .host = {s_host, s_config[0].length},
        .port = (uint16_t)number(s_port, s_config[1].length),
        .clientid = {(const uint8_t *)s_sid, SID_LENGTH},
        .authentication = {.method = with_user ? MV_MQTTAUTHENTICATIONMETHOD_USERNAMEPASSWORD
                                               : MV_MQTTAUTHENTICATIONMETHOD_NONE,
                           .username_password = {{s_user, s_config[7].length},
                                                 {s_password, s_config[8].length}}},
        .tls_credentials = s_config[3].length == 1 && s_tls[0] == '1' ? &tls : NULL,
        .keepalive = 60,
        .clean_start = 1,
        .will = &will};
    log_printf("mqtt: connecting to %s:%u (MQTT %s%s)", shown(s_host, s_config[0].length, 60),
               (unsigned)request.port, v3 ? "3.1.1" : "5", request.tls_credentials ? ", TLS" : "");
    enum MvStatus status = mvMqttRequestConnect(s_channel, &request);
    check(status == MV_STATUS_OKAY, "connect request", "status %u", (unsigned)status);
    check(mvMqttRequestConnect(s_channel, &request) == MV_STATUS_REQUESTALREADYSENT, "connect once",
          "a second connect was not refused");
    if (status != MV_STATUS_OKAY || !wait_for(MV_MQTTREADABLEDATATYPE_CONNECTRESPONSE, WAIT_MS)) {
        check(false, "connect", "no response");
        return false;
    }
    struct MvMqttConnectResponse response = {0};
    status = mvMqttReadConnectResponse(s_channel, &response);
    bool ok = status == MV_STATUS_OKAY && response.request_state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED &&
              response.reason_code == 0;
    if (!ok) {
        log_printf("mqtt: connect state=%u reason=%u", (unsigned)response.request_state,
                   (unsigned)response.reason_code);
    }
    check(ok, "connect", "status %u", (unsigned)status);
    return ok;
}

/* Read a (un)subscribe response: its state, and whether it has `count` codes each at most max_code. */
static bool codes_ok(bool subscribe, uint32_t correlation, uint32_t count, uint32_t max_code)
{
    enum MvMqttRequestState state = MV_MQTTREQUESTSTATE__MAX;
    uint32_t id = 0, codes[8] = {0}, length = 0;
    enum MvStatus status;
    if (subscribe) {
        struct MvMqttSubscribeResponse response = {&state, &id, codes, sizeof codes, &length};
        status = mvMqttReadSubscribeResponse(s_channel, &response);
    } else {
        struct MvMqttUnsubscribeResponse response = {&state, &id, codes, sizeof codes, &length};
        status = mvMqttReadUnsubscribeResponse(s_channel, &response);
    }
    bool ok = status == MV_STATUS_OKAY && state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED && id == correlation &&
              length == count;
    for (uint32_t i = 0; ok && i < length; i++) ok = codes[i] <= max_code;
    if (!ok) {
        log_printf("mqtt: %s status=%u state=%u id=%u codes=%u first=%u", subscribe ? "subscribe" : "unsubscribe",
                   (unsigned)status, (unsigned)state, (unsigned)id, (unsigned)length, (unsigned)codes[0]);
    }
    return ok;
}

static bool subscribe(void)
{
    struct MvMqttSubscription subscription = {
        .topic = {(const uint8_t *)s_in, length_of(s_in)}, .desired_qos = 1, .nl = 0, .rap = 0, .rh = 0};
    struct MvMqttSubscribeRequest request = {
        .correlation_id = ++s_correlation, .subscriptions = &subscription, .num_subscriptions = 1};
    enum MvStatus status = mvMqttRequestSubscribe(s_channel, &request);
    bool ok = status == MV_STATUS_OKAY && wait_for(MV_MQTTREADABLEDATATYPE_SUBSCRIBERESPONSE, WAIT_MS) &&
              codes_ok(true, s_correlation, 1, 1);
    check(ok, "subscribe", "status %u", (unsigned)status);
    if (ok) log_printf("mqtt: subscribed %s", s_in);
    return ok;
}

static void publish(const char *text)
{
    struct MvMqttPublishRequest request = {
        .correlation_id = ++s_correlation, .topic = {(const uint8_t *)s_out, length_of(s_out)},
        .payload = {(const uint8_t *)text, length_of(text)}, .desired_qos = 1, .retain = 0};
    enum MvStatus status = mvMqttRequestPublish(s_channel, &request);
    struct MvMqttPublishResponse response = {0};
    if (status == MV_STATUS_OKAY && wait_for(MV_MQTTREADABLEDATATYPE_PUBLISHRESPONSE, WAIT_MS)) {
        status = mvMqttReadPublishResponse(s_channel, &response);
    } else if (status == MV_STATUS_OKAY) {
        status = MV_STATUS_RESPONSENOTPRESENT;
    }
    /* MQTT 5 reason codes below 0x80 are successes (0x10: no subscriber matched). */
    check(status == MV_STATUS_OKAY && response.request_state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED &&
              response.correlation_id == s_correlation && response.reason_code < 0x80,
          "publish", "status %u state %u reason %u", (unsigned)status, (unsigned)response.request_state,
          (unsigned)response.reason_code);
    log_printf("mqtt: published %s to %s", text, s_out);
}

static void finish(void)
{
    struct MvSizedString topic = {(const uint8_t *)s_in, length_of(s_in)};
    struct MvMqttUnsubscribeRequest unsubscribe = {
        .correlation_id = ++s_correlation, .topics = &topic, .num_topics = 1};
    enum MvStatus status = mvMqttRequestUnsubscribe(s_channel, &unsubscribe);
    check(status == MV_STATUS_OKAY && wait_for(MV_MQTTREADABLEDATATYPE_UNSUBSCRIBERESPONSE, WAIT_MS) &&
              codes_ok(false, s_correlation, 1, 0x11),
          "unsubscribe", "status %u", (unsigned)status);

    status = mvMqttRequestDisconnect(s_channel);
    struct MvMqttDisconnectResponse response = {MV_MQTTREQUESTSTATE__MAX, 0};
    if (status == MV_STATUS_OKAY && wait_for(MV_MQTTREADABLEDATATYPE_DISCONNECTRESPONSE, WAIT_MS)) {
        status = mvMqttReadDisconnectResponse(s_channel, &response);
    }
    check(status == MV_STATUS_OKAY && response.request_state == MV_MQTTREQUESTSTATE_REQUESTCOMPLETED,
          "disconnect", "status %u state %u", (unsigned)status, (unsigned)response.request_state);
    enum MvMqttReadableDataType next = MV_MQTTREADABLEDATATYPE__MAX;
    status = mvMqttGetNextReadableDataType(s_channel, &next);
    check(status == MV_STATUS_OKAY && next == MV_MQTTREADABLEDATATYPE_NONE, "nothing left", "status %u next %u",
          (unsigned)status, (unsigned)next);
}

int main(void)
{
    log_init();
    enum MvStatus status = net_start(60000);
    check(status == MV_STATUS_OKAY, "network", "status %u", (unsigned)status);
    status = mvGetDeviceId((uint8_t *)s_sid, SID_LENGTH);
    check(status == MV_STATUS_OKAY, "device id", "status %u", (unsigned)status);
    topic_of(s_in, s_sid, "/in");
    topic_of(s_out, s_sid, "/out");

    if (fetch_config()) {
        status = net_open_channel(MV_CHANNELTYPE_MQTT, NULL, MQTT_TAG, s_rx, sizeof s_rx, s_tx, sizeof s_tx,
                                  &s_channel);
        check(status == MV_STATUS_OKAY, "open", "status %u", (unsigned)status);
        enum MvMqttReadableDataType next = MV_MQTTREADABLEDATATYPE__MAX;
        check(mvMqttGetNextReadableDataType(s_channel, &next) == MV_STATUS_OKAY &&
                  next == MV_MQTTREADABLEDATATYPE_NONE,
              "empty", "next %u", (unsigned)next);
        if (status == MV_STATUS_OKAY && connect() && subscribe()) {
            publish("hello");
            bool bye = wait_for(MV_MQTTREADABLEDATATYPE_NONE, RUN_MS);
            check(bye, "bye", "no \"bye\" within %u ms", (unsigned)RUN_MS);
            finish();
        }
        status = mvCloseChannel(&s_channel);
        check(status == MV_STATUS_OKAY && s_channel == 0, "close", "status %u", (unsigned)status);
    }
    log_printf("mqtt: DONE pass=%u fail=%u", (unsigned)checks_passed(), (unsigned)checks_failed());
    for (;;) {
        __asm volatile("wfi");
    }
}
