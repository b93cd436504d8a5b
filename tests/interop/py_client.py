#!/usr/bin/env python3
"""Interop client for switchyard using autobahn-python (asyncio flavour).

Why this exists: it checks that a real third-party WAMP client library can
talk to the router. tests/interop.rs runs it; it can also be run by hand:

    python py_client.py suite      ws://127.0.0.1:8080/ws json realm1 --prefix t1
    python py_client.py callee     rs://127.0.0.1:8080 msgpack realm1 --uri com.x.echo --count 1
    python py_client.py call       ws://127.0.0.1:8080/ws cbor realm1 --uri com.x.echo --peer js
    python py_client.py subscriber ws://127.0.0.1:8080/ws json realm1 --uri com.x.topic --count 3
    python py_client.py publisher  ws://127.0.0.1:8080/ws json realm1 --uri com.x.topic --count 3

ws:// and wss:// URLs use WebSocket, rs:// URLs use RawSocket (TCP).
"callee" and "subscriber" print READY once registered/subscribed and exit
after --count calls/events, so a harness can start the peer after READY.
Exit status 0 means success; anything else prints a FAIL line saying why.
The whole run is bounded by --timeout seconds (default 20).
"""

import argparse
import asyncio
import sys

import txaio

txaio.use_asyncio()

from autobahn.asyncio.component import Component  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.types import CallOptions, CallResult, PublishOptions, RegisterOptions, SubscribeOptions  # noqa: E402

# The payload every scenario sends; the js client (js_client.js) uses the same
# values, so cross-library runs can check what arrived. Binary values are
# bytes here (the router must translate them for JSON peers).
BINARY = bytes([0, 1, 2, 127, 128, 254, 255])
PAYLOAD_ARGS = [42, -7, 2.5, "héllo wörld ☃ 日本語 🚀", True, None, [1, 2, {"x": "y"}], BINARY]
PAYLOAD_KWARGS = {"text": "ünïcödé ✓", "bin": BINARY, "nested": {"a": [1, 2, 3], "b": None}}

# What the script is doing right now, so a timeout message says where it hung.
step = "start"


class Failure(Exception):
    """A scenario did not behave as expected."""


def check(cond, what):
    if not cond:
        raise Failure(what)


def set_step(name):
    global step
    step = name
    print(f"step: {name}", flush=True)


def transport_config(url, serializer):
    if url.startswith("rs://") or url.startswith("rss://"):
        return {"type": "rawsocket", "url": url, "serializer": serializer, "max_retries": 0}
    return {"type": "websocket", "url": url, "serializers": [serializer], "max_retries": 0}


async def open_session(args, name):
    """Connect and join; returns the joined ApplicationSession."""
    set_step(f"connect {name} ({args.url}, {args.serializer})")
    comp = Component(transports=[transport_config(args.url, args.serializer)], realm=args.realm)
    loop = asyncio.get_running_loop()
    joined = loop.create_future()

    @comp.on_join
    def _joined(session, details):
        if not joined.done():
            joined.set_result(session)

    @comp.on_disconnect
    def _disconnected(session, was_clean):
        if not joined.done():
            joined.set_exception(Failure(f"{name}: disconnected before joining (clean={was_clean})"))

    running = asyncio.ensure_future(comp.start(loop=loop))
    done, _ = await asyncio.wait([joined, running], return_when=asyncio.FIRST_COMPLETED)
    if joined.done():
        return joined.result()
    # the component stopped before joining: surface why
    exc = running.exception() if not running.cancelled() else None
    raise Failure(f"{name}: could not join realm {args.realm!r}: {exc!r}")


async def expect_error(coro, uri, what):
    """Await coro and check that it fails with ApplicationError `uri`."""
    try:
        result = await coro
    except ApplicationError as e:
        check(e.error == uri, f"{what}: expected error {uri}, got {e.error} {e.args} {e.kwargs}")
        return e
    raise Failure(f"{what}: expected error {uri}, but it succeeded with {result!r}")


async def wait_for_items(queue, n, what, timeout=5.0):
    items = []
    try:
        for _ in range(n):
            items.append(await asyncio.wait_for(queue.get(), timeout))
    except asyncio.TimeoutError:
        raise Failure(f"{what}: got {len(items)} of {n} within {timeout}s: {items!r}")
    return items


# ---------------------------------------------------------------- suite


