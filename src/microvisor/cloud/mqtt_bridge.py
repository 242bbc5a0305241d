"""An MQTT channel's session with the customer's broker: paho on a thread of its own, bridged to the relay.

The relay (cloud/channel_relay.py) makes one MqttBridge per MQTT channel and hands it the device's
requests (kernel/mqtt_channel.py documents their fields and the answers) on the link worker's thread,
which must never wait: `request`, `credit` and `close` only queue and wake the bridge's thread. That
thread runs everything else: it resolves the broker's host (cloud/destinations.py: the account's
allow-list, private addresses only with --allow-private-destinations) and connects to that very address,
naming the host for TLS (SNI and the certificate check); it trusts the system's CAs, the server's
--channel-ca and the CAs the application gives, and presents the application's client certificate and
key (PEM or DER). Then it drives paho's network I/O itself (paho's external-loop calls, with a wake-up
socket beside the broker's), so paho and the bridge's state share one thread and no locks.

Answers: a connect that cannot be made is NXDOMAIN (the host does not resolve), UNKNOWNCA (the broker's
certificate does not chain to a trusted CA, or names another host), CERTIFICATEEXPIRED, SOCKETERROR (a
refused destination, TCP, TLS, or no CONNACK within CONNACK_TIMEOUT_S) or INVALIDPARAMETERS (what MQTT or
the TLS library refuses); a broker's CONNACK is REQUESTCOMPLETED with its reason code (the MQTT 3.1.1
return code with 3.1.1). SUBACK and UNSUBACK codes are reported as they came (3.1.1's UNSUBACK has
none: 0 per topic); a publish's reason code is PUBACK's with MQTT 5, else 0. A broker that ends an
established session closes the channel (CHANNELCLOSEDBYSERVER).

Messages from the broker go down in order, each taking its topic's and payload's bytes from the device's
window; while the window is short they wait here, and from MAX_WAITING // 2 waiting on the broker's socket
is not read until the device has taken some (backpressure through TCP). A message larger than the whole
window, one arriving when MAX_WAITING wait already, or one with a topic over MAX_TOPIC bytes, goes down
as "lost" (topic and length) instead, in its place among the others (at most MAX_WAITING such notices
wait; more are dropped). Answers to requests never wait: they take none of the window. QoS 1 messages
are acknowledged to the broker (paho's manual acks) when the device acknowledges them, or at once when
lost; MQTT 5 sessions announce a receive maximum of MAX_UNACKED (Mosquitto 2.0.11 was seen to send past
it once acknowledgements flow: the backpressure above, not the receive maximum, bounds what waits).
"""

from __future__ import annotations

import logging
import ssl
import tempfile
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from ..common import channel_link as wire
from ..common.link import LinkMessageError
from ..common.mqtt_loop import Waker, turn
from .channel_relay import ChannelRelay, RelayChannel
from .destinations import ALLOW_KEY, DestinationRefused, Destinations, Unresolvable

log = logging.getLogger(__name__)

MAX_INBOX = 256  # requests and credits queued for the bridge's thread
MAX_PENDING = 32  # subscribe/unsubscribe/publish requests sent to the broker and not yet answered
MAX_WAITING = 64  # broker messages waiting for the device's window
MAX_UNACKED = 32  # QoS 1 messages sent to the device and not yet acknowledged by it
MAX_TOPIC = 1024  # bytes of a topic (device and broker alike)
MAX_LOST_TOPIC = 256  # characters of a lost message's topic sent down
MAX_CREDENTIAL = 16 * 1024  # bytes of a certificate or key
MAX_PAYLOAD = 48 * 1024  # bytes of a publish or will payload
CONNECT_TIMEOUT_S = 10.0  # TCP and TLS
CONNACK_TIMEOUT_S = 30.0
TICK_S = 1.0  # the longest the thread sleeps (paho's keepalive is checked at least this often)
_CERT_EXPIRED = 10  # OpenSSL's X509_V_ERR_CERT_HAS_EXPIRED
_V3_RETURN_CODES = {"Success": 0, "Unsupported protocol version": 1, "Client identifier not valid": 2,
                    "Server unavailable": 3, "Bad user name or password": 4, "Not authorized": 5}


