/*
 * mqtt_bench - MQTT messages both ways through an MQTT channel, for bench/channels.py.
 *
 * The account config "bench-mqtt" holds "<count> <quiet ms> <port> <host>": the broker the service
 * connects the channel to (no TLS, no authentication, MQTT 5, clean start). The application subscribes
 * to mvbench/down (QoS 1) and then writes, on USART2 (bench_io.h):
 *   "mqtt-bench: ready"      connected and subscribed; then <quiet ms> with nothing sent
 *   "mqtt-bench: up-go"      it publishes <count> messages to mvbench/up, QoS 1, payload 32 bytes
 *                            (the message's number in 8 digits, then filler), keeping as many
 *                            requests in flight as the microvisor allows (a RATELIMITED publish waits
 *                            for a response to be read)
 *   "mqtt-bench: up-done"    every publish answered REQUESTCOMPLETED (the broker's PUBACK); then
 *                            <quiet ms> more
 *   "mqtt-bench: down-ready" from here the host publishes <count> messages to mvbench/down; each is
 *                            taken with mvMqttReceiveMessage and acknowledged
 *   "R <taken>"              after every 50 taken (not after the last)
 *   "mqtt-bench: down-done <taken> <lost> <bytes> <quiet>"
 *                            <count> messages taken or reported lost (MESSAGELOST), or (<quiet> 1)
 *                            nothing more for 3 s; <bytes>: topic and payload bytes of those taken;
 *                            then <quiet ms> more
 *   "mqtt-bench: done"
 * or "mqtt-bench: FAIL <what> <code>" and nothing more. SysTick runs at 1 kHz throughout (io_ticks),
 * so the polling loops never sleep past a notification.
 */
#include <stdint.h>

#include "bench_io.h"
#include "net.h"

#define NAME      "mqtt-bench"
#define MQTT_TAG  0x4D510000u
#define PAYLOAD   32u
#define SETTLE_MS 200u
#define ITEM_TIMEOUT_MS 30000u  /* a response that does not come within this ends the run */
#define QUIET_END_MS    3000u   /* receiving ends when nothing more comes for this long */
#define PROGRESS        50u     /* an "R <taken>" line every this many messages taken */

static uint8_t s_rx[8192] __attribute__((aligned(512)));
static uint8_t s_tx[4096] __attribute__((aligned(512)));
static char s_config[320];
static MvChannelHandle s_channel;
static uint8_t s_topic[64];
static uint8_t s_payload[256];

static const char UP_TOPIC[] = "mvbench/up";
static const char DOWN_TOPIC[] = "mvbench/down";

static enum MvMqttReadableDataType next_item(void)
{
    enum MvMqttReadableDataType type = MV_MQTTREADABLEDATATYPE_NONE;
    enum MvStatus status = mvMqttGetNextReadableDataType(s_channel, &type);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "next", status);
    return type;
}

/* Wait (WFI) until the queue's head is an item, at most timeout_ms of SysTick; its type (NONE: none came). */
static enum MvMqttReadableDataType wait_item_for(uint32_t timeout_ms)
{
    uint32_t since = io_ms();
    enum MvMqttReadableDataType type;
    while ((type = next_item()) == MV_MQTTREADABLEDATATYPE_NONE && io_ms() - since < timeout_ms) {
        __asm volatile("wfi");
    }
    return type;
}

static enum MvMqttReadableDataType wait_item(void)
{
    enum MvMqttReadableDataType type = wait_item_for(ITEM_TIMEOUT_MS);
    if (type == MV_MQTTREADABLEDATATYPE_NONE) io_fail(NAME, "nothing to read for ms", ITEM_TIMEOUT_MS);
    return type;
}