async def run_suite(args):
    p = args.prefix
    a = await open_session(args, "session A")
    b = await open_session(args, "session B")

    set_step("pubsub: acknowledge and publisher exclusion")
    topic = f"com.interop.{p}.topic"
    got_a, got_b = asyncio.Queue(), asyncio.Queue()
    await a.subscribe(lambda *ar, **kw: got_a.put_nowait((ar, kw)), topic)
    await b.subscribe(lambda *ar, **kw: got_b.put_nowait((ar, kw)), topic)
    pub1 = await a.publish(topic, *PAYLOAD_ARGS, seq=1, options=PublishOptions(acknowledge=True), **PAYLOAD_KWARGS)
    check(pub1 is not None and isinstance(pub1.id, int), f"acknowledged publish returned {pub1!r}")
    pub2 = await a.publish(
        topic, *PAYLOAD_ARGS, seq=2, options=PublishOptions(acknowledge=True, exclude_me=False), **PAYLOAD_KWARGS
    )
    check(pub2 is not None and pub2.id != pub1.id, f"second publication id {pub2!r} vs {pub1!r}")
    events_b = await wait_for_items(got_b, 2, "subscriber B events")
    for (ev_args, ev_kwargs), seq in zip(events_b, [1, 2]):
        check(list(ev_args) == PAYLOAD_ARGS, f"event args mismatch: {ev_args!r}")
        check(ev_kwargs == dict(PAYLOAD_KWARGS, seq=seq), f"event kwargs mismatch: {ev_kwargs!r}")
    # Events from one publisher arrive in order, so if A's first event is
    # seq 2, the exclude_me=True event 1 was (correctly) never delivered to A.
    (ev_a,) = await wait_for_items(got_a, 1, "publisher A own event with exclude_me=False")
    check(ev_a[1].get("seq") == 2, f"publisher received its own excluded event: {ev_a!r}")

    set_step("pubsub: unsubscribe")
    sub = await b.subscribe(lambda *ar, **kw: got_b.put_nowait(("late", ar)), f"com.interop.{p}.topic2")
    await sub.unsubscribe()
    await a.publish(f"com.interop.{p}.topic2", 1, options=PublishOptions(acknowledge=True))

    # Pattern-based subscriptions (12.5): one event per matching subscription,
    # each with the concrete topic in its details. The last publish matches
    # only the prefix: had the unmatched one been delivered, it would come first.
    set_step("pubsub: prefix and wildcard subscriptions")
    got_pattern = asyncio.Queue()

    def on_pattern(kind):
        return lambda *ar, details=None, **kw: got_pattern.put_nowait((kind, details.topic, list(ar)))

    base = f"com.interop.{p}.pat"
    await b.subscribe(on_pattern("prefix"), f"{base}.", options=SubscribeOptions(match="prefix", details_arg="details"))
    await b.subscribe(
        on_pattern("wildcard"), f"{base}..leaf", options=SubscribeOptions(match="wildcard", details_arg="details")
    )
    for n, t in enumerate([f"{base}.x.leaf", f"com.interop.{p}.other.x.leaf", f"{base}.y"]):
        await a.publish(t, n, options=PublishOptions(acknowledge=True))
    got = await wait_for_items(got_pattern, 3, "pattern events")
    expected = [("prefix", f"{base}.x.leaf", [0]), ("wildcard", f"{base}.x.leaf", [0]), ("prefix", f"{base}.y", [2])]
    check(sorted(got[:2]) == expected[:2] and got[2] == expected[2], f"pattern events: {got!r}")

    set_step("rpc: args/kwargs round trip with binary and unicode")
    echo = f"com.interop.{p}.echo"
    await b.register(lambda *ar, **kw: CallResult(*ar, **kw), echo)
    res = await a.call(echo, *PAYLOAD_ARGS, **PAYLOAD_KWARGS)
    check(isinstance(res, CallResult), f"echo returned {res!r}, expected CallResult")
    check(list(res.results) == PAYLOAD_ARGS, f"echo args mismatch: {res.results!r}")
    check(res.kwresults == PAYLOAD_KWARGS, f"echo kwargs mismatch: {res.kwresults!r}")

    # 100 kB: beyond WebSocket's 16-bit frame length, within Crossbar's default
    # RawSocket limit of 128 KiB (so the scripts also pass against Crossbar).
    set_step("rpc: 100 kB argument")
    big = "0123456789abcdef" * 6250
    res = await a.call(echo, big)
    check(res == big, f"100 kB echo came back as {len(res) if isinstance(res, str) else res!r}")

    set_step("rpc: simple call")
    await b.register(lambda x, y: x + y, f"com.interop.{p}.add")
    res = await a.call(f"com.interop.{p}.add", 2, 3)
    check(res == 5, f"add(2, 3) returned {res!r}")

    # Shared registration (11.9): both sessions register the same procedure
    # round-robin; calls alternate between them in registration order.
    set_step("rpc: shared registration, roundrobin")
    shared = f"com.interop.{p}.shared"
    shared_opts = RegisterOptions(invoke="roundrobin")
    await a.register(lambda: "a", shared, options=shared_opts)
    await b.register(lambda: "b", shared, options=shared_opts)
    answers = [await a.call(shared) for _ in range(4)]
    check(answers == ["a", "b", "a", "b"], f"roundrobin answers: {answers!r}")
    await expect_error(
        b.register(lambda: None, shared, options=RegisterOptions(invoke="random")),
        "wamp.error.procedure_exists_with_different_invocation_policy",
        "shared registration with another policy",
    )

    # Pattern-based registrations (11.8): the best match gets the call, and a
    # pattern's callee learns the concrete procedure.
    set_step("rpc: prefix and wildcard registrations")
    base = f"com.interop.{p}.obj"

    def concrete(kind):
        return lambda details=None: [kind, details.procedure]

    await b.register(
        concrete("prefix"), f"{base}.", options=RegisterOptions(match="prefix", details_arg="details")
    )
    await b.register(
        concrete("wildcard"),
        f"com.interop.{p}..get",
        options=RegisterOptions(match="wildcard", details_arg="details"),
    )
    cases = [(f"{base}.x.get", "prefix"), (f"com.interop.{p}.other.get", "wildcard")]
    for called, expected in cases:
        res = await a.call(called)
        check(res == [expected, called], f"call {called} answered {res!r}")
    await expect_error(a.call(f"com.interop.{p}.other.put"), "wamp.error.no_such_procedure", "no pattern match")

    set_step("error: call unregistered procedure")
    await expect_error(a.call(f"com.interop.{p}.nothing_here"), "wamp.error.no_such_procedure", "call unregistered")

    set_step("error: call after unregister")
    reg = await b.register(lambda: "gone soon", f"com.interop.{p}.temp")
    check(await a.call(f"com.interop.{p}.temp") == "gone soon", "temp procedure before unregister")
    await reg.unregister()
    await expect_error(a.call(f"com.interop.{p}.temp"), "wamp.error.no_such_procedure", "call after unregister")

    set_step("error: callee raises ApplicationError")

    def fail():
        raise ApplicationError("com.example.error.custom", 1, 2, a=3)

    await b.register(fail, f"com.interop.{p}.fail")
    e = await expect_error(a.call(f"com.interop.{p}.fail"), "com.example.error.custom", "callee error")
    check(list(e.args) == [1, 2], f"callee error args: {e.args!r}")
    check(e.kwargs == {"a": 3}, f"callee error kwargs: {e.kwargs!r}")

    set_step("error: register an already registered procedure")
    await expect_error(a.register(lambda: None, echo), "wamp.error.procedure_already_exists", "double register")

    # The realm must use strict URI checking: this URI passes autobahn's own
    # (loose) client-side check, so only the router can reject it.
    set_step("error: invalid URI")
    bad = f"com.interop.{p}.Not-Strict"
    err = "wamp.error.invalid_uri"
    await expect_error(a.register(lambda: None, bad), err, "register invalid URI")
    await expect_error(a.subscribe(lambda: None, bad), err, "subscribe invalid URI")
    await expect_error(a.call(bad), err, "call invalid URI")
    await expect_error(a.publish(bad, options=PublishOptions(acknowledge=True)), err, "publish invalid URI")

    # Call timeout (11.3): the router ends the call with wamp.error.timeout and
    # sends INTERRUPT to the callee (autobahn announces call canceling), which
    # cancels the running handler.
    set_step("rpc: call timeout interrupts the callee")
    interrupted = asyncio.Queue()

    async def slow():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.put_nowait(True)
            raise

    await b.register(slow, f"com.interop.{p}.slow")
    await expect_error(
        a.call(f"com.interop.{p}.slow", options=CallOptions(timeout=300)), "wamp.error.timeout", "call timeout"
    )
    await wait_for_items(interrupted, 1, "callee handler canceled by INTERRUPT")

    # Call canceling (11.4): canceling the call's future sends CANCEL; the
    # callee's handler is interrupted.
    set_step("rpc: cancel interrupts the callee")
    pending = asyncio.ensure_future(a.call(f"com.interop.{p}.slow"))
    await asyncio.sleep(0.3)
    pending.cancel()
    try:
        await pending
    except (asyncio.CancelledError, ApplicationError):
        pass
    await wait_for_items(interrupted, 1, "callee handler canceled by CANCEL")

    set_step("pubsub: nothing arrived after unsubscribe")
    if not got_b.empty():
        raise Failure(f"unexpected event after unsubscribe: {got_b.get_nowait()!r}")

    set_step("leave")
    await a.leave()
    await b.leave()


