#!/usr/bin/python3
"""Scenarios of Eclipse Paho's Python client (python3-paho-mqtt 1.6) against
tandem, for e2e/mqtt_paho_test.go. Run with Debian's /usr/bin/python3.

  paho_check.py aliases HOST PORT
  paho_check.py subids HOST PORT
  paho_check.py share HOST PORT
  paho_check.py ws HOST PORT PATH
  paho_check.py qos2-sub HOST PORT BACKUP_PORT COUNT
  paho_check.py qos2-pub HOST PORT BACKUP_PORT COUNT

Each check prints "OK <what>" as its last line on success and exits 1
with the reason otherwise. The qos2 ones print one line per event (see
e2e/mqtt_paho_test.go).
"""
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


class Collector:
    """Collects the messages a client receives."""

    def __init__(self):
        self.cond = threading.Condition()
        self.msgs = []

    def on_message(self, client, userdata, msg):
        with self.cond:
            self.msgs.append(msg)
            self.cond.notify_all()

    def wait(self, n, timeout=20):
        end = time.time() + timeout
        with self.cond:
            while len(self.msgs) < n:
                left = end - time.time()
                if left <= 0:
                    fail("got %d messages, want %d" % (len(self.msgs), n))
                self.cond.wait(left)
            return list(self.msgs)


def client(host, port, cid, version=mqtt.MQTTv5, transport="tcp", path=None, props=None, clean=True):
    """Connects and starts the network loop; returns (client, collector)."""
    col = Collector()
    c = mqtt.Client(client_id=cid, protocol=version, transport=transport)
    if path is not None:
        c.ws_set_options(path=path)
    c.on_message = col.on_message
    connected = threading.Event()
    result = {}

    def on_connect(cl, userdata, flags, rc, properties=None):
        result["rc"] = rc
        connected.set()

    c.on_connect = on_connect
    if version == mqtt.MQTTv5:
        c.connect(host, port, keepalive=30, clean_start=clean, properties=props)
    else:
        c.connect(host, port, keepalive=30)
    c.loop_start()
    if not connected.wait(10):
        fail("%s: no CONNACK" % cid)
    if result["rc"] != 0:
        fail("%s: CONNACK %s" % (cid, result["rc"]))
    return c, col


def subscribe(c, topic, qos=1, props=None):
    done = threading.Event()
    c.on_subscribe = lambda *a, **k: done.set()
    c.subscribe(topic, qos=qos, properties=props)
    if not done.wait(10):
        fail("no SUBACK for " + topic)


def publish(c, topic, payload, qos=1, props=None):
    info = c.publish(topic, payload, qos=qos, properties=props)
    info.wait_for_publish(10)
    if not info.is_published():
        fail("publish to %r not acknowledged" % topic)


def check_aliases(host, port):
    """The publisher sets a topic alias and then publishes by alias alone;
    the subscriber sees the full topic every time."""
    sub, col = client(host, port, "alias-sub")
    subscribe(sub, "alias/#")
    pub, _ = client(host, port, "alias-pub")
    p = Properties(PacketTypes.PUBLISH)
    p.TopicAlias = 3
    publish(pub, "alias/a/rather/long/topic/name", b"set", props=p)
    publish(pub, "", b"by-alias-1", props=p)
    publish(pub, "", b"by-alias-2", props=p)
    msgs = col.wait(3)
    for m in msgs:
        if m.topic != "alias/a/rather/long/topic/name":
            fail("subscriber got topic %r for %r" % (m.topic, m.payload))
    if [m.payload for m in msgs] != [b"set", b"by-alias-1", b"by-alias-2"]:
        fail("payloads %r" % [m.payload for m in msgs])
    print("OK aliases", flush=True)


def check_subids(host, port):
    """A message matching two subscriptions carries both identifiers."""
    sub, col = client(host, port, "ids-sub")
    for ident, topic in ((1, "ids/#"), (2, "ids/+/x"), (3, "other")):
        p = Properties(PacketTypes.SUBSCRIBE)
        p.SubscriptionIdentifier = ident
        subscribe(sub, topic, props=p)
    pub, _ = client(host, port, "ids-pub")
    publish(pub, "ids/a/x", b"both")
    msgs = col.wait(2)  # one copy per subscription, as Artemis delivers
    for m in msgs:
        ids = sorted(getattr(m.properties, "SubscriptionIdentifier", []))
        if ids != [1, 2]:
            fail("subscription identifiers %r, want [1, 2]" % ids)
    print("OK subids", flush=True)