static void mqtt_connect(const char *host, uint32_t port)
{
    static const char client_id[] = "mvbench-device";
    const struct MvMqttConnectRequest request = {
        .protocol_version = MV_MQTTPROTOCOLVERSION_V5,
        .host = {(const uint8_t *)host, io_length(host)}, .port = (uint16_t)port,
        .clientid = {(const uint8_t *)client_id, sizeof client_id - 1u},
        .authentication = {.method = MV_MQTTAUTHENTICATIONMETHOD_NONE},
        .tls_credentials = 0, .keepalive = 60, .clean_start = 1, .will = 0};
    enum MvStatus status = mvMqttRequestConnect(s_channel, &request);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "connect", status);
    enum MvMqttReadableDataType type = wait_item();
    if (type != MV_MQTTREADABLEDATATYPE_CONNECTRESPONSE) io_fail(NAME, "connect item", type);
    struct MvMqttConnectResponse response = {0};
    status = mvMqttReadConnectResponse(s_channel, &response);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "connect read", status);
    if (response.request_state != MV_MQTTREQUESTSTATE_REQUESTCOMPLETED || response.reason_code != 0) {
        io_fail(NAME, "connect state", response.request_state * 1000u + response.reason_code);
    }
}

static void subscribe(void)
{
    const struct MvMqttSubscription subscription = {
        .topic = {(const uint8_t *)DOWN_TOPIC, sizeof DOWN_TOPIC - 1u}, .desired_qos = 1};
    const struct MvMqttSubscribeRequest request = {
        .correlation_id = 1, .subscriptions = &subscription, .num_subscriptions = 1};
    enum MvStatus status = mvMqttRequestSubscribe(s_channel, &request);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "subscribe", status);
    enum MvMqttReadableDataType type = wait_item();
    if (type != MV_MQTTREADABLEDATATYPE_SUBSCRIBERESPONSE) io_fail(NAME, "subscribe item", type);
    enum MvMqttRequestState state = MV_MQTTREQUESTSTATE_SOCKETERROR;
    uint32_t id = 0, reasons[1] = {0xFFu}, count = 0;
    const struct MvMqttSubscribeResponse response = {
        .request_state = &state, .correlation_id = &id, .reason_codes = reasons,
        .reason_codes_size = sizeof reasons, .reason_codes_len = &count};
    status = mvMqttReadSubscribeResponse(s_channel, &response);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "subscribe read", status);
    if (state != MV_MQTTREQUESTSTATE_REQUESTCOMPLETED || count != 1 || reasons[0] != 1u) {
        io_fail(NAME, "subscribe state (1000 x state + reason; reason 1: QoS 1 granted)",
                state * 1000u + reasons[0]);
    }
}

/* Read one publish response off the queue's head. */
static void publish_response(void)
{
    struct MvMqttPublishResponse response = {0};
    enum MvStatus status = mvMqttReadPublishResponse(s_channel, &response);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "publish read", status);
    if (response.request_state != MV_MQTTREQUESTSTATE_REQUESTCOMPLETED || response.reason_code > 16u) {
        io_fail(NAME, "publish state", response.request_state * 1000u + response.reason_code);
    }
}

static void publish_all(uint32_t count)
{
    static uint8_t payload[PAYLOAD];
    uint32_t sent = 0, answered = 0;
    while (answered < count) {
        while (sent < count) {
            uint32_t n = sent;
            for (int i = 7; i >= 0; i--) {
                payload[i] = (uint8_t)('0' + n % 10u);
                n /= 10u;
            }
            for (uint32_t i = 8; i < PAYLOAD; i++) payload[i] = (uint8_t)('a' + i % 26u);
            const struct MvMqttPublishRequest request = {
                .correlation_id = sent, .topic = {(const uint8_t *)UP_TOPIC, sizeof UP_TOPIC - 1u},
                .payload = {payload, PAYLOAD}, .desired_qos = 1, .retain = 0};
            enum MvStatus status = mvMqttRequestPublish(s_channel, &request);
            if (status == MV_STATUS_RATELIMITED) break;  /* as many in flight as allowed */
            if (status != MV_STATUS_OKAY) io_fail(NAME, "publish", status);
            sent++;
        }
        enum MvMqttReadableDataType type = wait_item();
        if (type != MV_MQTTREADABLEDATATYPE_PUBLISHRESPONSE) io_fail(NAME, "publish item", type);
        publish_response();
        answered++;
    }
}