class _NamedContext(ssl.SSLContext):
    """A client context that names `server_name` (SNI, certificate check), whatever host paho names:
    paho is given the address the service resolved, the certificate must still be the host's."""

    server_name = ""

    def wrap_socket(self, sock, *args, **kwargs):  # type: ignore[override]
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(sock, *args, **kwargs)


@dataclass
class _Connect:
    """A checked connect request."""

    v5: bool
    host: str
    port: int
    client_id: str
    username: str | None
    password: bytes | None
    tls: bool
    ca: list[bytes]
    chain: list[bytes]
    key: bytes
    keepalive: int
    clean_start: bool
    will: dict[str, Any] | None

    @classmethod
    def parse(cls, message: dict[str, Any]) -> _Connect:
        version = message.get("version")
        if version not in ("3.1.1", "5"):
            raise LinkMessageError(f"MQTT version {version!r} is unknown")
        username = message.get("username")
        password = message.get("password")
        will = message.get("will")
        if will is not None:
            if not isinstance(will, dict):
                raise LinkMessageError("a will is not an object")
            will = {"topic": _topic(will), "payload": wire.decode_bytes(will, "payload", MAX_PAYLOAD),
                    "qos": wire.number(will, "qos", 0, 1), "retain": will.get("retain") is True}
        return cls(v5=version == "5", host=wire.text(message, "host", 253),
                   port=wire.number(message, "port", 1, 65535),
                   client_id=wire.text(message, "client_id", 256),
                   username=None if username is None else wire.text(message, "username", 256),
                   password=None if password is None else wire.decode_bytes(message, "password", 1024),
                   tls=message.get("tls") is True, ca=_blobs(message, "ca"), chain=_blobs(message, "cert"),
                   key=wire.decode_bytes(message, "key", MAX_CREDENTIAL),
                   keepalive=wire.number(message, "keepalive", 0, 65535),
                   clean_start=message.get("clean_start") is True, will=will)


