# Golden-file scenario for paho-mqtt 1.6.1, MQTT 3.1.1: a persistent
# session with a will, QoS 1 and 2 both ways, a keepalive ping,
# unsubscribe and disconnect.
import sys
import threading
import time

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
connected = threading.Event()
subscribed = threading.Event()
unsubscribed = threading.Event()
received = []


def on_connect(client, userdata, flags, rc):
    connected.set()


def on_message(client, userdata, m):
    print("MSG", m.topic, m.qos, m.payload.decode(), flush=True)
    received.append(m)


c = mqtt.Client(client_id="paho311", clean_session=False, protocol=mqtt.MQTTv311)
c.on_connect = on_connect
c.on_message = on_message
c.on_subscribe = lambda *a: subscribed.set()
c.on_unsubscribe = lambda *a: unsubscribed.set()
c.will_set("clients/paho311", "bye", 2, False)
c.username_pw_set("dave")
c.connect("127.0.0.1", port, keepalive=1)
c.loop_start()
assert connected.wait(5)
c.subscribe([("a/+", 1), ("b/#", 2)])
assert subscribed.wait(5)
deadline = time.time() + 5
while len(received) < 2 and time.time() < deadline:
    time.sleep(0.05)
assert len(received) == 2
c.publish("a/x", b"p1", qos=1).wait_for_publish(5)
c.publish("b/y", b"p2", qos=2).wait_for_publish(5)
c.publish("b/z", b"p0", qos=0, retain=True)
time.sleep(1.8)  # keepalive 1 s: paho sends PINGREQ
c.unsubscribe(["a/+", "b/#"])
assert unsubscribed.wait(5)
c.disconnect()
c.loop_stop()
