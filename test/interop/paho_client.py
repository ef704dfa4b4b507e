"""Interop scenarios for Eclipse Paho MQTT Python (paho-mqtt 1.6.1).

Usage: /usr/bin/python3 paho_client.py PORT WS_PORT VERSION PREFIX
  PORT     the broker's TCP port on 127.0.0.1
  WS_PORT  the broker's WebSocket port on 127.0.0.1 (path /mqtt)
  VERSION  311 or 5
  PREFIX   prefix of topics and client ids, unique per run

Runs each scenario against the broker and prints one JSON object on stdout:
{"scenario": result, ...}; a scenario that fails yields {"error": "..."}.
Every wait has a timeout, so the script always ends.
"""

import json
import socket
import sys
import threading
import time
import traceback

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0

PORT = int(sys.argv[1])
WS_PORT = int(sys.argv[2])
V5 = sys.argv[3] == "5"
PREFIX = sys.argv[4]
PROTOCOL = mqtt.MQTTv5 if V5 else mqtt.MQTTv311


class Conn:
    """A paho client on its own network thread, recording what it receives."""

    def __init__(self, name, clean=True, expiry=None, will=None, websocket=False, keepalive=30):
        self.client_id = f"{PREFIX}-{name}"
        transport = "websockets" if websocket else "tcp"
        if V5:
            self.client = mqtt.Client(self.client_id, protocol=PROTOCOL, transport=transport)
        else:
            self.client = mqtt.Client(
                self.client_id, clean_session=clean, protocol=PROTOCOL, transport=transport
            )
        if websocket:
            self.client.ws_set_options(path="/mqtt")
        self.port = WS_PORT if websocket else PORT
        self.keepalive = keepalive
        self.clean = clean
        self.expiry = expiry
        self.messages = []
        self.cond = threading.Condition()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.session_present = None
        self.reason = None
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        if will is not None:
            self.client.will_set(**will)

    def _on_connect(self, client, userdata, flags, rc, properties=None):
        self.session_present = bool(flags.get("session present"))
        self.reason = int(rc.value) if hasattr(rc, "value") else int(rc)
        self.connected.set()

    def _on_subscribe(self, client, userdata, mid, granted, properties=None):
        self.granted = [int(g.value) if hasattr(g, "value") else int(g) for g in granted]
        self.subscribed.set()

    def _on_message(self, client, userdata, msg):
        with self.cond:
            self.messages.append(msg)
            self.cond.notify_all()

    def connect(self, threaded=True):
        kwargs = {}
        if V5:
            kwargs["clean_start"] = self.clean
            if self.expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.expiry
                kwargs["properties"] = props
        self.client.connect("127.0.0.1", self.port, keepalive=self.keepalive, **kwargs)
        if threaded:
            self.client.loop_start()
            wait(self.connected, f"{self.client_id} CONNACK")
        else:
            deadline = time.monotonic() + TIMEOUT
            while not self.connected.is_set():
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.client_id} CONNACK")
                self.client.loop(0.05)
        if self.reason != 0:
            raise RuntimeError(f"{self.client_id} refused: {self.reason}")
        return self

    def subscribe(self, topic, qos):
        self.subscribed.clear()
        self.client.subscribe(topic, qos)
        wait(self.subscribed, f"{self.client_id} SUBACK")
        return self.granted

    def publish(self, topic, payload, qos=0, retain=False, properties=None):
        info = self.client.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(TIMEOUT)
        if not info.is_published():
            raise TimeoutError(f"{self.client_id} publish to {topic} not acknowledged")

    def receive(self, n):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.messages) >= n, TIMEOUT):
                got = [(m.topic, m.payload.decode()) for m in self.messages]
                raise TimeoutError(f"{self.client_id} expected {n} messages, got {got}")
            return self.messages[:n]

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


def wait(event, what):
    if not event.wait(TIMEOUT):
        raise TimeoutError(f"timed out waiting for {what}")


def brief(msg):
    return [msg.topic, msg.payload.decode(), msg.qos, bool(msg.retain)]


def scenario_qos():
    sub = Conn("qos-sub").connect()
    granted = sub.subscribe(f"{PREFIX}/qos/#", 2)
    pub = Conn("qos-pub").connect()
    for qos in (0, 1, 2):
        pub.publish(f"{PREFIX}/qos/{qos}", f"m{qos}", qos=qos)
    got = [brief(m) for m in sub.receive(3)]
    sub.close()
    pub.close()
    return {"granted": granted, "messages": got}


def scenario_websocket():
    """QoS 0/1/2 round trips with both clients on the WebSocket listener."""
    sub = Conn("ws-sub", websocket=True).connect()
    granted = sub.subscribe(f"{PREFIX}/ws/#", 2)
    pub = Conn("ws-pub", websocket=True).connect()
    for qos in (0, 1, 2):
        pub.publish(f"{PREFIX}/ws/{qos}", f"w{qos}", qos=qos)
    big = bytes(range(256)) * 1000
    pub.publish(f"{PREFIX}/ws/big", big, qos=1)
    # paho hands a QoS 2 message to on_message only once PUBREL arrives, so the QoS 1
    # message published after it may come first: compare by topic, not by arrival.
    got = {m.topic: m for m in sub.receive(4)}
    sub.close()
    pub.close()
    big_msg = got.pop(f"{PREFIX}/ws/big")
    return {
        "granted": granted,
        "messages": sorted(brief(m) for m in got.values()),
        "big_intact": big_msg.payload == big,
    }


