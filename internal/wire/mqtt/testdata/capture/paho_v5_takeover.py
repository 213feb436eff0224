# Golden-file scenario for paho-mqtt 1.6.1, MQTT 5: the server ends the
# connection with DISCONNECT 0x8E (Session taken over) and a reason string.
import sys
import threading

import paho.mqtt.client as mqtt

port = int(sys.argv[1])
gone = threading.Event()


def on_disconnect(client, userdata, rc, properties=None):
    print("DISCONNECT", rc, properties, flush=True)
    gone.set()


c = mqtt.Client(client_id="paho5t", protocol=mqtt.MQTTv5)
c.on_disconnect = on_disconnect
c.connect("127.0.0.1", port, keepalive=30, clean_start=True)
c.loop_start()
c.subscribe("t/#", qos=1)
assert gone.wait(5)
c.loop_stop()