/* Take messages until <count> were taken or reported lost, or nothing came for QUIET_END_MS; then
   "down-done <taken> <lost> <bytes taken> <ended by quiet: 0|1>". */
static void receive_all(uint32_t count)
{
    uint32_t taken = 0, lost = 0, bytes = 0;
    while (taken + lost < count) {
        enum MvMqttReadableDataType type = wait_item_for(QUIET_END_MS);
        if (type == MV_MQTTREADABLEDATATYPE_NONE) break;
        if (type == MV_MQTTREADABLEDATATYPE_MESSAGELOST) {
            enum MvMqttLostMessageReason reason = MV_MQTTLOSTMESSAGEREASON_DEVICERECEIVEBUFFERTOOSMALL;
            uint32_t topic_length = 0, length = 0;
            const struct MvMqttLostMessageInfo info = {
                .reason = &reason, .topic = {s_topic, sizeof s_topic, &topic_length}, .message_len = &length};
            enum MvStatus status = mvMqttReceiveLostMessageInfo(s_channel, &info);
            if (status != MV_STATUS_OKAY) io_fail(NAME, "lost read", status);
            lost++;
            continue;
        }
        if (type != MV_MQTTREADABLEDATATYPE_MESSAGERECEIVED) io_fail(NAME, "message item", type);
        uint32_t id = 0, qos = 0, topic_length = 0, payload_length = 0;
        uint8_t retain = 0;
        const struct MvMqttMessage message = {
            .correlation_id = &id, .topic = {s_topic, sizeof s_topic, &topic_length},
            .payload = {s_payload, sizeof s_payload, &payload_length}, .qos = &qos, .retain = &retain};
        enum MvStatus status = mvMqttReceiveMessage(s_channel, &message);
        if (status != MV_STATUS_OKAY) io_fail(NAME, "receive", status);
        if (payload_length != PAYLOAD) io_fail(NAME, "payload length", payload_length);
        if (qos > 0u) {
            status = mvMqttAcknowledgeMessage(s_channel, id);
            if (status != MV_STATUS_OKAY) io_fail(NAME, "acknowledge", status);
        }
        bytes += topic_length + payload_length;
        taken++;
        if (taken % PROGRESS == 0u && taken < count) io_printf("R %u", (unsigned)taken);
    }
    io_printf(NAME ": down-done %u %u %u %u", (unsigned)taken, (unsigned)lost, (unsigned)bytes,
              taken + lost < count ? 1u : 0u);
}

int main(void)
{
    io_init();
    enum MvStatus status = net_start(60000);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "network", status);
    if (io_config("bench-mqtt", s_config, sizeof s_config) < 0) io_fail(NAME, "config", 0);
    const char *at = s_config;
    uint32_t count = io_number(&at);
    uint32_t quiet_ms = io_number(&at);
    uint32_t port = io_number(&at);
    const char *host = at;
    if (count == 0 || port == 0 || port > 65535u || *host == '\0') io_fail(NAME, "config value", count);

    io_ticks(1);
    status = net_open_channel(MV_CHANNELTYPE_MQTT, 0, MQTT_TAG, s_rx, sizeof s_rx, s_tx, sizeof s_tx,
                              &s_channel);
    if (status != MV_STATUS_OKAY) io_fail(NAME, "open", status);
    mqtt_connect(host, port);
    subscribe();
    io_sleep_ms(SETTLE_MS);
    io_printf(NAME ": ready");
    io_sleep_ms(quiet_ms);

    io_printf(NAME ": up-go");
    publish_all(count);
    io_printf(NAME ": up-done");
    io_sleep_ms(quiet_ms);

    io_printf(NAME ": down-ready");
    receive_all(count);
    io_sleep_ms(quiet_ms);
    io_printf(NAME ": done");
    io_park();
}
