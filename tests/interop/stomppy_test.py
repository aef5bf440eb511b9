"""Drives a running Herald with stomp.py (8.x), over TCP and over WebSocket.

    tests/interop/.venv/bin/python tests/interop/stomppy_test.py HTTP_ADDR STOMP_ADDR

HTTP_ADDR is where the WebSocket endpoint /ws is served, STOMP_ADDR the plain
STOMP TCP listener, both HOST:PORT. Prints `ok <scenario>` for every scenario
that passed; exits 1 with the reason on the first failure, or when the whole
run takes longer than GLOBAL_TIMEOUT_S.

stomp.py names: `stomp.Connection` is its STOMP 1.1 class (`Connection11`);
1.2 over TCP is `stomp.Connection12`, 1.2 over WebSocket `stomp.WSStompConnection`.
"""

import os
import queue
import sys
import threading
import time
import traceback
import uuid

import stomp

GLOBAL_TIMEOUT_S = 60
STEP_TIMEOUT_S = 5
# How long "nothing more arrives" is watched for.
QUIET_S = 0.5
# Destination names unique to this run.
RUN = uuid.uuid4().hex[:10]

current_scenario = "(setup)"


class Failure(Exception):
    pass


def fail_now(reason):
    sys.stdout.flush()
    sys.stderr.write("FAIL %s: %s\n" % (current_scenario, reason))
    sys.stderr.flush()
    os._exit(1)


def check(cond, message):
    if not cond:
        raise Failure("assertion failed: " + message)


def check_eq(actual, expected, what):
    if actual != expected:
        raise Failure("%s: expected %r, got %r" % (what, expected, actual))


def describe(frame):
    return "%s %r body=%r" % (frame.cmd, frame.headers, frame.body)