class MqttBridge:
    """One MQTT channel's session: the Bridge of cloud/channel_relay.py."""

    def __init__(self, channel: RelayChannel, relay: ChannelRelay, destinations: Destinations,
                 channel_ca: str | None):
        self.channel = channel
        self.relay = relay
        self.destinations = destinations
        self.channel_ca = channel_ca
        self._whole = channel.window  # the device's receive window when nothing is in it
        self._lock = threading.Lock()  # guards only the inbox
        self._inbox: deque[tuple[str, dict[str, Any]]] = deque()
        self._stopping = False
        self._waker = Waker()
        # The session (the bridge's thread only):
        self._client: mqtt.Client | None = None
        self._v5 = False
        # idle, connecting (CONNECT sent), refused (the CONNACK said no), connected, disconnecting
        self._phase = "idle"
        self._connack_by = 0.0
        self._ended: Any = None  # the reason paho gave when the connection ended, while unhandled
        self._pending: dict[int, tuple[str, int, int]] = {}  # paho mid -> (request, id, topic count)
        self._waiting: deque[tuple[dict[str, Any], int]] = deque()  # for the window, in order, with sizes
        self._waiting_messages = 0  # of them, messages (the others are lost notices, of size 0)
        self._unacked: OrderedDict[int, tuple[int, int]] = OrderedDict()  # id -> (paho mid, QoS)
        self._next_id = 1
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"mqtt-bridge-{channel.sid[-8:]}-{channel.number}")
        self._thread.start()

    # --- the Bridge protocol (the link worker's thread) ---------------------------------------
    def request(self, message: dict[str, Any]) -> None:
        kind = message.get("request")
        if kind not in ("connect", "subscribe", "unsubscribe", "publish", "ack", "disconnect"):
            raise LinkMessageError(f"an MQTT request {kind!r} is unknown")
        self._post(kind, message)

    def credit(self) -> None:
        self._post("credit", {})

    def close(self) -> None:
        self._stopping = True
        self._wake()

    def _post(self, kind: str, message: dict[str, Any]) -> None:
        with self._lock:
            if len(self._inbox) >= MAX_INBOX:
                raise LinkMessageError(f"MQTT channel {self.channel.number} has {MAX_INBOX} requests waiting")
            self._inbox.append((kind, message))
        self._wake()

    def _wake(self) -> None:
        self._waker.wake()

    # --- the bridge's thread ------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stopping:
                self._turn()
        except Exception:  # a bridge must not die silently: the device is told its channel broke
            log.exception("MQTT channel %d of %s failed", self.channel.number, self.channel.sid)
            self._stopping = True
            self.relay.close_channel(self.channel, "reset")
        finally:
            self._drop_client()
            self._waker.close()
            log.info("device %s: MQTT channel %d's bridge stopped", self.channel.sid, self.channel.number)

    def _turn(self) -> None:
        """Do what the device asked, then wait for the broker's socket or a wake-up and let paho work.

        While MAX_WAITING // 2 messages wait for the device's window the broker's socket is not read:
        its messages stay with TCP and the broker (backpressure), rather than being lost here. Seen on
        Mosquitto 2.0.11: once acknowledgements flow it sends past the Receive Maximum announced.
        """
        for kind, message in self._take_inbox():
            if self._stopping:
                return
            self._handle(kind, message)
        client = self._client
        turn(client, self._waker, TICK_S, read=self._waiting_messages < MAX_WAITING // 2)
        if client is not None and client is self._client:
            self._check_session()
        self._flush()

    def _take_inbox(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            items, self._inbox = list(self._inbox), deque()
        return items

    def _handle(self, kind: str, message: dict[str, Any]) -> None:
        try:
            if kind == "connect":
                self._connect(message)
            elif kind == "subscribe":
                self._subscribe(message)
            elif kind == "unsubscribe":
                self._unsubscribe(message)
            elif kind == "publish":
                self._publish(message)
            elif kind == "ack":
                self._ack(message)
            elif kind == "disconnect":
                self._disconnect()
        except LinkMessageError as exc:
            log.warning("MQTT channel %d of %s: a malformed %s request: %s", self.channel.number,
                        self.channel.sid, kind, exc)
            self._answer_invalid(kind, message)

    def _answer_invalid(self, kind: str, message: dict[str, Any]) -> None:
        correlation = message.get("id")
        correlation = correlation if type(correlation) is int and 0 <= correlation < 2**32 else 0
        if kind == "connect":
            self._respond("connect", state="INVALIDPARAMETERS", reason=0)
        elif kind in ("subscribe", "unsubscribe"):
            self._respond(kind, state="INVALIDPARAMETERS", id=correlation, reasons=[])
        elif kind == "publish":
            self._respond(kind, state="INVALIDPARAMETERS", id=correlation, reason=0)

    def _respond(self, kind: str, **fields: Any) -> None:
        self.relay.send(self.channel, {"op": "mqtt", "response": kind, **fields}, 0)

    # --- connect ------------------------------------------------------------------------------
    def _connect(self, message: dict[str, Any]) -> None:
        if self._client is not None:
            self._respond("connect", state="ALREADYCONNECTED", reason=0)
            return
        request = _Connect.parse(message)
        sid = self.channel.sid
        try:
            address = self.destinations.address(request.host, request.port,
                                                self.relay.gateway.account_config(sid, ALLOW_KEY))
        except DestinationRefused as exc:
            unresolved = isinstance(exc, Unresolvable)
            log.info("device %s: MQTT broker %s:%d refused: %s", sid, request.host, request.port, exc)
            self._respond("connect", state="NXDOMAIN" if unresolved else "SOCKETERROR", reason=0)
            return
        try:
            client = self._make_client(request)
        except (ValueError, ssl.SSLError, OSError, UnsupportedAlgorithm) as exc:  # credentials unusable
            log.info("device %s: MQTT connect to %s refused: %s", sid, request.host, exc)
            self._respond("connect", state="INVALIDPARAMETERS", reason=0)
            return
        options: dict[str, Any] = {}
        if request.v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.ReceiveMaximum = MAX_UNACKED
            options = {"clean_start": request.clean_start, "properties": properties}
        try:
            client.connect(address, request.port, keepalive=request.keepalive, **options)
        except ssl.SSLCertVerificationError as exc:
            expired = exc.verify_code == _CERT_EXPIRED
            log.info("device %s: MQTT broker %s's certificate refused: %s", sid, request.host, exc)
            self._respond("connect", state="CERTIFICATEEXPIRED" if expired else "UNKNOWNCA", reason=0)
            return
        except (OSError, ValueError) as exc:  # TCP, TLS (ssl.SSLError is an OSError), timeouts
            log.info("device %s: MQTT broker %s:%d unreachable: %s", sid, request.host, request.port, exc)
            self._respond("connect", state="SOCKETERROR", reason=0)
            return
        self._client, self._v5, self._ended = client, request.v5, None
        self._phase, self._connack_by = "connecting", time.monotonic() + CONNACK_TIMEOUT_S
        log.info("device %s: MQTT channel %d connecting to %s:%d (%s, MQTT %s)", sid, self.channel.number,
                 request.host, request.port, address, "5" if request.v5 else "3.1.1")

    def _make_client(self, request: _Connect) -> mqtt.Client:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=request.client_id,
                             clean_session=None if request.v5 else request.clean_start,
                             protocol=mqtt.MQTTv5 if request.v5 else mqtt.MQTTv311,
                             manual_ack=True, reconnect_on_failure=False)
        client.connect_timeout = CONNECT_TIMEOUT_S
        client.max_queued_messages_set(MAX_PENDING)
        if request.username is not None:
            client.username_pw_set(request.username, request.password)
        if request.will is not None:
            will = request.will
            client.will_set(will["topic"], will["payload"], will["qos"], will["retain"])
        if request.tls:
            client.tls_set_context(self._tls_context(request))
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_unsubscribe = self._on_unsubscribe
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_socket_register_write = _nothing  # writes happen on this thread's turn, not inside calls
        return client

    def _tls_context(self, request: _Connect) -> ssl.SSLContext:
        context = _NamedContext(ssl.PROTOCOL_TLS_CLIENT)
        context.server_name = request.host
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_default_certs()
        if self.channel_ca:
            context.load_verify_locations(cafile=self.channel_ca)
        for ca in request.ca:
            context.load_verify_locations(cadata=ca.decode("ascii") if _is_pem(ca) else ca)
        if request.chain:
            chain = "".join(c.decode("ascii") if _is_pem(c) else ssl.DER_cert_to_PEM_cert(c)
                            for c in request.chain)
            key = request.key
            if not _is_pem(key):
                pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
                key = serialization.load_der_private_key(key, None).private_bytes(
                    pem, pkcs8, serialization.NoEncryption())
            with tempfile.TemporaryDirectory(prefix="mv-mqtt-") as folder:  # ssl loads keys from files only
                cert_file, key_file = Path(folder) / "chain.pem", Path(folder) / "key.pem"
                cert_file.write_text(chain)
                key_file.touch(mode=0o600)
                key_file.write_bytes(key)
                context.load_cert_chain(cert_file, key_file)
        return context

    # --- requests once connected ----------------------------------------------------------------
    def _connected(self, kind: str, correlation: int) -> mqtt.Client | None:
        """The client when the session is up and has room for one more request; otherwise answered."""
        if self._phase != "connected" or self._client is None:
            fields: dict[str, Any] = {"reason": 0} if kind == "publish" else {"reasons": []}
            self._respond(kind, state="NOTCONNECTED", id=correlation, **fields)
            return None
        if len(self._pending) >= MAX_PENDING:
            raise LinkMessageError(f"more than {MAX_PENDING} requests in flight")
        return self._client

    def _subscribe(self, message: dict[str, Any]) -> None:
        correlation = wire.number(message, "id")
        topics = message.get("topics")
        if not isinstance(topics, list) or not 0 < len(topics) <= wire.MAX_MQTT_ELEMENTS or \
                not all(isinstance(t, dict) for t in topics):
            raise LinkMessageError("a subscribe request's topics are malformed")
        wanted = [(_topic(t), wire.number(t, "qos", 0, 1), t.get("nl") is True, t.get("rap") is True,
                   wire.number(t, "rh", 0, 2)) for t in topics]
        client = self._connected("subscribe", correlation)
        if client is None:
            return
        if self._v5:
            result, mid = client.subscribe([
                (topic, SubscribeOptions(qos=qos, noLocal=nl, retainAsPublished=rap, retainHandling=rh))
                for topic, qos, nl, rap, rh in wanted])
        else:
            result, mid = client.subscribe([(topic, qos) for topic, qos, *_ in wanted])
        self._sent("subscribe", correlation, len(wanted), result, mid)

    def _unsubscribe(self, message: dict[str, Any]) -> None:
        correlation = wire.number(message, "id")
        topics = wire.strings(message, "topics", wire.MAX_MQTT_ELEMENTS, MAX_TOPIC)
        if not topics or not all(topics):
            raise LinkMessageError("an unsubscribe request names no topic")
        client = self._connected("unsubscribe", correlation)
        if client is None:
            return
        result, mid = client.unsubscribe(topics)
        self._sent("unsubscribe", correlation, len(topics), result, mid)

    def _publish(self, message: dict[str, Any]) -> None:
        correlation = wire.number(message, "id")
        topic = _topic(message)
        if "+" in topic or "#" in topic:
            raise LinkMessageError("a publish topic has a wildcard")
        payload = wire.decode_bytes(message, "payload", MAX_PAYLOAD)
        qos = wire.number(message, "qos", 0, 1)
        client = self._connected("publish", correlation)
        if client is None:
            return
        info = client.publish(topic, payload, qos, message.get("retain") is True)
        self._sent("publish", correlation, 1, info.rc, info.mid)

    def _sent(self, kind: str, correlation: int, count: int, result: MQTTErrorCode, mid: int | None) -> None:
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS or mid is None:
            fields: dict[str, Any] = {"reason": 0} if kind == "publish" else {"reasons": []}
            self._respond(kind, state="NOTCONNECTED", id=correlation, **fields)
            return
        self._pending[mid] = (kind, correlation, count)

    def _ack(self, message: dict[str, Any]) -> None:
        found = self._unacked.pop(wire.number(message, "id"), None)
        if found is not None and self._client is not None:
            self._client.ack(*found)

    def _disconnect(self) -> None:
        if self._phase != "connected" or self._client is None:
            self._respond("disconnect", state="NOTCONNECTED", reason=0)
            return
        self._phase = "disconnecting"
        self._client.disconnect()

    # --- paho's callbacks (this thread, inside loop_read/loop_write/loop_misc) -------------------
    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if client is not self._client or self._phase != "connecting":
            return
        code = reason.value if self._v5 else _V3_RETURN_CODES.get(reason.getName(), reason.value)
        self._respond("connect", state="REQUESTCOMPLETED", reason=code)
        if reason.is_failure:  # the session is dropped after paho's turn (_check_session), not inside it
            log.info("MQTT channel %d of %s: the broker refused the connection (%s)", self.channel.number,
                     self.channel.sid, reason)
            self._phase = "refused"
            return
        self._phase = "connected"

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       properties: Any) -> None:
        if client is self._client:
            self._ended = reason

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list,
                      properties: Any) -> None:
        found = self._pending.pop(mid, None)
        if found is not None:
            self._respond("subscribe", state="REQUESTCOMPLETED", id=found[1],
                          reasons=[r.value for r in reasons])

    def _on_unsubscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: list,
                        properties: Any) -> None:
        found = self._pending.pop(mid, None)
        if found is not None:
            codes = [r.value for r in reasons] if self._v5 else [0] * found[2]
            self._respond("unsubscribe", state="REQUESTCOMPLETED", id=found[1], reasons=codes)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, properties: Any) -> None:
        found = self._pending.pop(mid, None)
        if found is not None:
            code = reason.value if self._v5 and reason is not None else 0
            self._respond("publish", state="REQUESTCOMPLETED", id=found[1], reason=code)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        try:
            topic = message.topic
        except UnicodeDecodeError:  # a broker passing on a topic that is not UTF-8: nothing to deliver
            topic = ""
        payload = bytes(message.payload)
        size = len(topic.encode()) + len(payload)
        fits = 0 < len(topic.encode()) <= MAX_TOPIC and size <= self._whole
        if not fits or self._waiting_messages >= MAX_WAITING:
            self._lost(topic, size)
            if message.qos:
                client.ack(message.mid, message.qos)
            return
        correlation = self._next_id
        self._next_id = self._next_id % 0xFFFF_FFFF + 1
        if message.qos:
            self._unacked[correlation] = (message.mid, message.qos)
            while len(self._unacked) > MAX_UNACKED:  # the broker ignored the receive maximum
                _, (mid, qos) = self._unacked.popitem(last=False)
                client.ack(mid, qos)
        self._waiting.append(({"op": "mqtt", "response": "message", "id": correlation, "topic": topic,
                               "payload": wire.encode_bytes(payload), "qos": message.qos,
                               "retain": bool(message.retain)}, size))
        self._waiting_messages += 1
        self._flush()

    def _lost(self, topic: str, size: int) -> None:
        """Tell the device of a message it cannot have, in its place among the others."""
        log.info("MQTT channel %d of %s: a message of %d bytes on %r lost (the device's window is %d)",
                 self.channel.number, self.channel.sid, size, topic[:80], self._whole)
        if len(self._waiting) - self._waiting_messages >= MAX_WAITING:
            return  # MAX_WAITING notices wait already behind a message the window has no room for
        self._waiting.append(({"op": "mqtt", "response": "lost", "topic": topic[:MAX_LOST_TOPIC],
                               "length": size}, 0))
        self._flush()

    # --- flow and session ---------------------------------------------------------------------
    def _flush(self) -> None:
        """Send waiting messages while the device's window has room for them, in order."""
        while self._waiting and self.relay.send(self.channel, *self._waiting[0]):
            if self._waiting.popleft()[1]:
                self._waiting_messages -= 1

    def _check_session(self) -> None:
        """What follows the end of the broker's connection, or a CONNACK that does not come."""
        if self._phase == "refused":  # answered already
            self._drop_client()
            return
        if self._phase == "connecting" and self._ended is None and time.monotonic() > self._connack_by:
            self._respond("connect", state="SOCKETERROR", reason=0)
            self._drop_client()
            return
        if self._ended is None:
            return
        reason, phase = self._ended, self._phase
        self._drop_client()
        if phase == "connecting":  # closed before its CONNACK
            self._respond("connect", state="SOCKETERROR", reason=0)
        elif phase == "disconnecting":
            self._respond("disconnect", state="REQUESTCOMPLETED", reason=getattr(reason, "value", 0) & 0xFF)
        elif phase == "connected":
            log.info("MQTT channel %d of %s: the broker ended the session (%s)", self.channel.number,
                     self.channel.sid, reason)
            self._stopping = True
            self.relay.close_channel(self.channel, "server")

    def _drop_client(self) -> None:
        """Forget the session: a DISCONNECT if it can still be said, the socket closed."""
        client, self._client = self._client, None
        self._phase, self._ended = "idle", None
        self._pending.clear()
        self._unacked.clear()
        if client is None:
            return
        client.on_disconnect = None
        try:
            if client.socket() is not None:
                client.disconnect()
                client.loop_write()
        except (OSError, ValueError):
            pass
        sock = client.socket()
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass


def _nothing(*args: Any) -> None:
    """paho's write-wanted hook: nothing to do, the thread's next turn writes."""


def _topic(message: dict[str, Any]) -> str:
    topic = wire.text(message, "topic", MAX_TOPIC)
    if not topic or "\x00" in topic or len(topic.encode()) > MAX_TOPIC:
        raise LinkMessageError("a topic is empty or too long")
    return topic


def _blobs(message: dict[str, Any], field: str) -> list[bytes]:
    items = message.get(field, [])
    if not isinstance(items, list) or len(items) > wire.MAX_MQTT_ELEMENTS:
        raise LinkMessageError(f"an MQTT connect's {field} is not a list of at most {wire.MAX_MQTT_ELEMENTS}")
    return [wire.decode_bytes({"item": item}, "item", MAX_CREDENTIAL) for item in items]


def _is_pem(data: bytes) -> bool:
    return data.lstrip().startswith(b"-----BEGIN")