# ---------------------------------------------------------------- cross-library roles


def check_payload(ar, kw, extra, what):
    check(list(ar) == PAYLOAD_ARGS, f"{what}: args mismatch: {list(ar)!r} != {PAYLOAD_ARGS!r}")
    expected = dict(PAYLOAD_KWARGS, **extra)
    check(kw == expected, f"{what}: kwargs mismatch: {kw!r} != {expected!r}")


async def run_callee(args):
    s = await open_session(args, "callee")
    served = asyncio.Queue()

    def echo(*ar, **kw):
        try:
            check_payload(ar, kw, {}, "callee received")
        except Failure as e:
            served.put_nowait(e)
            raise ApplicationError("com.interop.error.payload_mismatch", str(e))
        # (not "callee": CallResult reserves that keyword)
        result = CallResult(*ar, served_by="python", **kw)
        served.put_nowait(None)
        return result

    set_step(f"register {args.uri}")
    await s.register(echo, args.uri)
    print("READY", flush=True)
    set_step(f"serve {args.count} call(s)")
    for _ in range(args.count):
        problem = await served.get()
        if problem is not None:
            raise problem
    await asyncio.sleep(0.2)  # let the last YIELD go out before GOODBYE
    await s.leave()


async def run_call(args):
    s = await open_session(args, "caller")
    set_step(f"call {args.uri}")
    res = await s.call(args.uri, *PAYLOAD_ARGS, **PAYLOAD_KWARGS)
    check(isinstance(res, CallResult), f"call returned {res!r}, expected CallResult")
    check_payload(res.results, res.kwresults, {"served_by": args.peer}, "call result")
    await s.leave()


