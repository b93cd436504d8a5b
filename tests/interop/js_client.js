#!/usr/bin/env node
// Interop client for switchyard using autobahn-js under node (WebSocket via the `ws` package).
//
// Why this exists: it checks that a real third-party WAMP client library can talk to the
// router, and (together with py_client.py) that the two libraries can talk to each other
// through it. tests/interop.rs runs it (cwd tests/interop); by hand:
//
//   node js_client.js suite      ws://127.0.0.1:8080/ws json realm1 --prefix t1
//   node js_client.js callee     ws://127.0.0.1:8080/ws json realm1 --uri com.x.echo --count 1
//   node js_client.js call       ws://127.0.0.1:8080/ws json realm1 --uri com.x.echo --peer python
//   node js_client.js subscriber ws://127.0.0.1:8080/ws json realm1 --uri com.x.topic --count 3
//   node js_client.js publisher  ws://127.0.0.1:8080/ws json realm1 --uri com.x.topic --count 3
//
// "callee" and "subscriber" print READY once registered/subscribed and exit after --count
// calls/events. Exit status 0 means success; otherwise a FAIL line says why. The whole run
// is bounded by --timeout seconds (default 20).
'use strict';

const util = require('util');
const autobahn = require('autobahn');

// ------------------------------------------------------------------ arguments

const USAGE = 'usage: node js_client.js suite|callee|call|subscriber|publisher URL json|msgpack|cbor REALM ' +
  '[--prefix P] [--uri URI] [--count N] [--peer python|js] [--timeout SECONDS]';

function parseArgs(argv) {
  const positional = [];
  const opts = { prefix: 'js', uri: null, count: 1, peer: 'python', timeout: 20 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      const key = argv[i].slice(2);
      if (!(key in opts) || i + 1 >= argv.length) usage(`bad option ${argv[i]}`);
      opts[key] = argv[++i];
    } else {
      positional.push(argv[i]);
    }
  }
  if (positional.length !== 4) usage('expected 4 positional arguments');
  [opts.command, opts.url, opts.serializer, opts.realm] = positional;
  opts.count = Number(opts.count);
  opts.timeout = Number(opts.timeout);
  if (!(opts.command in COMMANDS)) usage(`unknown command ${opts.command}`);
  if (!['json', 'msgpack', 'cbor'].includes(opts.serializer)) usage(`unknown serializer ${opts.serializer}`);
  if (opts.command !== 'suite' && !opts.uri) usage(`${opts.command} needs --uri`);
  return opts;
}

function usage(why) {
  console.log(`FAIL: ${why}\n${USAGE}`);
  process.exit(64);
}

// ------------------------------------------------------------------ shared payload

// The same values as PAYLOAD_ARGS / PAYLOAD_KWARGS in py_client.py. autobahn-js has no
// binary type for JSON: there, binary travels as "\0" + base64 (WAMP spec, section on
// binary conversion of JSON strings); with msgpack/cbor it is a Buffer.
function payload(serializer) {
  const raw = Buffer.from([0, 1, 2, 127, 128, 254, 255]);
  const binary = serializer === 'json' ? '\u0000' + raw.toString('base64') : raw;
  return {
    args: [42, -7, 2.5, 'héllo wörld ☃ 日本語 🚀', true, null, [1, 2, { x: 'y' }], binary],
    kwargs: { text: 'ünïcödé ✓', bin: binary, nested: { a: [1, 2, 3], b: null } },
  };
}

// ------------------------------------------------------------------ helpers

let step = 'start';
function setStep(name) {
  step = name;
  console.log(`step: ${name}`);
}

class Failure extends Error {}

function check(cond, what) {
  if (!cond) throw new Failure(what);
}

const show = (v) => util.inspect(v, { depth: 6, breakLength: Infinity });

function checkPayload(P, args, kwargs, extra, what) {
  check(util.isDeepStrictEqual(args, P.args), `${what}: args mismatch: ${show(args)} != ${show(P.args)}`);
  const expected = Object.assign({}, P.kwargs, extra);
  check(util.isDeepStrictEqual(kwargs, expected), `${what}: kwargs mismatch: ${show(kwargs)} != ${show(expected)}`);
}

function makeSerializer(name) {
  const s = autobahn.serializer;
  return { json: () => new s.JSONSerializer(), msgpack: () => new s.MsgpackSerializer(), cbor: () => new s.CBORSerializer() }[name]();
}

