# Interop check with stomp.py (Debian python3-stomp): send, receive with
# client-individual acks, header escaping, on STOMP 1.2.
import sys, threading, time
import stomp

host, port, dest = sys.argv[1], int(sys.argv[2]), sys.argv[3]
NOTE = "a:b\\c"


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.frames = []
        self.receipts = set()
        self.errors = []

    def on_message(self, frame):
        self.frames.append(frame)

    def on_receipt(self, frame):
        self.receipts.add(frame.headers.get("receipt-id"))

    def on_error(self, frame):
        self.errors.append(frame.body)


def wait(cond, what):
    deadline = time.time() + 10
    while not cond():
        if time.time() > deadline:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.02)


conn = stomp.Connection12([(host, port)])
listener = Listener()
conn.set_listener("", listener)
conn.connect("admin", "admin", wait=True)
for i in range(3):
    conn.send(destination=dest, body="py-%d" % i, headers={"persistent": "true", "x-note": NOTE, "receipt": "r%d" % i})
wait(lambda: len(listener.receipts) == 3, "receipts")
conn.subscribe(destination=dest, id="s1", ack="client-individual")
wait(lambda: len(listener.frames) == 3, "messages")
bodies = [f.body if isinstance(f.body, str) else f.body.decode() for f in listener.frames]
if bodies != ["py-0", "py-1", "py-2"]:
    sys.exit("bodies %r" % bodies)
for f in listener.frames:
    if f.headers.get("x-note") != NOTE:
        sys.exit("header x-note came back as %r" % f.headers.get("x-note"))
    conn.ack(f.headers["ack"])
conn.disconnect()
if listener.errors:
    sys.exit("errors: %r" % listener.errors)
print("OK 3")
