"""The table of bench/compare: reads the raw results of a run and prints, in
Markdown, every figure of every broker, tandem's ratio to each peer, and issue
21's target beside each ratio with met or missed. A figure that is missing says
why, in a numbered note under the table.

    python3 bench/compare_table.py OUT "BROKERS" FILL SCALE_CONNS SCALE_QUEUES ACK_MODE PREFETCH ACK_EVERY
"""
import json
import os
import statistics
import sys

out, brokers = sys.argv[1], sys.argv[2].split()
fill, conns, queues = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
ack_mode, prefetch, ack_every = sys.argv[6], sys.argv[7], sys.argv[8]
PEERS = [b for b in ("activemq", "rabbitmq") if b in brokers]
NAMES = {"activemq": "ActiveMQ", "rabbitmq": "RabbitMQ", "bare": "bare server", "tandem": "tandem"}


def path(name):
    return os.path.join(out, name)


def text(name):
    try:
        with open(path(name)) as f:
            return f.read().strip()
    except OSError:
        return None


def number(name):
    t = text(name)
    try:
        return float(t.split()[0]) if t else None
    except ValueError:
        return None


def js(name):
    t = text(name)
    if not t:
        return None
    try:
        return json.loads(t)
    except ValueError:
        return None


notes = []  # reasons for missing figures, numbered


def missing(reason):
    if reason not in notes:
        notes.append(reason)
    return f"— [{notes.index(reason) + 1}]"


GROUPS = {"single": "loads", "fill": "fill", "conns": "conns", "queues": "queues", "s1": "single", "pair": "failover"}
SKIPPED = os.environ.get("SKIP", "").split()


def why(broker, store, result, scenario):
    """Why a broker has no figure for a scenario."""
    if GROUPS.get(store) in SKIPPED:
        return f"{scenario}: skipped (SKIP={' '.join(SKIPPED)})"
    down = text(f"{broker}-down")
    if down:
        return f"{NAMES[broker]}: not run: {down}"
    failed = text(f"{broker}-{store}-failed")
    if failed:
        return f"{NAMES[broker]}, {scenario}: the broker {failed}"
    err = text(f"{result}.err") if result else None
    if err:
        return f"{NAMES[broker]}, {scenario}: {err.splitlines()[0][:300]}"
    return f"{NAMES[broker]}, {scenario}: no result (see {result or store} in {out})"


class Fig:
    """A figure of one broker: a value, or the reason it is missing."""

    def __init__(self, value=None, reason=None):
        self.value, self.reason = value, reason


def get(broker, store, result, scenario, extract):
    """Reads a figure out of a JSON result (or a plain file when extract is
    None), or says why it is missing."""
    try:
        if extract is None:
            v = number(result)
        elif os.path.exists(path(f"{result}.failed")):
            v = None  # the run failed: its partial figures are not shown
        else:
            d = js(f"{result}.json")
            v = extract(d) if d is not None else None
    except (KeyError, TypeError):
        v = None
    if v is None:
        return Fig(reason=why(broker, store, result, scenario))
    return Fig(float(v))


def fmt(v, unit):
    if v is None:
        return "—"
    if unit in ("ms", "µs/msg", "MiB", "KiB", "%", "s"):
        digits = 1 if abs(v) < 100 else 0
        if unit == "%":
            digits = 2
        return f"{v:,.{digits}f} {unit}"
    return f"{v:,.0f} {unit}"


rows = []


def row(label, figs, better, unit, targets=None, ratios=None):
    """figs: broker -> Fig. better: "higher" or "lower". targets: peer ->
    the ratio tandem must reach (x for higher, 1/x for lower). ratios:
    peer -> a ratio computed elsewhere (the median of rounds in (1))."""
    rows.append((label, figs, better, unit, targets or {}, ratios or {}))


def ratio_cell(t, p, better, target, given):
    if t.value is None or p.value is None:
        return "—"
    if given is not None:
        r = given
    elif better == "higher":
        r = t.value / p.value if p.value else float("inf")
    else:
        r = p.value / t.value if t.value else float("inf")
    if r == float("inf"):
        shown = "∞ (a zero)"
    elif better == "higher":
        shown = f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"
    else:
        shown = f"1/{r:.1f}"
    if target is None:
        return shown
    ok = r >= target
    tgt = f"≥ {target:g}×" if better == "higher" else f"≤ 1/{target:g}"
    return f"{shown} ({tgt}: {'met' if ok else '**missed**'})"