// Connects and joins; resolves to {session, close}, where close() leaves and waits for the close.
function openSession(opts, name) {
  setStep(`connect ${name} (${opts.url}, ${opts.serializer})`);
  return new Promise((resolve, reject) => {
    let onClosed = null;
    const connection = new autobahn.Connection({
      transports: [{ type: 'websocket', url: opts.url, serializers: [makeSerializer(opts.serializer)] }],
      realm: opts.realm,
      max_retries: 0,
      retry_if_unreachable: false,
    });
    connection.onopen = (session) => resolve({
      session,
      close: () => new Promise((done) => { onClosed = done; connection.close(); }),
    });
    connection.onclose = (reason, details) => {
      if (onClosed) onClosed();
      else reject(new Failure(`${name}: connection closed (${reason}) ${show(details)}`));
      return true; // no reconnect
    };
    connection.open();
  });
}

async function expectError(promise, uri, what) {
  let result;
  try {
    result = await promise;
  } catch (e) {
    check(e instanceof autobahn.Error, `${what}: expected error ${uri}, got ${show(e)}`);
    check(e.error === uri, `${what}: expected error ${uri}, got ${e.error} ${show(e.args)} ${show(e.kwargs)}`);
    return e;
  }
  throw new Failure(`${what}: expected error ${uri}, but it succeeded with ${show(result)}`);
}

// A queue of received items that can be awaited one at a time.
class Inbox {
  constructor() { this.items = []; this.waiters = []; }
  push(item) { const w = this.waiters.shift(); if (w) w(item); else this.items.push(item); }
  next() { return this.items.length ? Promise.resolve(this.items.shift()) : new Promise((r) => this.waiters.push(r)); }
  async take(n, what, seconds = 5) {
    const got = [];
    const timer = new Promise((_, rej) => setTimeout(() => rej(new Failure(
      `${what}: got ${got.length} of ${n} within ${seconds}s: ${show(got)}`)), seconds * 1000));
    for (let i = 0; i < n; i++) got.push(await Promise.race([this.next(), timer]));
    return got;
  }
}

// ------------------------------------------------------------------ suite

