# Large-message interop with stomp.py (Debian python3-stomp): a body far
# over min-large-message-size goes through the broker's large-message path
# (streamed to disk and back) and must come back byte for byte.
import hashlib, sys, time
import stomp

host, port, dest, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
body = bytes((i * 7 + (i >> 11)) & 0xFF for i in range(size))


class Listener(stomp.ConnectionListener):
    def __init__(self):
        self.frames, self.receipts, self.errors = [], set(), []

    def on_message(self, frame):
        self.frames.append(frame)

    def on_receipt(self, frame):
        self.receipts.add(frame.headers.get("receipt-id"))

    def on_error(self, frame):
        self.errors.append(frame.body)


def wait(cond, what):
    deadline = time.time() + 30
    while not cond():
        if time.time() > deadline or listener.errors:
            sys.exit("timed out waiting for %s; errors %r" % (what, listener.errors))
        time.sleep(0.02)


conn = stomp.Connection12([(host, port)], auto_decode=False)
listener = Listener()
conn.set_listener("", listener)
conn.connect("admin", "admin", wait=True)
conn.send(destination=dest, body=body, headers={"persistent": "true", "receipt": "big", "x-kind": "large"})
wait(lambda: "big" in listener.receipts, "the receipt")
conn.subscribe(destination=dest, id="s1", ack="client-individual")
wait(lambda: listener.frames, "the message")
f = listener.frames[0]
got = f.body if isinstance(f.body, bytes) else f.body.encode("latin-1")
if hashlib.sha256(got).digest() != hashlib.sha256(body).digest():
    sys.exit("body of %d bytes differs from the %d sent" % (len(got), size))
if f.headers.get("x-kind") != "large":
    sys.exit("header x-kind came back as %r" % f.headers.get("x-kind"))
conn.ack(f.headers["ack"])
conn.disconnect()
print("OK large %d" % size)