async def run_subscriber(args):
    s = await open_session(args, "subscriber")
    got = asyncio.Queue()
    set_step(f"subscribe {args.uri}")
    await s.subscribe(lambda *ar, **kw: got.put_nowait((ar, kw)), args.uri)
    print("READY", flush=True)
    set_step(f"receive {args.count} event(s)")
    for seq in range(args.count):
        ar, kw = await got.get()
        check_payload(ar, kw, {"sent_by": args.peer, "seq": seq}, f"event {seq}")
    await s.leave()


async def run_publisher(args):
    s = await open_session(args, "publisher")
    for seq in range(args.count):
        set_step(f"publish {seq} to {args.uri}")
        pub = await s.publish(
            args.uri, *PAYLOAD_ARGS, sent_by="python", seq=seq,
            options=PublishOptions(acknowledge=True), **PAYLOAD_KWARGS,
        )
        check(pub is not None, "acknowledged publish returned nothing")
    await s.leave()


COMMANDS = {
    "suite": run_suite,
    "callee": run_callee,
    "call": run_call,
    "subscriber": run_subscriber,
    "publisher": run_publisher,
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=COMMANDS)
    ap.add_argument("url", help="ws://host:port/path or rs://host:port")
    ap.add_argument("serializer", choices=["json", "msgpack", "cbor"])
    ap.add_argument("realm")
    ap.add_argument("--prefix", default="py", help="URI component that keeps parallel suites apart")
    ap.add_argument("--uri", help="procedure or topic (callee/call/subscriber/publisher)")
    ap.add_argument("--count", type=int, default=1, help="calls to serve / events to send or receive")
    ap.add_argument("--peer", default="js", help="library expected on the other side (call/subscriber)")
    ap.add_argument("--timeout", type=float, default=20.0, help="overall time limit in seconds")
    args = ap.parse_args()
    if args.command != "suite" and not args.uri:
        ap.error(f"{args.command} needs --uri")

    txaio.start_logging(level="warn")
    label = f"py {args.command} {args.url} {args.serializer}"
    try:
        asyncio.run(asyncio.wait_for(COMMANDS[args.command](args), args.timeout))
    except asyncio.TimeoutError:
        print(f"FAIL {label}: timed out after {args.timeout}s during step: {step}", flush=True)
        sys.exit(2)
    except Failure as e:
        print(f"FAIL {label}: {step}: {e}", flush=True)
        sys.exit(1)
    except ApplicationError as e:
        print(f"FAIL {label}: {step}: unexpected error {e.error} {e.args!r} {e.kwargs!r}", flush=True)
        sys.exit(1)
    except Exception as e:  # unexpected library or router behaviour
        print(f"FAIL {label}: {step}: unexpected {type(e).__name__}: {e!r}", flush=True)
        sys.exit(1)
    print(f"PASS {label}", flush=True)


if __name__ == "__main__":
    main()