def check_share(host, port):
    """Two members of $share/workers/jobs/# split the messages between
    them: every message once, both members some."""
    members = []
    for i in range(2):
        c, col = client(host, port, "share-%d" % i)
        subscribe(c, "$share/workers/jobs/#")
        members.append(col)
    pub, _ = client(host, port, "share-pub")
    n = 40
    for i in range(n):
        publish(pub, "jobs/%d" % (i % 3), b"job-%d" % i)
    end = time.time() + 20
    while sum(len(m.msgs) for m in members) < n and time.time() < end:
        time.sleep(0.05)
    got = [m.payload for col in members for m in col.msgs]
    if sorted(got) != sorted(b"job-%d" % i for i in range(n)):
        fail("the members got %d messages, %d distinct, of %d" % (len(got), len(set(got)), n))
    counts = [len(col.msgs) for col in members]
    if 0 in counts:
        fail("one member got nothing: %r" % counts)
    print("OK share %r" % counts, flush=True)


def check_ws(host, port, path):
    """transport="websockets": publish and subscribe over WebSocket."""
    sub, col = client(host, port, "ws-sub", transport="websockets", path=path)
    subscribe(sub, "ws/#", qos=2)
    pub, _ = client(host, port, "ws-pub", transport="websockets", path=path, version=mqtt.MQTTv311)
    for q in range(3):
        publish(pub, "ws/q%d" % q, b"over websocket %d" % q, qos=q)
    msgs = col.wait(3)
    got = sorted((m.topic, m.payload, m.qos) for m in msgs)
    want = [("ws/q%d" % q, b"over websocket %d" % q, q) for q in range(3)]
    if got != want:
        fail("got %r, want %r" % (got, want))
    print("OK ws " + path, flush=True)


def failover_client(host, port, backup, cid, on_connect_extra=None):
    """A 3.1.1 client with a persistent session that reconnects to the
    backup's port when its connection breaks."""
    c = mqtt.Client(client_id=cid, clean_session=False, protocol=mqtt.MQTTv311)
    c.reconnect_delay_set(min_delay=1, max_delay=1)

    def on_disconnect(cl, userdata, rc):
        print("DISCONNECTED %s rc=%s" % (cid, rc), flush=True)
        cl._port = backup  # paho reconnects to _host:_port

    def on_connect(cl, userdata, flags, rc):
        print("CONNECTED %s rc=%s present=%s port=%s" % (cid, rc, flags.get("session present"), cl._port), flush=True)
        if on_connect_extra:
            on_connect_extra(cl)

    c.on_disconnect = on_disconnect
    c.on_connect = on_connect
    c.connect(host, port, keepalive=5)
    return c


def qos2_sub(host, port, backup, count):
    """Receives COUNT messages at QoS 2 on a persistent session across the
    failover and prints each one as it reaches the application (paho
    delivers a QoS 2 message at PUBREL, once)."""
    seen = {}
    lock = threading.Lock()

    def on_message(cl, userdata, msg):
        with lock:
            seen[msg.payload] = seen.get(msg.payload, 0) + 1
        print("GOT %s" % msg.payload.decode(), flush=True)

    c = failover_client(host, port, backup, "eo-sub", lambda cl: cl.subscribe("eo/#", qos=2))
    c.on_message = on_message
    c.on_subscribe = lambda *a: print("SUBSCRIBED", flush=True)
    c.loop_start()
    end = time.time() + 120
    while time.time() < end:
        with lock:
            if len(seen) >= count:
                break
        time.sleep(0.1)
    time.sleep(1)  # a duplicate would arrive now
    with lock:
        dups = {k: v for k, v in seen.items() if v > 1}
        print("DONE distinct=%d dups=%d" % (len(seen), len(dups)), flush=True)
    c.loop_stop()


def qos2_pub(host, port, backup, count):
    """Publishes COUNT messages at QoS 2, one at a time, and prints each
    one whose PUBCOMP arrived; paho resends what is in flight (PUBLISH
    with DUP, or PUBREL) after reconnecting to the backup."""
    c = failover_client(host, port, backup, "eo-pub")
    completed = set()
    cond = threading.Condition()

    def on_publish(cl, userdata, mid):
        with cond:
            completed.add(mid)
            cond.notify_all()

    c.on_publish = on_publish
    c.loop_start()
    for i in range(count):
        payload = "msg-%04d" % i
        while True:
            info = c.publish("eo/x", payload, qos=2)
            if info.rc in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                break
            time.sleep(0.1)  # the queue of paho is full
        with cond:
            end = time.time() + 60
            while info.mid not in completed:
                left = end - time.time()
                if left <= 0:
                    fail("no PUBCOMP for %s" % payload)
                cond.wait(left)
        print("COMPLETED %s" % payload, flush=True)
    print("DONE", flush=True)
    c.loop_stop()


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "aliases":
        check_aliases(host, port)
    elif mode == "subids":
        check_subids(host, port)
    elif mode == "share":
        check_share(host, port)
    elif mode == "ws":
        check_ws(host, port, sys.argv[4])
    elif mode == "qos2-sub":
        qos2_sub(host, port, int(sys.argv[4]), int(sys.argv[5]))
    elif mode == "qos2-pub":
        qos2_pub(host, port, int(sys.argv[4]), int(sys.argv[5]))
    else:
        fail("unknown mode " + mode)


if __name__ == "__main__":
    main()