# --- (1) and (1b): turns --------------------------------------------------------
order = [l.split() for l in (text("s1-order") or "").splitlines()]
raws = [float(x) for x in (text("s1-raw") or "").split()]
s1 = {}  # (n, broker) -> list of (round, rate, cpu per message, raw around)
for i, (rnd, n, b) in enumerate(order):
    d = js(f"s1-r{rnd}-n{n}-{b}.json")
    if not d or os.path.exists(path(f"s1-r{rnd}-n{n}-{b}.failed")):
        continue
    raw = (raws[i] + raws[i + 1]) / 2 if i + 1 < len(raws) else None
    cpu = d.get("server_cpu_us_per_message") if b == "bare" else d.get("broker_cpu_us_per_message")
    s1.setdefault((int(n), b), []).append((int(rnd), d["confirmed_per_second"], cpu, raw))


def s1fig(n, b, what):
    turns = s1.get((n, b))
    if not turns:
        if b == "bare":
            if "single" in SKIPPED:
                return Fig(reason=f"(1): skipped (SKIP={' '.join(SKIPPED)})")
            return Fig(reason=f"bare server, (1) with {n}: no result (see s1-*-bare.err in {out})")
        return Fig(reason=why(b, "s1", f"s1-r1-n{n}-{b}", f"(1) with {n} producer(s)"))
    vals = [t[1] if what == "rate" else t[2] for t in turns]
    vals = [v for v in vals if v is not None]
    return Fig(statistics.mean(vals)) if vals else Fig(reason=f"{NAMES[b]}: no CPU figure in (1)")


def s1median(n, b):
    """The median over rounds of tandem's rate over b's in the same round."""
    t = {r: rate for r, rate, _, _ in s1.get((n, "tandem"), [])}
    p = {r: rate for r, rate, _, _ in s1.get((n, b), [])}
    rs = [t[r] / p[r] for r in sorted(t) if r in p and p[r]]
    return (statistics.median(rs) if rs else None), rs


for n, label, tg in ((1, "(1) confirmed sends/s, 1 producer (mean of turns; ratio: median of rounds)", {"activemq": 2, "rabbitmq": 1.5, "bare": 0.85}),
                     (16, "(1b) confirmed sends/s, 16 producers (mean of turns; ratio: median of rounds)", {"bare": 0.85})):
    figs = {b: s1fig(n, b, "rate") for b in PEERS + ["bare", "tandem"]}
    row(label, figs, "higher", "msg/s", tg, {b: s1median(n, b)[0] for b in PEERS + ["bare"]})
    row(f"({'1' if n == 1 else '1b'}) broker CPU per confirmed message", {b: s1fig(n, b, "cpu") for b in PEERS + ["bare", "tandem"]}, "lower", "µs/msg")

# --- (2) and (3) ---------------------------------------------------------------
modes = {"auto": "ack:auto", "client": f"{ack_mode} acks, prefetch {prefetch}" + (f", every {ack_every}" if ack_every not in ("", "1") else "")}
for mode, how in modes.items():
    def g(b, s, ex, sc):
        return get(b, "single", f"{b}-{s}-{mode}", sc, ex)
    sc2, sc3 = f"(2) {how}", f"(3) {how}"
    row(f"(2) confirmed sends/s, 8p/4c persistent, {how}", {b: g(b, "s2", lambda d: d["confirmed_per_second"], sc2) for b in brokers},
        "higher", "msg/s", {"activemq": 10, "rabbitmq": 5})
    row(f"(2) p99 send-to-confirm, {how}", {b: g(b, "s2", lambda d: d["send_to_confirm"]["p99_ms"], sc2) for b in brokers},
        "lower", "ms", {"activemq": 5, "rabbitmq": 5})
    row(f"(2) broker CPU per message received, {how}", {b: g(b, "s2", lambda d: d["broker_cpu_us_per_message"], sc2) for b in brokers},
        "lower", "µs/msg", {"activemq": 5, "rabbitmq": 5})
    row(f"(3) received/s, 8p/4c non-persistent, {how}", {b: g(b, "s3", lambda d: d["received_per_second"], sc3) for b in brokers},
        "higher", "msg/s", {"activemq": 3, "rabbitmq": 3})
    row(f"(3) broker CPU per message received, {how}", {b: g(b, "s3", lambda d: d["broker_cpu_us_per_message"], sc3) for b in brokers},
        "lower", "µs/msg", {"activemq": 5, "rabbitmq": 5})