async function runSuite(opts) {
  const P = payload(opts.serializer);
  const p = opts.prefix;
  const A = await openSession(opts, 'session A');
  const B = await openSession(opts, 'session B');
  const a = A.session;
  const b = B.session;

  setStep('pubsub: acknowledge and publisher exclusion');
  const topic = `com.interop.${p}.topic`;
  const gotA = new Inbox();
  const gotB = new Inbox();
  await a.subscribe(topic, (args, kwargs) => gotA.push([args, kwargs]));
  await b.subscribe(topic, (args, kwargs) => gotB.push([args, kwargs]));
  const pub1 = await a.publish(topic, P.args, Object.assign({ seq: 1 }, P.kwargs), { acknowledge: true });
  check(pub1 && typeof pub1.id === 'number', `acknowledged publish returned ${show(pub1)}`);
  const pub2 = await a.publish(topic, P.args, Object.assign({ seq: 2 }, P.kwargs), { acknowledge: true, exclude_me: false });
  check(pub2 && pub2.id !== pub1.id, `second publication ${show(pub2)} vs ${show(pub1)}`);
  const eventsB = await gotB.take(2, 'subscriber B events');
  eventsB.forEach(([args, kwargs], i) => checkPayload(P, args, kwargs, { seq: i + 1 }, `event ${i + 1}`));
  // Events from one publisher arrive in order: if A's first event is seq 2, the
  // exclude_me=true event 1 was (correctly) never delivered to A.
  const [evA] = await gotA.take(1, 'publisher A own event with exclude_me=false');
  check(evA[1].seq === 2, `publisher received its own excluded event: ${show(evA)}`);

  // Pattern-based subscriptions (12.5): one event per matching subscription, each with the concrete
  // topic in its details. The last publish matches only the prefix: had the unmatched one been
  // delivered, it would come first.
  setStep('pubsub: prefix and wildcard subscriptions');
  const gotPattern = new Inbox();
  const base = `com.interop.${p}.pat`;
  const onPattern = (kind) => (args, kwargs, details) => gotPattern.push([kind, details.topic, args]);
  await b.subscribe(`${base}.`, onPattern('prefix'), { match: 'prefix' });
  await b.subscribe(`${base}..leaf`, onPattern('wildcard'), { match: 'wildcard' });
  const published = [`${base}.x.leaf`, `com.interop.${p}.other.x.leaf`, `${base}.y`];
  for (let n = 0; n < published.length; n++) await a.publish(published[n], [n], {}, { acknowledge: true });
  const pattern = await gotPattern.take(3, 'pattern events');
  const firstTwo = pattern.slice(0, 2).map(show).sort();
  const expectedTwo = [['prefix', `${base}.x.leaf`, [0]], ['wildcard', `${base}.x.leaf`, [0]]].map(show).sort();
  check(util.isDeepStrictEqual(firstTwo, expectedTwo), `pattern events: ${show(pattern)}`);
  check(util.isDeepStrictEqual(pattern[2], ['prefix', `${base}.y`, [2]]), `pattern events: ${show(pattern)}`);

  setStep('pubsub: unsubscribe');
  const late = new Inbox();
  const sub = await b.subscribe(`com.interop.${p}.topic2`, (args) => late.push(args));
  await b.unsubscribe(sub);
  await a.publish(`com.interop.${p}.topic2`, [1], {}, { acknowledge: true });

  setStep('rpc: args/kwargs round trip with binary and unicode');
  const echo = `com.interop.${p}.echo`;
  await b.register(echo, (args, kwargs) => new autobahn.Result(args, kwargs));
  const res = await a.call(echo, P.args, P.kwargs);
  check(res instanceof autobahn.Result, `echo returned ${show(res)}, expected a Result`);
  checkPayload(P, res.args, res.kwargs, {}, 'echo result');

  // 100 kB: beyond WebSocket's 16-bit frame length (see py_client.py).
  setStep('rpc: 100 kB argument');
  const big = '0123456789abcdef'.repeat(6250);
  const bigRes = await a.call(echo, [big]);
  check(bigRes === big, `100 kB echo came back as ${typeof bigRes === 'string' ? bigRes.length : show(bigRes)}`);

  setStep('rpc: simple call');
  await b.register(`com.interop.${p}.add`, (args) => args[0] + args[1]);
  const sum = await a.call(`com.interop.${p}.add`, [2, 3]);
  check(sum === 5, `add(2, 3) returned ${show(sum)}`);

  // Shared registration (11.9): both sessions register the same procedure round-robin; calls
  // alternate between them in registration order.
  setStep('rpc: shared registration, roundrobin');
  const shared = `com.interop.${p}.shared`;
  await a.register(shared, () => 'a', { invoke: 'roundrobin' });
  await b.register(shared, () => 'b', { invoke: 'roundrobin' });
  const answers = [];
  for (let n = 0; n < 4; n++) answers.push(await a.call(shared));
  check(util.isDeepStrictEqual(answers, ['a', 'b', 'a', 'b']), `roundrobin answers: ${show(answers)}`);
  await expectError(b.register(shared, () => null, { invoke: 'random' }),
    'wamp.error.procedure_exists_with_different_invocation_policy', 'shared registration with another policy');

  // Pattern-based registrations (11.8): the best match gets the call, and a pattern's callee learns the
  // concrete procedure.
  setStep('rpc: prefix and wildcard registrations');
  const obj = `com.interop.${p}.obj`;
  const concrete = (kind) => (args, kwargs, details) => [kind, details.procedure];
  await b.register(`${obj}.`, concrete('prefix'), { match: 'prefix' });
  await b.register(`com.interop.${p}..get`, concrete('wildcard'), { match: 'wildcard' });
  for (const [called, kind] of [[`${obj}.x.get`, 'prefix'], [`com.interop.${p}.other.get`, 'wildcard']]) {
    const res = await a.call(called);
    check(util.isDeepStrictEqual(res, [kind, called]), `call ${called} answered ${show(res)}`);
  }
  await expectError(a.call(`com.interop.${p}.other.put`), 'wamp.error.no_such_procedure', 'no pattern match');

  setStep('error: call unregistered procedure');
  await expectError(a.call(`com.interop.${p}.nothing_here`), 'wamp.error.no_such_procedure', 'call unregistered');

  setStep('error: call after unregister');
  const reg = await b.register(`com.interop.${p}.temp`, () => 'gone soon');
  check(await a.call(`com.interop.${p}.temp`) === 'gone soon', 'temp procedure before unregister');
  await b.unregister(reg);
  await expectError(a.call(`com.interop.${p}.temp`), 'wamp.error.no_such_procedure', 'call after unregister');

  setStep('error: callee raises an application error');
  await b.register(`com.interop.${p}.fail`, () => { throw new autobahn.Error('com.example.error.custom', [1, 2], { a: 3 }); });
  const e = await expectError(a.call(`com.interop.${p}.fail`), 'com.example.error.custom', 'callee error');
  check(util.isDeepStrictEqual(e.args, [1, 2]), `callee error args: ${show(e.args)}`);
  check(util.isDeepStrictEqual(e.kwargs, { a: 3 }), `callee error kwargs: ${show(e.kwargs)}`);

  setStep('error: register an already registered procedure');
  await expectError(a.register(echo, () => null), 'wamp.error.procedure_already_exists', 'double register');

  // The realm must use strict URI checking; autobahn-js does not check URIs itself.
  setStep('error: invalid URI');
  const bad = `com.interop.${p}.Not-Strict`;
  const err = 'wamp.error.invalid_uri';
  await expectError(a.register(bad, () => null), err, 'register invalid URI');
  await expectError(a.subscribe(bad, () => null), err, 'subscribe invalid URI');
  await expectError(a.call(bad), err, 'call invalid URI');
  await expectError(a.publish(bad, [], {}, { acknowledge: true }), err, 'publish invalid URI');

  setStep('pubsub: nothing arrived after unsubscribe');
  check(late.items.length === 0, `unexpected event after unsubscribe: ${show(late.items)}`);

  setStep('leave');
  await A.close();
  await B.close();
}

