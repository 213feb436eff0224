# Golden-file scenario for paho-mqtt 1.6.1, MQTT 5: properties everywhere,
# topic aliases, subscription identifiers (several per message), shared
# subscriptions, QoS 1 and 2 both ways, a keepalive ping, unsubscribe and
# a DISCONNECT with a reason code and properties. Run by capture/main.go.
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

port = int(sys.argv[1])
connected = threading.Event()
suback = threading.Semaphore(0)
unsuback = threading.Event()
received = []


def on_connect(client, userdata, flags, rc, properties=None):
    print("CONNACK", rc, properties, flush=True)
    connected.set()


def on_subscribe(client, userdata, mid, rcs, properties=None):
    suback.release()


def on_unsubscribe(client, userdata, mid, properties, rcs):
    rcs = rcs if isinstance(rcs, list) else [rcs]
    print("UNSUBACK", [str(r) for r in rcs], flush=True)
    unsuback.set()


def on_message(client, userdata, m):
    p = m.properties
    line = ["MSG", m.topic, str(m.qos), str(int(m.retain)), m.payload.decode(),
            str(getattr(p, "SubscriptionIdentifier", None)), str(getattr(p, "UserProperty", None))]
    if hasattr(p, "ContentType"):
        line += [p.ContentType, p.ResponseTopic, p.CorrelationData.hex(),
                 str(p.PayloadFormatIndicator), str(p.MessageExpiryInterval)]
    print(" ".join(line), flush=True)
    received.append(m)


c = mqtt.Client(client_id="paho5", protocol=mqtt.MQTTv5)
c.on_connect, c.on_subscribe, c.on_unsubscribe, c.on_message = on_connect, on_subscribe, on_unsubscribe, on_message
cp = Properties(PacketTypes.CONNECT)
cp.SessionExpiryInterval = 300
cp.ReceiveMaximum = 50
cp.TopicAliasMaximum = 8
cp.MaximumPacketSize = 65536
cp.UserProperty = [("app", "capture"), ("app", "dup")]
wp = Properties(PacketTypes.WILLMESSAGE)
wp.WillDelayInterval = 5
wp.UserProperty = [("w", "1")]
c.will_set("clients/paho5/status", "lost", qos=1, retain=True, properties=wp)
c.username_pw_set("carol", "pw")
c.connect("127.0.0.1", port, keepalive=1, clean_start=False, properties=cp)
c.loop_start()
assert connected.wait(5)

sp = Properties(PacketTypes.SUBSCRIBE)
sp.SubscriptionIdentifier = 42
sp.UserProperty = [("s", "1")]
c.subscribe([("sensors/#", SubscribeOptions(qos=2, noLocal=True, retainAsPublished=True, retainHandling=1)),
             ("alerts/+", SubscribeOptions(qos=1))], properties=sp)
assert suback.acquire(timeout=5)
sp = Properties(PacketTypes.SUBSCRIBE)
sp.SubscriptionIdentifier = 44
c.subscribe("sensors/+/temp", options=SubscribeOptions(qos=1, retainHandling=2), properties=sp)
assert suback.acquire(timeout=5)
sp = Properties(PacketTypes.SUBSCRIBE)
sp.SubscriptionIdentifier = 43
c.subscribe("$share/g/jobs/#", options=SubscribeOptions(qos=1), properties=sp)
assert suback.acquire(timeout=5)

deadline = time.time() + 5
while len(received) < 3 and time.time() < deadline:
    time.sleep(0.05)
assert len(received) == 3, received

pp = Properties(PacketTypes.PUBLISH)
pp.TopicAlias = 1
pp.UserProperty = [("k", "v1"), ("k", "v2")]
pp.MessageExpiryInterval = 60
pp.ResponseTopic = "replies/paho5"
pp.CorrelationData = b"\x00\x01"
pp.ContentType = "application/octet-stream"
pp.PayloadFormatIndicator = 0
c.publish("sensors/paho5/long/topic/name", b"first", qos=1, properties=pp).wait_for_publish(5)
pp = Properties(PacketTypes.PUBLISH)
pp.TopicAlias = 1
c.publish("", b"second", qos=2, properties=pp).wait_for_publish(5)
c.publish("sensors/paho5/plain", b"third", qos=0)

time.sleep(1.8)  # keepalive 1 s: paho sends PINGREQ

up = Properties(PacketTypes.UNSUBSCRIBE)
up.UserProperty = [("u", "1")]
c.unsubscribe(["alerts/+", "$share/g/jobs/#"], properties=up)
assert unsuback.wait(5)

dp = Properties(PacketTypes.DISCONNECT)
dp.SessionExpiryInterval = 0
dp.ReasonString = "done"
dp.UserProperty = [("bye", "1")]
c.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT, "Disconnect with will message"), properties=dp)
c.loop_stop()