# --- (4) to (8) ------------------------------------------------------------------
row("(4) idle resident memory", {b: get(b, "single", f"{b}-idle-rss", "(4) idle", None) for b in brokers}, "lower", "MiB", {"activemq": 5, "rabbitmq": 5})
row(f"(4) resident memory with {fill:,} messages queued", {b: get(b, "fill", f"{b}-full-rss", "(4) filled", None) for b in brokers}, "lower", "MiB")
row("(4) filling rate, 4 producers, transactions of 100", {b: get(b, "fill", f"{b}-fill", "(4) filling", lambda d: d["confirmed_per_second"]) for b in brokers}, "higher", "msg/s")
row("(4) broker CPU per message filled", {b: get(b, "fill", f"{b}-fill", "(4) filling", lambda d: d["broker_cpu_us_per_message"]) for b in brokers}, "lower", "µs/msg")
row("(5) start-up to STOMP CONNECTED", {b: get(b, "single", f"{b}-startup-ms", "(5)", None) for b in brokers}, "lower", "ms", {"activemq": 10, "rabbitmq": 10})
fo = {}
for b in brokers:
    if b == "rabbitmq":
        fo[b] = Fig(reason="RabbitMQ: (6) not measured: it has no live/backup pair on a shared store (it replicates queues across a cluster instead)")
    else:
        ms = [float(x) for x in (text(f"{b}-failover-ms") or "").split()]
        fo[b] = Fig(statistics.median(ms)) if ms else Fig(reason=why(b, "pair", None, "(6) failover"))
row("(6) failover, SIGKILL of the live to CONNECTED on the backup (median; issue 2's target)", fo, "lower", "ms", {"activemq": 10})
cs = f"(7) {conns:,} idle connections"
row(f"{cs}: resident memory with them", {b: get(b, "conns", f"{b}-conns", cs, lambda d: d["broker_rss_mib"] if d["connected"] else None) for b in brokers},
    "lower", "MiB", {"activemq": 3, "rabbitmq": 3})
row(f"{cs}: resident memory per connection", {b: get(b, "conns", f"{b}-conns", cs, lambda d: d["broker_rss_per_connection_kib"] if d["connected"] else None) for b in brokers}, "lower", "KiB")
row(f"{cs}: connections opened per second (32 at once)", {b: get(b, "conns", f"{b}-conns", cs, lambda d: d["connects_per_second"]) for b in brokers}, "higher", "/s")
row(f"{cs}: broker CPU while idle (share of a core)", {b: get(b, "conns", f"{b}-conns", cs, lambda d: d["broker_cpu_idle_percent_of_a_core"]) for b in brokers}, "lower", "%")
qs = f"(8) {queues:,} queues, a consumer each"
row(f"{qs}: confirmed sends/s, 8 producers", {b: get(b, "queues", f"{b}-queues", qs, lambda d: d["confirmed_per_second"]) for b in brokers}, "higher", "msg/s")
row(f"{qs}: p99 send-to-confirm", {b: get(b, "queues", f"{b}-queues", qs, lambda d: d["send_to_confirm"]["p99_ms"]) for b in brokers}, "lower", "ms")
row(f"{qs}: broker CPU per message received", {b: get(b, "queues", f"{b}-queues", qs, lambda d: d["broker_cpu_us_per_message"]) for b in brokers}, "lower", "µs/msg")
row(f"{qs}: time to connect and subscribe", {b: get(b, "queues", f"{b}-queues", qs, lambda d: d["setup_seconds"]) for b in brokers}, "lower", "s")
row(f"{qs}: resident memory after the load", {b: get(b, "queues", f"{b}-queues-rss", qs, None) for b in brokers}, "lower", "MiB")

# --- print -------------------------------------------------------------------------
machine = text("machine") or ""
print()
print(machine)
print(f"raw fdatasync rate at the start: {number('raw-fsync') or 0:,.0f}/s (1 KiB, one writer, dd oflag=dsync)")
print()
cols = PEERS + ["bare", "tandem"]
head = ["figure"] + [NAMES[b] for b in cols] + [f"tandem vs {NAMES[b]}" for b in PEERS + ["bare"]]
print("| " + " | ".join(head) + " |")
print("|---|" + "---:|" * len(cols) + "---|" * (len(PEERS) + 1))
for label, figs, better, unit, targets, given in rows:
    cells = [label]
    for b in cols:
        f = figs.get(b)
        if f is None:
            cells.append("")
        elif f.value is None:
            cells.append(missing(f.reason))
        else:
            cells.append(fmt(f.value, unit))
    t = figs.get("tandem", Fig())
    for b in PEERS + ["bare"]:
        p = figs.get(b)
        cells.append(ratio_cell(t, p, better, targets.get(b), given.get(b)) if p is not None else "")
    print("| " + " | ".join(cells) + " |")