class Recorder(stomp.ConnectionListener):
    """Records what one connection receives; the test thread waits on it."""

    def __init__(self, name):
        self.name = name
        self.connected = threading.Event()
        self.connected_frame = None
        self.disconnected = threading.Event()
        self.messages = queue.Queue()
        self.errors = []
        self.receipts = set()
        self.receipt_cond = threading.Condition()
        self.heartbeats = 0
        self.heartbeat_timeouts = 0

    # -- called on stomp.py's receiver thread
    def on_connected(self, frame):
        self.connected_frame = frame
        self.connected.set()

    def on_message(self, frame):
        self.messages.put(frame)

    def on_receipt(self, frame):
        with self.receipt_cond:
            self.receipts.add(frame.headers.get("receipt-id"))
            self.receipt_cond.notify_all()

    def on_error(self, frame):
        self.errors.append(frame)
        with self.receipt_cond:
            self.receipt_cond.notify_all()

    def on_heartbeat(self):
        self.heartbeats += 1

    def on_heartbeat_timeout(self):
        self.heartbeat_timeouts += 1

    def on_disconnected(self):
        self.disconnected.set()
        with self.receipt_cond:
            self.receipt_cond.notify_all()

    # -- called by the test
    def check_errors(self):
        if self.errors:
            raise Failure("%s: ERROR frame: %s" % (self.name, describe(self.errors[0])))

    def next_message(self, what, timeout=STEP_TIMEOUT_S):
        self.check_errors()
        try:
            frame = self.messages.get(timeout=timeout)
        except queue.Empty:
            self.check_errors()
            if self.disconnected.is_set():
                raise Failure("%s: connection closed while waiting for %s" % (self.name, what))
            raise Failure("%s: timed out after %ss waiting for %s" % (self.name, timeout, what))
        check_eq(frame.cmd, "MESSAGE", "%s: frame command" % self.name)
        return frame

    def no_message(self, what, wait=QUIET_S):
        time.sleep(wait)
        self.check_errors()
        if not self.messages.empty():
            raise Failure("%s: %s, but got %s" % (self.name, what, describe(self.messages.get())))

    def wait_receipt(self, receipt_id, timeout=STEP_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        with self.receipt_cond:
            while receipt_id not in self.receipts:
                self.check_errors()
                if self.disconnected.is_set():
                    raise Failure("%s: connection closed while waiting for RECEIPT %s" % (self.name, receipt_id))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("%s: timed out after %ss waiting for RECEIPT %s" % (self.name, timeout, receipt_id))
                self.receipt_cond.wait(left)
            self.receipts.discard(receipt_id)


def split_addr(addr):
    host, _, port = addr.rpartition(":")
    return host, int(port)


class Broker:
    def __init__(self, http_addr, stomp_addr):
        self.http = split_addr(http_addr)
        self.stomp = split_addr(stomp_addr)

    def open(self, kind, name, **kwargs):
        """Connects with guest/guest and waits for CONNECTED."""
        if kind == "tcp-1.2":
            conn = stomp.Connection12([self.stomp], **kwargs)
        elif kind == "ws-1.2":
            conn = stomp.WSStompConnection([self.http], ws_path="/ws", **kwargs)
        elif kind == "tcp-1.1":
            conn = stomp.Connection11([self.stomp], **kwargs)
        elif kind == "tcp-1.0":
            conn = stomp.Connection10([self.stomp], **kwargs)
        else:
            raise ValueError(kind)
        rec = Recorder("%s %s" % (kind, name))
        conn.set_listener("recorder", rec)
        conn.connect("guest", "guest", wait=False)
        if not rec.connected.wait(STEP_TIMEOUT_S):
            rec.check_errors()
            raise Failure("%s: no CONNECTED within %ss" % (rec.name, STEP_TIMEOUT_S))
        return conn, rec


receipt_counter = [0]


def new_receipt(prefix):
    receipt_counter[0] += 1
    return "%s-%d" % (prefix, receipt_counter[0])


def close(conn, rec):
    """DISCONNECT with a receipt; the server answers it, then the socket closes."""
    rid = new_receipt("bye")
    conn.disconnect(receipt=rid)
    rec.wait_receipt(rid)
    if not rec.disconnected.wait(STEP_TIMEOUT_S):
        raise Failure("%s: socket not closed after the DISCONNECT receipt" % rec.name)
    check(not conn.is_connected(), "%s: is_connected() after disconnect" % rec.name)


def subscribe(conn, rec, destination, sub_id, ack, **headers):
    rid = new_receipt("sub")
    conn.subscribe(destination, id=sub_id, ack=ack, receipt=rid, **headers)
    rec.wait_receipt(rid)


def check_message(frame, destination, subscription=None):
    check_eq(frame.headers.get("destination"), destination, "MESSAGE destination")
    if subscription is not None:
        check_eq(frame.headers.get("subscription"), subscription, "MESSAGE subscription")
    check(frame.headers.get("message-id"), "MESSAGE has a message-id: %s" % describe(frame))


# ---------------------------------------------------------------- STOMP 1.2


def scenario_12_connect(broker, kind):
    conn, rec = broker.open(kind, "connect")
    headers = rec.connected_frame.headers
    check_eq(headers.get("version"), "1.2", "CONNECTED version")
    check(headers.get("server"), "CONNECTED carries a server header: %r" % headers)
    close(conn, rec)


def scenario_12_send_receive_ack(broker, kind):
    destination = "/queue/py-%s-%s" % (kind, RUN)
    consumer, crec = broker.open(kind, "consumer")
    subscribe(consumer, crec, destination, "sub-1", "client-individual")

    producer, prec = broker.open(kind, "producer")
    custom = "a:b\\c line1\nline2 \u00e9\u2713"
    rid = new_receipt("r")
    producer.send(destination, "hello \u00e9 from stomp.py", content_type="text/plain;charset=utf-8",
                  headers={"x-custom": custom, "x-plain": "plain"}, receipt=rid)
    prec.wait_receipt(rid)

    m = crec.next_message("the sent message")
    check_message(m, destination, "sub-1")
    check_eq(m.body, "hello \u00e9 from stomp.py", "MESSAGE body")
    check_eq(m.headers.get("x-custom"), custom, "custom header with :, \\, LF and UTF-8")
    check_eq(m.headers.get("x-plain"), "plain", "plain custom header")
    check_eq(m.headers.get("content-type"), "text/plain;charset=utf-8", "content-type")
    check(m.headers.get("ack"), "client-individual MESSAGE carries an ack header: %s" % describe(m))

    # STOMP 1.2: ACK names the MESSAGE's `ack` header in its `id`.
    rid = new_receipt("ack")
    consumer.ack(m.headers["ack"], receipt=rid)
    crec.wait_receipt(rid)
    crec.no_message("the ACKed message must not come back")
    close(consumer, crec)

    again, arec = broker.open(kind, "consumer-again")
    subscribe(again, arec, destination, "sub-2", "client-individual")
    arec.no_message("the message was ACKed; a new subscriber must not get it")
    close(again, arec)
    close(producer, prec)


def scenario_12_nack(broker, kind):
    destination = "/queue/py-nack-%s-%s" % (kind, RUN)
    conn, rec = broker.open(kind, "nack")
    subscribe(conn, rec, destination, "sub-n", "client-individual")
    rid = new_receipt("r")
    conn.send(destination, "nack me", receipt=rid)
    rec.wait_receipt(rid)
    m = rec.next_message("the message to NACK")
    check(m.headers.get("redelivered") != "true", "first delivery is not redelivered: %s" % describe(m))
    conn.nack(m.headers["ack"])
    again = rec.next_message("the NACKed message again")
    check_eq(again.body, "nack me", "redelivered body")
    check_eq(again.headers.get("redelivered"), "true", "redelivered header after NACK")
    rid = new_receipt("ack")
    conn.ack(again.headers["ack"], receipt=rid)
    rec.wait_receipt(rid)
    rec.no_message("the message was ACKed after its redelivery")
    close(conn, rec)


def scenario_12_transactions(broker, kind):
    destination = "/queue/py-tx-%s-%s" % (kind, RUN)
    consumer, crec = broker.open(kind, "tx-consumer")
    subscribe(consumer, crec, destination, "sub-tx", "client-individual")
    producer, prec = broker.open(kind, "tx-producer")

    tx = producer.begin()
    producer.send(destination, "aborted", transaction=tx)
    producer.abort(tx)

    tx = producer.begin()
    producer.send(destination, "committed-1", transaction=tx)
    producer.send(destination, "committed-2", transaction=tx)
    crec.no_message("nothing may be delivered before COMMIT")
    rid = new_receipt("commit")
    producer.commit(tx, receipt=rid)
    prec.wait_receipt(rid)

    first = crec.next_message("committed-1")
    check_eq(first.body, "committed-1", "first committed message (the aborted one must not arrive)")
    second = crec.next_message("committed-2")
    check_eq(second.body, "committed-2", "second committed message")
    crec.no_message("the aborted message must never arrive")

    # ACKs inside a committed transaction count.
    tx = consumer.begin()
    consumer.ack(first.headers["ack"], transaction=tx)
    consumer.ack(second.headers["ack"], transaction=tx)
    rid = new_receipt("commit")
    consumer.commit(tx, receipt=rid)
    crec.wait_receipt(rid)
    close(consumer, crec)

    again, arec = broker.open(kind, "tx-consumer-again")
    subscribe(again, arec, destination, "sub-tx2", "client-individual")
    arec.no_message("both messages were ACKed in a committed transaction")
    close(again, arec)
    close(producer, prec)


def scenario_12_topic_binary(broker, kind):
    destination = "/topic/py-bin-%s-%s" % (kind, RUN)
    # auto_decode=False: bodies stay bytes.
    sub, srec = broker.open(kind, "binary-sub", auto_decode=False)
    subscribe(sub, srec, destination, "sub-b", "auto")
    # Over WebSocket, stomp.py sends text messages unless binary_mode is set,
    # and a text message must be valid UTF-8 (RFC 6455), so arbitrary bytes
    # need binary_mode=True. NULs inside valid UTF-8 can go either way.
    extra = {"binary_mode": True} if kind.startswith("ws") else {}
    pub, prec = broker.open(kind, "binary-pub", **extra)
    text_pub, tprec = broker.open(kind, "text-pub")
    cases = [
        (pub, prec, "all byte values", bytes(range(256)) + b"\x00\x00tail\x00"),
        (text_pub, tprec, "NULs in UTF-8 text", "a\u0000b\u00e9\u0000\u0000c".encode("utf-8")),
    ]
    for conn, rec, name, body in cases:
        rid = new_receipt("r")
        conn.send(destination, body, content_type="application/octet-stream", receipt=rid)
        rec.wait_receipt(rid)
        m = srec.next_message("the binary message (%s)" % name)
        check_message(m, destination, "sub-b")
        check_eq(m.headers.get("content-length"), str(len(body)), "content-length (%s)" % name)
        check_eq(m.body, body, "binary body (%s)" % name)
    close(text_pub, tprec)
    close(pub, prec)
    close(sub, srec)


def scenario_12_disconnect(broker, kind):
    conn, rec = broker.open(kind, "disconnect")
    subscribe(conn, rec, "/topic/py-bye-%s" % RUN, "sub-bye", "auto")
    conn.disconnect(receipt="bye-receipt")
    rec.wait_receipt("bye-receipt")
    if not rec.disconnected.wait(STEP_TIMEOUT_S):
        raise Failure("socket not closed after the DISCONNECT receipt")
    check(not conn.is_connected(), "is_connected() after disconnect")


def scenario_12_heartbeats(broker, kind):
    # Needs a broker whose CONNECTED offers heart-beats of at most 1000 ms both
    # ways (tests/interop.rs starts Herald with 1000 ms).
    hb_ms, idle_s = 1000, 4.0
    conn, rec = broker.open(kind, "heart-beats", heartbeats=(hb_ms, hb_ms))
    offered = rec.connected_frame.headers.get("heart-beat", "0,0")
    sx, sy = (int(v) for v in offered.split(","))
    check(0 < sx <= hb_ms and 0 < sy <= hb_ms,
          "this scenario needs a broker offering heart-beats <= %d ms both ways; CONNECTED heart-beat: %r"
          % (hb_ms, offered))
    # Idle: only heart-beats flow. stomp.py reports a timeout when the server
    # is silent for 1.5 periods; the server closes the connection when we are.
    time.sleep(idle_s)
    check(rec.heartbeat_timeouts == 0, "stomp.py saw no server heart-beat in time (%d timeouts)" % rec.heartbeat_timeouts)
    check(not rec.disconnected.is_set() and conn.is_connected(), "still connected after an idle period")
    check(rec.heartbeats >= 2, "the server sent heart-beats while idle (%d in %ss)" % (rec.heartbeats, idle_s))
    rid = new_receipt("r")
    conn.send("/topic/py-hb-%s" % RUN, "still here", receipt=rid)
    rec.wait_receipt(rid)
    close(conn, rec)


# ---------------------------------------------------------------- STOMP 1.1 and 1.0


def scenario_11(broker):
    kind = "tcp-1.1"
    destination = "/queue/py-11-%s" % RUN
    conn, rec = broker.open(kind, "consumer")
    check_eq(rec.connected_frame.headers.get("version"), "1.1", "CONNECTED version")
    subscribe(conn, rec, destination, "sub-11", "client-individual")
    producer, prec = broker.open(kind, "producer")
    custom = "a:b line1\nline2"  # 1.1 escapes \n, : and \ (no \r)
    rid = new_receipt("r")
    producer.send(destination, "from 1.1", headers={"x-custom": custom}, receipt=rid)
    prec.wait_receipt(rid)

    m = rec.next_message("the 1.1 message")
    check_message(m, destination, "sub-11")
    check_eq(m.body, "from 1.1", "MESSAGE body")
    check_eq(m.headers.get("x-custom"), custom, "custom header under 1.1 escaping")
    # STOMP 1.1: ACK names the message-id (and the subscription).
    rid = new_receipt("ack")
    conn.ack(m.headers["message-id"], m.headers["subscription"], receipt=rid)
    rec.wait_receipt(rid)
    rec.no_message("the ACKed message must not come back")

    # NACK exists in 1.1 too.
    producer.send(destination, "nack under 1.1")
    n = rec.next_message("the message to NACK")
    conn.nack(n.headers["message-id"], n.headers["subscription"])
    n2 = rec.next_message("the NACKed message again")
    check_eq(n2.body, "nack under 1.1", "redelivered body")
    check_eq(n2.headers.get("redelivered"), "true", "redelivered header after NACK")
    rid = new_receipt("ack")
    conn.ack(n2.headers["message-id"], n2.headers["subscription"], receipt=rid)
    rec.wait_receipt(rid)
    close(conn, rec)

    again, arec = broker.open(kind, "consumer-again")
    subscribe(again, arec, destination, "sub-11b", "client-individual")
    arec.no_message("every message was ACKed; a new subscriber must not get any")
    close(again, arec)
    close(producer, prec)


def scenario_10(broker):
    kind = "tcp-1.0"
    destination = "/queue/py-10-%s" % RUN
    conn, rec = broker.open(kind, "consumer")
    version = rec.connected_frame.headers.get("version")
    check(version in (None, "1.0"), "CONNECTED version for a 1.0 client is absent or 1.0, got %r" % version)
    # 1.0 has no subscription id requirement and only auto/client acks.
    rid = new_receipt("sub")
    conn.subscribe(destination, ack="client", receipt=rid)
    rec.wait_receipt(rid)
    producer, prec = broker.open(kind, "producer")
    rid = new_receipt("r")
    # 1.0 has no header escaping: a colon after the first one is part of the value.
    producer.send(destination, "from 1.0", headers={"x-custom": "a:b c"}, receipt=rid)
    prec.wait_receipt(rid)

    m = rec.next_message("the 1.0 message")
    check_message(m, destination)
    check_eq(m.body, "from 1.0", "MESSAGE body")
    check_eq(m.headers.get("x-custom"), "a:b c", "custom header with a colon, unescaped under 1.0")
    rid = new_receipt("ack")
    conn.ack(m.headers["message-id"], receipt=rid)
    rec.wait_receipt(rid)
    rec.no_message("the ACKed message must not come back")

    # Transactions exist in 1.0.
    tx = producer.begin()
    producer.send(destination, "1.0 aborted", transaction=tx)
    producer.abort(tx)
    tx = producer.begin()
    producer.send(destination, "1.0 committed", transaction=tx)
    rid = new_receipt("commit")
    producer.commit(tx, receipt=rid)
    prec.wait_receipt(rid)
    c = rec.next_message("the committed message")
    check_eq(c.body, "1.0 committed", "committed message (the aborted one must not arrive)")
    rid = new_receipt("ack")
    conn.ack(c.headers["message-id"], receipt=rid)
    rec.wait_receipt(rid)
    rec.no_message("the aborted message must never arrive")
    close(conn, rec)

    again, arec = broker.open(kind, "consumer-again")
    rid = new_receipt("sub")
    again.subscribe(destination, ack="client", receipt=rid)
    arec.wait_receipt(rid)
    arec.no_message("every message was ACKed; a new subscriber must not get any")
    close(again, arec)
    close(producer, prec)


def scenario_cross_version(broker):
    destination = "/topic/py-versions-%s" % RUN
    conns = {}
    for kind in ("tcp-1.0", "tcp-1.1", "tcp-1.2", "ws-1.2"):
        conn, rec = broker.open(kind, "cross")
        rid = new_receipt("sub")
        conn.subscribe(destination, id="sub-%s" % kind, ack="auto", receipt=rid)
        rec.wait_receipt(rid)
        conns[kind] = (conn, rec)
    # Every sender's header reaches every receiver, each in its own version's
    # encoding: 1.2 and 1.1 escape ':' and '\\', 1.0 has no escapes.
    value = "a:b\\d e"
    for sender in conns:
        conn, rec = conns[sender]
        body = "from %s" % sender
        rid = new_receipt("r")
        conn.send(destination, body, headers={"x-custom": value}, receipt=rid)
        rec.wait_receipt(rid)
        for receiver, (_, rrec) in conns.items():
            m = rrec.next_message("%s's message at %s" % (sender, receiver))
            check_eq(m.body, body, "body %s -> %s" % (sender, receiver))
            check_eq(m.headers.get("x-custom"), value, "custom header %s -> %s" % (sender, receiver))
    for conn, rec in conns.values():
        rec.no_message("one message per sender")
        close(conn, rec)


def main():
    global current_scenario
    if len(sys.argv) != 3:
        sys.stderr.write("usage: stomppy_test.py HTTP_ADDR STOMP_ADDR\n")
        sys.exit(2)
    broker = Broker(sys.argv[1], sys.argv[2])

    timer = threading.Timer(GLOBAL_TIMEOUT_S, fail_now,
                            ["global timeout: the run took longer than %ss" % GLOBAL_TIMEOUT_S])
    timer.daemon = True
    timer.start()

    scenarios = []
    for kind in ("tcp-1.2", "ws-1.2"):
        scenarios += [
            ("%s connect" % kind, lambda k=kind: scenario_12_connect(broker, k)),
            ("%s send-receive-ack" % kind, lambda k=kind: scenario_12_send_receive_ack(broker, k)),
            ("%s nack" % kind, lambda k=kind: scenario_12_nack(broker, k)),
            ("%s transactions" % kind, lambda k=kind: scenario_12_transactions(broker, k)),
            ("%s topic-binary" % kind, lambda k=kind: scenario_12_topic_binary(broker, k)),
            ("%s heart-beats" % kind, lambda k=kind: scenario_12_heartbeats(broker, k)),
            ("%s disconnect" % kind, lambda k=kind: scenario_12_disconnect(broker, k)),
        ]
    scenarios += [
        ("tcp-1.1 subscribe-send-ack-nack", lambda: scenario_11(broker)),
        ("tcp-1.0 subscribe-send-ack-transactions", lambda: scenario_10(broker)),
        ("cross-version headers", lambda: scenario_cross_version(broker)),
    ]

    for name, run in scenarios:
        current_scenario = name
        try:
            run()
        except Exception:
            fail_now(traceback.format_exc())
        print("ok %s" % name, flush=True)
    print("%d passed, 0 failed" % len(scenarios), flush=True)
    # stomp.py's receiver threads are not daemons on every path; do not wait for them.
    os._exit(0)


if __name__ == "__main__":
    main()