// ------------------------------------------------------------------ cross-library roles

async function runCallee(opts) {
  const P = payload(opts.serializer);
  const { session, close } = await openSession(opts, 'callee');
  const served = new Inbox();
  setStep(`register ${opts.uri}`);
  await session.register(opts.uri, (args, kwargs) => {
    try {
      checkPayload(P, args, kwargs, {}, 'callee received');
    } catch (e) {
      served.push(e);
      throw new autobahn.Error('com.interop.error.payload_mismatch', [e.message]);
    }
    served.push(null);
    return new autobahn.Result(args, Object.assign({ served_by: 'js' }, kwargs));
  });
  console.log('READY');
  setStep(`serve ${opts.count} call(s)`);
  for (let i = 0; i < opts.count; i++) {
    const problem = await served.next();
    if (problem) throw problem;
  }
  await new Promise((r) => setTimeout(r, 200)); // let the last YIELD go out before GOODBYE
  await close();
}

async function runCall(opts) {
  const P = payload(opts.serializer);
  const { session, close } = await openSession(opts, 'caller');
  setStep(`call ${opts.uri}`);
  const res = await session.call(opts.uri, P.args, P.kwargs);
  check(res instanceof autobahn.Result, `call returned ${show(res)}, expected a Result`);
  checkPayload(P, res.args, res.kwargs, { served_by: opts.peer }, 'call result');
  await close();
}

async function runSubscriber(opts) {
  const P = payload(opts.serializer);
  const { session, close } = await openSession(opts, 'subscriber');
  const got = new Inbox();
  setStep(`subscribe ${opts.uri}`);
  await session.subscribe(opts.uri, (args, kwargs) => got.push([args, kwargs]));
  console.log('READY');
  setStep(`receive ${opts.count} event(s)`);
  for (let seq = 0; seq < opts.count; seq++) {
    const [args, kwargs] = await got.next();
    checkPayload(P, args, kwargs, { sent_by: opts.peer, seq }, `event ${seq}`);
  }
  await close();
}

async function runPublisher(opts) {
  const P = payload(opts.serializer);
  const { session, close } = await openSession(opts, 'publisher');
  for (let seq = 0; seq < opts.count; seq++) {
    setStep(`publish ${seq} to ${opts.uri}`);
    const pub = await session.publish(opts.uri, P.args, Object.assign({ sent_by: 'js', seq }, P.kwargs), { acknowledge: true });
    check(pub, 'acknowledged publish returned nothing');
  }
  await close();
}

const COMMANDS = { suite: runSuite, callee: runCallee, call: runCall, subscriber: runSubscriber, publisher: runPublisher };

// ------------------------------------------------------------------ main

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const label = `js ${opts.command} ${opts.url} ${opts.serializer}`;
  setTimeout(() => {
    console.log(`FAIL ${label}: timed out after ${opts.timeout}s during step: ${step}`);
    process.exit(2);
  }, opts.timeout * 1000);
  COMMANDS[opts.command](opts).then(
    () => { console.log(`PASS ${label}`); process.exit(0); },
    (e) => {
      const what = e instanceof Failure ? e.message : `unexpected ${show(e)}`;
      console.log(`FAIL ${label}: ${step}: ${what}`);
      process.exit(1);
    },
  );
}

main();
