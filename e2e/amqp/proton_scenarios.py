#!/usr/bin/python3
"""Qpid Proton (Debian's python3-qpid-proton) scenarios against a real tandem.

Usage: proton_scenarios.py SCENARIO HOST:PORT [ARGS...]

Each scenario prints "OK <scenario>" when everything it checks holds, and
exits non-zero with a message otherwise. e2e/amqp_test.go runs them.
"""
import hashlib
import sys
import time

from proton import Message, symbol, ConnectionException, Delivery, Timeout
from proton.handlers import MessagingHandler, TransactionHandler
from proton.reactor import (Container, Selector, DurableSubscription, Copy, LinkOption, DynamicNodeProperties)
from proton.utils import BlockingConnection

ADMIN = ("admin", "admin")


def fail(msg):
    print("FAIL " + msg)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


class Capabilities(LinkOption):
    """Sets source and target capabilities (topic/queue), as Qpid JMS does."""

    def __init__(self, *caps):
        self.caps = caps

    def apply(self, link):
        for term in (link.source, link.target):
            for c in self.caps:
                term.capabilities.put_object(symbol(c))


def connect(addr, **kw):
    kw.setdefault("timeout", 15)
    if "user" in kw:
        kw.setdefault("allowed_mechs", "PLAIN")
    else:
        kw.setdefault("allowed_mechs", "ANONYMOUS")
    return BlockingConnection("amqp://" + addr, **kw)


def drain(rcv, timeout=0.5):
    """Receives until nothing comes for timeout seconds; returns the bodies."""
    out = []
    while True:
        try:
            m = rcv.receive(timeout=timeout)
        except Timeout:
            return out
        out.append(m)
        rcv.accept()


def sasl(addr):
    for kw in ({"allowed_mechs": "ANONYMOUS"}, {"user": ADMIN[0], "password": ADMIN[1], "allowed_mechs": "PLAIN"}):
        conn = connect(addr, **kw)
        snd = conn.create_sender("sasl-q")
        snd.send(Message(body="via %s" % kw["allowed_mechs"]))
        rcv = conn.create_receiver("sasl-q")
        m = rcv.receive(timeout=10)
        check(m.body == "via %s" % kw["allowed_mechs"], "got %r" % m.body)
        rcv.accept()
        conn.close()
    try:
        conn = connect(addr, user="admin", password="wrong")
        conn.create_sender("sasl-q")
        fail("a wrong password was accepted")
    except ConnectionException:
        pass
    print("OK sasl")


def request_reply(addr):
    client = connect(addr)
    replies = client.create_receiver(None, dynamic=True)
    reply_to = replies.remote_source.address
    check(reply_to, "the dynamic receiver got no address")
    requests = client.create_sender("requests")
    requests.send(Message(body="ping", reply_to=reply_to, correlation_id="c1"))

    server = connect(addr)
    check(server.conn.remote_offered_capabilities and "ANONYMOUS-RELAY" in
          [str(c) for c in server.conn.remote_offered_capabilities], "ANONYMOUS-RELAY not offered")
    inbox = server.create_receiver("requests")
    relay = server.create_sender(None)  # anonymous: each message says where it goes
    req = inbox.receive(timeout=10)
    inbox.accept()
    relay.send(Message(address=req.reply_to, body=req.body.upper(), correlation_id=req.correlation_id))
    server.close()

    resp = replies.receive(timeout=10)
    replies.accept()
    check(resp.body == "PING" and resp.correlation_id == "c1", "reply %r" % resp)
    client.close()
    print("OK request-reply")


def selector(addr):
    conn = connect(addr)
    snd = conn.create_sender("colors")
    for i, color in enumerate(["red", "green", "red", "blue"]):
        snd.send(Message(body="%s-%d" % (color, i), properties={"color": color}))
    rcv = conn.create_receiver("colors", options=Selector("color = 'red'"))
    got = [m.body for m in drain(rcv)]
    check(got == ["red-0", "red-2"], "selector received %r" % got)
    rcv.close()
    rest = [m.body for m in drain(conn.create_receiver("colors"))]
    check(sorted(rest) == ["blue-3", "green-1"], "the others %r" % rest)
    conn.close()
    print("OK selector")