print()
for i, n in enumerate(notes):
    print(f"[{i + 1}] {n}")
if notes:
    print()

# --- details -------------------------------------------------------------------------
for n in (1, 16):
    parts = []
    for b in PEERS + ["bare", "tandem"]:
        turns = s1.get((n, b), [])
        if turns:
            parts.append(f"{NAMES[b]} {' '.join(f'{r:,.0f}' for _, r, _, _ in turns)}")
    print(f"({'1' if n == 1 else '1b'}) {n} producer(s), msg/s turn by turn: {'; '.join(parts) or 'none'}")
    for b in PEERS + ["bare"]:
        med, rs = s1median(n, b)
        if rs:
            print(f"    tandem / {NAMES[b]} round by round: {' '.join(f'{x:.2f}' for x in rs)} (median {med:.2f})")
    for b in PEERS + ["bare", "tandem"]:
        fr = [r / raw for _, r, _, raw in s1.get((n, b), []) if raw]
        if fr:
            print(f"    {NAMES[b]} against the raw fdatasync rate around each turn: {statistics.mean(fr):.2f} on average")
if raws:
    print(f"(1) raw fdatasync rates before each turn and after the last: {min(raws):,.0f}–{max(raws):,.0f}/s")
for mode, how in modes.items():
    for s in ("s2", "s3"):
        parts = []
        for b in brokers:
            d = js(f"{b}-{s}-{mode}.json")
            if d and d.get("end_to_end"):
                cpu = f", load generator {d.get('client_cpu_us_per_message', 0):.1f} µs/msg" if d.get("client_cpu_us_per_message") else ""
                parts.append(f"{NAMES[b]} p50 end to end {d['end_to_end']['p50_ms']:.1f} ms, p99 {d['end_to_end']['p99_ms']:.1f} ms{cpu}")
        if parts:
            print(f"({s[1]}) {how}: {'; '.join(parts)}")
for b in brokers:
    f = js(f"{b}-fill.json")
    full, before = number(f"{b}-full-rss"), number(f"{b}-before-fill-rss")
    if f and full is not None and before is not None:
        q = f["total_confirmed"]
        per = (full - before) * 1048576 / q if q else float("nan")
        print(f"(4) {NAMES[b]}: {q:,} of {fill:,} messages queued at {f['confirmed_per_second']:,.0f} msg/s; "
              f"resident {before:,.0f} -> {full:,.0f} MiB ({per:,.0f} B per message)")
for b in brokers:
    d = js(f"{b}-conns.json")
    if d:
        print(f"(7) {NAMES[b]}: {d['connected']:,} of {d['connections']:,} connected in {d['connect_seconds']:.1f} s from "
              f"{d['source_addresses']} source addresses, {d['still_connected']:,} still served after {d['hold_seconds']:.0f} s idle; "
              f"resident {d.get('broker_rss_before_mib', 0):,.0f} -> {d.get('broker_rss_mib', 0):,.0f} MiB; CPU {d.get('broker_cpu_us_per_connect', 0):,.0f} µs per connection"
              + (f"; first failure: {d['first_error'][:200]}" if d.get("first_error") else ""))
for b in brokers:
    d = js(f"{b}-queues.json")
    before = number(f"{b}-queues-rss-before")
    if d:
        print(f"(8) {NAMES[b]}: {d['consumers']} consumer connections; received {d['received_per_second']:,.0f} msg/s; "
              f"resident {before or 0:,.0f} MiB before")
fo_runs = [f"{NAMES[b]} {' '.join(text(f'{b}-failover-ms').split())}" for b in brokers if text(f"{b}-failover-ms")]
if fo_runs:
    print(f"(6) every failover run (ms): {'; '.join(fo_runs)}")
print()
print("Not measured by bench/compare: issue 21's targets for resident memory under 1,000,000 queued messages within the "
      "default global limit and for takeover with 1,000,000 messages (the bounded-memory and following-backup work).")
