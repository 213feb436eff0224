#!/usr/bin/python3
"""Drives Debian's python3-qpid-proton against the codec's capture server.

Usage: proton_capture.py send|receive|tx HOST:PORT

Each scenario prints one line per message it receives and "done" at the
end; the Go test checks the output. Run by capture_test.go.
"""
import sys
import uuid

from proton import Message, symbol, ulong, Described
from proton.handlers import MessagingHandler, TransactionHandler
from proton.reactor import Container, Selector, DurableSubscription, Copy, AtMostOnce, DynamicNodeProperties
from proton.utils import BlockingConnection

FIXED_UUID = uuid.UUID("12345678-9abc-def0-1234-56789abcdef0")


def container(cid):
    c = Container()
    c.container_id = cid
    return c


def send(addr):
    conn = BlockingConnection("amqp://" + addr, container=container("capture-proton-send"), allowed_mechs="ANONYMOUS")
    snd = conn.create_sender("orders")
    snd.send(Message(id="p1", body="text body", subject="s", reply_to="replies", correlation_id=FIXED_UUID,
                     content_type="text/plain", user_id=b"guest", creation_time=1700000000.0, group_id="g",
                     durable=True, ttl=30, priority=7,
                     properties={"color": "red", "n": 1, "f": 1.5, "b": True, "l": ulong(7)},
                     annotations={symbol("x-opt-delivery-delay"): 1000}))
    snd.send(Message(id=ulong(5), body=b"binary body", inferred=True))
    snd.send(Message(id=FIXED_UUID, body={"k": "v", "n": 1}))
    snd.send(Message(body=[1, "two", None], inferred=True))
    snd.send(Message(id=b"\x01\x02", body=None))
    snd.close()
    settled = conn.create_sender("orders", options=AtMostOnce())
    settled.send(Message(body="at most once"))
    settled.close()
    conn.close()
    print("done")


def receive(addr):
    conn = BlockingConnection("amqp://guest:secret@" + addr, container=container("capture-proton-sub"),
                              allowed_mechs="PLAIN")
    rcv = conn.create_receiver("orders", name="sub1", credit=4,
                               options=[Selector("color = 'red'"), DurableSubscription()])
    for action in ("accept", "release", "reject", "modify"):
        m = rcv.receive(timeout=10)
        body = m.body
        if isinstance(body, (bytes, memoryview)):
            body = "%d bytes" % len(bytes(body))
        print("received %s %r" % (m.id, body))
        if action == "accept":
            rcv.accept()
        elif action == "release":
            rcv.release(delivered=False)
        elif action == "reject":
            rcv.reject()
        else:
            rcv.release(delivered=True)
    rcv.close()
    dyn = conn.create_receiver(None, dynamic=True,
                               options=DynamicNodeProperties({"lifetime-policy": Described(symbol("amqp:delete-on-close:list"), [])}))
    print("dynamic address %s" % dyn.link.remote_source.address)
    dyn.close()
    browser = conn.create_receiver("orders", credit=1, options=Copy())
    m = browser.receive(timeout=10)
    print("browsed %s" % m.id)
    browser.accept()
    browser.close()
    conn.close()
    print("done")


class TxSend(MessagingHandler, TransactionHandler):
    def __init__(self, addr):
        super(TxSend, self).__init__()
        self.addr = addr
        self.round = 0

    def on_start(self, event):
        event.container.container_id = "capture-proton-tx"
        self.conn = event.container.connect("amqp://" + self.addr, allowed_mechs="ANONYMOUS")
        self.sender = event.container.create_sender(self.conn, "orders")
        event.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declared(self, event):
        self.round += 1
        txn = event.transaction
        print("declared %s" % bytes(txn.id).decode())
        txn.send(self.sender, Message(body="tx message %d" % self.round))
        if self.round == 1:
            txn.commit()
        else:
            txn.abort()

    def on_transaction_committed(self, event):
        print("committed")
        event.container.declare_transaction(self.conn, handler=self)

    def on_transaction_aborted(self, event):
        print("aborted")
        self.conn.close()
        print("done")


def main():
    scenario, addr = sys.argv[1], sys.argv[2]
    if scenario == "send":
        send(addr)
    elif scenario == "receive":
        receive(addr)
    elif scenario == "tx":
        Container(TxSend(addr)).run()
    else:
        sys.exit("unknown scenario " + scenario)


main()