def browse(addr):
    conn = connect(addr)
    snd = conn.create_sender("browsed")
    for i in range(3):
        snd.send(Message(body="b%d" % i))
    browser = conn.create_receiver("browsed", options=Copy())
    seen = [m.body for m in drain(browser)]
    check(seen == ["b0", "b1", "b2"], "browser saw %r" % seen)
    browser.close()
    left = [m.body for m in drain(conn.create_receiver("browsed"))]
    check(left == ["b0", "b1", "b2"], "after browsing the queue holds %r" % left)
    conn.close()
    print("OK browse")


def outcomes(addr):
    conn = connect(addr)
    conn.create_sender("outcomes").send(Message(body="o"))
    rcv = conn.create_receiver("outcomes", credit=1)
    m = rcv.receive(timeout=10)
    check(m.delivery_count == 0, "first delivery count %d" % m.delivery_count)
    rcv.release(delivered=False)  # released
    m = rcv.receive(timeout=10)
    check(m.delivery_count == 0, "after released: delivery count %d, want 0" % m.delivery_count)
    rcv.release(delivered=True)  # proton sends modified without delivery-failed: a release
    m = rcv.receive(timeout=10)
    check(m.delivery_count == 0, "after modified without delivery-failed: delivery count %d, want 0" % m.delivery_count)
    rcv.fetcher.unsettled[0].local.failed = True
    rcv.settle(Delivery.MODIFIED)  # modified, delivery-failed
    m = rcv.receive(timeout=10)
    check(m.delivery_count == 1, "after modified delivery-failed: delivery count %d, want 1" % m.delivery_count)
    rcv.reject()
    rcv.close()
    dlq = conn.create_receiver("DLQ")
    d = dlq.receive(timeout=10)
    dlq.accept()
    check(d.body == "o", "dead letter %r" % d.body)
    check(d.annotations and d.annotations.get(symbol("x-opt-ORIG-ADDRESS")) == "outcomes",
          "dead letter annotations %r" % d.annotations)
    left = drain(conn.create_receiver("outcomes"))
    check(not left, "the rejected message is still on its queue")
    conn.close()
    print("OK outcomes")


def large(addr):
    body = bytes((i * 31) & 0xff for i in range(5 << 20))
    conn = connect(addr, max_frame_size=16384)
    check(conn.conn.transport.remote_max_frame_size > 0, "no max-frame-size from the broker")
    conn.create_sender("large").send(Message(body=body))
    rcv = conn.create_receiver("large")
    m = rcv.receive(timeout=30)
    rcv.accept()
    got = bytes(m.body)
    check(hashlib.sha256(got).digest() == hashlib.sha256(body).digest(), "received %d bytes, not the 5 MiB sent" % len(got))
    conn.close()
    print("OK large")


def delay_ttl(addr):
    conn = connect(addr)
    snd = conn.create_sender("timed")
    start = time.time()
    snd.send(Message(body="delayed", annotations={symbol("x-opt-delivery-delay"): 1500}))
    snd.send(Message(body="short-lived", ttl=0.2))
    snd.send(Message(body="plain"))
    time.sleep(0.5)
    rcv = conn.create_receiver("timed", credit=10)
    m = rcv.receive(timeout=10)
    rcv.accept()
    check(m.body == "plain", "first %r (the ttl message should have expired, the delayed one wait)" % m.body)
    m = rcv.receive(timeout=10)
    rcv.accept()
    elapsed = time.time() - start
    check(m.body == "delayed" and elapsed >= 1.4, "%r after %.2fs" % (m.body, elapsed))
    check(not drain(rcv), "more arrived")
    conn.close()
    print("OK delay-ttl")


def durable_open(addr, cid):
    return connect(addr, container=Container_with_id(cid))


class Container_with_id(Container):
    def __init__(self, cid):
        super(Container_with_id, self).__init__()
        self.container_id = cid