def scenario_keepalive_will():
    """A client that goes silent past 1.5 x its keepalive is cut off, and its will published."""
    watcher = Conn("ka-watch").connect()
    watcher.subscribe(f"{PREFIX}/ka", 1)
    will = {"topic": f"{PREFIX}/ka", "payload": "silent", "qos": 1, "retain": False}
    silent = Conn("ka-silent", will=will, keepalive=1).connect(threaded=False)
    started = time.monotonic()
    # No more loop() calls: paho sends no PINGREQ, and the socket stays open.
    (msg,) = watcher.receive(1)
    elapsed = time.monotonic() - started
    watcher.close()
    silent.client.socket().close()
    return {"will": brief(msg), "elapsed_ok": 1.0 <= elapsed <= 5.0, "elapsed": round(elapsed, 2)}


def scenario_retained():
    pub = Conn("ret-pub").connect()
    pub.publish(f"{PREFIX}/ret", "kept", qos=1, retain=True)
    later = Conn("ret-sub").connect()
    later.subscribe(f"{PREFIX}/ret", 1)
    first = [brief(m) for m in later.receive(1)]
    # An empty retained message deletes the retained one.
    pub.publish(f"{PREFIX}/ret", b"", qos=1, retain=True)
    again = Conn("ret-sub2").connect()
    again.subscribe(f"{PREFIX}/ret", 1)
    pub.publish(f"{PREFIX}/ret", "live", qos=1)
    second = [brief(m) for m in again.receive(1)]
    for c in (pub, later, again):
        c.close()
    return {"later": first, "after_clear": second}


def scenario_will():
    watcher = Conn("will-watch").connect()
    watcher.subscribe(f"{PREFIX}/will", 1)
    will = {"topic": f"{PREFIX}/will", "payload": "gone", "qos": 1, "retain": False}
    if V5:
        props = Properties(PacketTypes.WILLMESSAGE)
        props.UserProperty = [("why", "socket closed")]
        will["properties"] = props
    doomed = Conn("will-doomed", will=will).connect(threaded=False)
    # Close the socket under paho: no DISCONNECT reaches the broker.
    sock = doomed.client.socket()
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()
    (msg,) = watcher.receive(1)
    result = brief(msg)
    if V5:
        result.append(getattr(msg.properties, "UserProperty", None))
    watcher.close()
    return result


def scenario_persistent():
    topic = f"{PREFIX}/persist"
    first = Conn("persist", clean=False, expiry=300).connect()
    present_first = first.session_present
    first.subscribe(topic, 1)
    first.close()
    pub = Conn("persist-pub").connect()
    for n in (1, 2, 3):
        pub.publish(topic, f"away{n}", qos=1)
    back = Conn("persist", clean=False, expiry=300).connect()
    got = [brief(m) for m in back.receive(3)]
    present_back = back.session_present
    back.close()
    # A clean start ends the session.
    clean = Conn("persist", clean=True).connect()
    present_clean = clean.session_present
    clean.close()
    pub.close()
    return {
        "present": [present_first, present_back, present_clean],
        "messages": got,
    }


def scenario_user_properties():
    sub = Conn("up-sub").connect()
    sub.subscribe(f"{PREFIX}/up", 1)
    pub = Conn("up-pub").connect()
    props = Properties(PacketTypes.PUBLISH)
    props.UserProperty = [("k", "v"), ("k", "v2"), ("colour", "blue")]
    props.ContentType = "text/plain"
    pub.publish(f"{PREFIX}/up", "body", qos=1, properties=props)
    (msg,) = sub.receive(1)
    sub.close()
    pub.close()
    p = msg.properties
    return {
        "payload": msg.payload.decode(),
        "user": getattr(p, "UserProperty", None),
        "contentType": getattr(p, "ContentType", None),
    }


def scenario_request_response():
    responder = Conn("rr-responder").connect()

    def answer(client, userdata, msg):
        p = msg.properties
        reply = Properties(PacketTypes.PUBLISH)
        reply.CorrelationData = p.CorrelationData
        client.publish(p.ResponseTopic, b"re: " + msg.payload, qos=1, properties=reply)

    responder.client.message_callback_add(f"{PREFIX}/rr/request", answer)
    responder.subscribe(f"{PREFIX}/rr/request", 1)
    requester = Conn("rr-requester").connect()
    requester.subscribe(f"{PREFIX}/rr/reply", 1)
    props = Properties(PacketTypes.PUBLISH)
    props.ResponseTopic = f"{PREFIX}/rr/reply"
    props.CorrelationData = b"\x00corr\xff"
    requester.publish(f"{PREFIX}/rr/request", "ping", qos=1, properties=props)
    (msg,) = requester.receive(1)
    requester.close()
    responder.close()
    return {
        "topic": msg.topic,
        "payload": msg.payload.decode(),
        "correlation": msg.properties.CorrelationData.hex(),
    }


def main():
    scenarios = {
        "qos": scenario_qos,
        "retained": scenario_retained,
        "will": scenario_will,
        "persistent": scenario_persistent,
        "websocket": scenario_websocket,
        "keepalive_will": scenario_keepalive_will,
    }
    if V5:
        scenarios["user_properties"] = scenario_user_properties
        scenarios["request_response"] = scenario_request_response
    results = {}
    for name, run in scenarios.items():
        try:
            results[name] = run()
        except Exception as e:  # report, and go on with the next scenario
            results[name] = {"error": f"{type(e).__name__}: {e}", "trace": traceback.format_exc()}
    print(json.dumps(results))


if __name__ == "__main__":
    main()