def durable_create(addr, topic):
    conn = durable_open(addr, "durable-client")
    rcv = conn.create_receiver(topic, name="mysub", options=[DurableSubscription(), Capabilities("topic")])
    rcv.detach()  # detach, not close: the subscription stays
    conn.close()
    print("OK durable-create")


def durable_resume(addr, topic, n):
    conn = durable_open(addr, "durable-client")
    rcv = conn.create_receiver(topic, name="mysub", options=[DurableSubscription(), Capabilities("topic")])
    got = [m.body for m in drain(rcv, timeout=2)]
    want = ["durable-%d" % i for i in range(int(n))]
    check(got == want, "resumed subscription got %r, want %r" % (got, want))
    rcv.close()  # close: unsubscribe
    conn.close()
    print("OK durable-resume")


class TxScenario(MessagingHandler, TransactionHandler):
    """Transactional sends (commit, abort) then transactional receives
    (abort redelivers with delivery count 1, commit consumes)."""

    def __init__(self, addr):
        super(TxScenario, self).__init__(auto_accept=False, prefetch=0)
        self.addr = addr
        self.step = "send-commit"
        self.got = []
        self.error = None

    def on_start(self, event):
        self.container = event.container
        self.conn = event.container.connect("amqp://" + self.addr, allowed_mechs="ANONYMOUS")
        self.sender = event.container.create_sender(self.conn, "txq")
        event.container.declare_transaction(self.conn, handler=self)

    def done(self, error=None):
        self.error = error
        self.conn.close()

    def on_transaction_declared(self, event):
        self.txn = event.transaction
        if self.step == "send-commit":
            self.txn.send(self.sender, Message(body="t1"))
            self.txn.send(self.sender, Message(body="t2"))
            self.txn.commit()
        elif self.step == "send-abort":
            self.txn.send(self.sender, Message(body="t3"))
            self.txn.abort()
        elif self.step == "receive-abort":
            self.receiver.flow(1)
        elif self.step == "receive-commit":
            self.receiver.flow(2)

    def on_transaction_committed(self, event):
        if self.step == "send-commit":
            self.step = "send-abort"
            self.container.declare_transaction(self.conn, handler=self)
        elif self.step == "receive-commit":
            self.step = "check-empty"
            self.receiver.flow(1)
            self.container.schedule(1.0, self)

    def on_transaction_aborted(self, event):
        if self.step == "send-abort":
            self.step = "receive-abort"
            self.receiver = self.container.create_receiver(self.conn, "txq")
            self.container.declare_transaction(self.conn, handler=self)
        elif self.step == "receive-abort":
            self.step = "receive-commit"
            self.container.declare_transaction(self.conn, handler=self)

    def on_transaction_declare_failed(self, event):
        self.done("declare failed")

    def on_transaction_commit_failed(self, event):
        self.done("commit failed")

    def on_message(self, event):
        m = event.message
        if self.step == "receive-abort":
            if m.body != "t1" or m.delivery_count != 0:
                return self.done("first transactional receive: %r count %d" % (m.body, m.delivery_count))
            self.txn.accept(event.delivery)
            self.txn.abort()
        elif self.step == "receive-commit":
            self.got.append((m.body, m.delivery_count))
            self.txn.accept(event.delivery)
            if len(self.got) == 2:
                if self.got != [("t1", 1), ("t2", 0)]:
                    return self.done("after the rollback: %r" % self.got)
                self.txn.commit()
        else:
            self.done("unexpected message %r in step %s (the aborted send or the committed ack came back)" % (m.body, self.step))

    def on_timer_task(self, event):
        if self.step == "check-empty":
            self.done()


def transactions(addr):
    s = TxScenario(addr)
    Container(s).run()
    check(s.error is None, s.error or "")
    print("OK transactions")


def main():
    scenario, addr, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    scenarios = {
        "sasl": sasl, "request-reply": request_reply, "selector": selector, "browse": browse,
        "outcomes": outcomes, "large": large, "delay-ttl": delay_ttl, "transactions": transactions,
        "durable-create": durable_create, "durable-resume": durable_resume,
    }
    if scenario not in scenarios:
        fail("unknown scenario " + scenario)
    scenarios[scenario](addr, *args)


main()
