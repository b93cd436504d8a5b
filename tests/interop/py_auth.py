#!/usr/bin/env python3
"""Authentication and authorization interop scenarios for switchyard, driven with
autobahn-python (asyncio). tests/auth_interop.rs runs them; by hand:

    python py_auth.py gen CERTDIR
        writes a test CA, server and client certificates into CERTDIR and prints
        one JSON object with the derived credentials the router config needs
        (hashed tickets, salted WAMP-CRA key, WAMP-SCRAM keys, public keys,
        certificate fingerprints)
    python py_auth.py GROUP --plain HOST:PORT --tls HOST:PORT --certs CERTDIR \\
        --transport ws|rs|wss|rss --serializer json|msgpack|cbor
        runs one group of scenarios against a router configured as in
        tests/auth_interop.rs (GROUP: see GROUPS at the end)

Every scenario asserts the exact outcome: WELCOME's authid, authrole,
authmethod, authprovider (and authextra), or ABORT's reason URI, or an ERROR's
URI. Exit status 0 means all passed; otherwise a FAIL line says which step.

Where autobahn's own authenticators speak the spec (ticket, wampcra,
cryptosign without channel binding) they are used as they are. Two are written
here from the spec (section 13.3 and 13.4.2), because autobahn cannot do them:
  - WAMP-SCRAM: autobahn's AuthScram predates the spec text it is meant to
    implement (authmethod "scram", kdf "argon2id-13", SaltedPassword taken as
    the KDF's base64 text, "c=" without base64, WELCOME authextra
    "scram_server_signature" instead of "verifier", no AUTHENTICATE extra), so
    SpecScram below follows the spec, using argon2-cffi and hashlib.
  - cryptosign with "tls-exporter" channel binding: autobahn only knows
    "tls-unique" (TLS 1.2 only), and Python's ssl module cannot export keying
    material, so tls_exporter() calls OpenSSL's SSL_export_keying_material on
    the connection asyncio uses (through ctypes, checked before use).
"""

import argparse
import asyncio
import base64
import binascii
import ctypes
import datetime
import hashlib
import hmac
import json
import os
import ssl
import sys

import txaio

txaio.use_asyncio()

import _ssl  # noqa: E402

import nacl.signing  # noqa: E402
from argon2 import PasswordHasher  # noqa: E402
from argon2.low_level import Type, hash_secret_raw  # noqa: E402
from autobahn.asyncio.rawsocket import WampRawSocketClientFactory  # noqa: E402
from autobahn.asyncio.wamp import ApplicationSession  # noqa: E402
from autobahn.asyncio.websocket import WampWebSocketClientFactory  # noqa: E402
from autobahn.wamp import message  # noqa: E402
from autobahn.wamp.auth import AuthAnonymous, create_authenticator, derive_key  # noqa: E402
from autobahn.wamp.cryptosign import CryptosignKey  # noqa: E402
from autobahn.wamp.exception import ApplicationError  # noqa: E402
from autobahn.wamp.interfaces import IAuthenticator  # noqa: E402
from autobahn.wamp.serializer import CBORSerializer, JsonSerializer, MsgPackSerializer  # noqa: E402
from autobahn.wamp.types import (  # noqa: E402
    Challenge,
    ComponentConfig,
    PublishOptions,
    RegisterOptions,
    SubscribeOptions,
)
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402
from passlib.utils import saslprep  # noqa: E402

# ---------------------------------------------------------------- credentials
#
# The secrets the clients use. tests/auth_interop.rs has the plain tickets and
# the WAMP-CRA secret in its config; everything derived from a secret comes
# from `gen`, so the two sides cannot drift apart silently.

TICKET_JOE = "secret!!!"
TICKET_RITA = "rita-ticket"
TICKET_TRENT = "trent-ticket"
TICKET_DYNA = "dyna-ticket"
TICKET_STAT = "static-ticket"
TICKET_ARGON = "argon-ticket ✓"  # stored as an Argon2id PHC hash
TICKET_PBKDF2 = "pbkdf2-ticket"  # stored as a PBKDF2-SHA256 PHC hash
CRA_PETER = "peter-secret"
CRA_SALTY = ("salty-password", "salt123", 1000, 32)  # password, salt, iterations, keylen
SCRAM_ARGON = dict(password="scram argon password", kdf="argon2id13", iterations=32, memory=1024,
                   salt=hashlib.sha256(b"switchyard scram-argon salt").digest()[:16])
SCRAM_PBKDF2 = dict(password="scram pbkdf2 password", kdf="pbkdf2", iterations=4096, memory=None,
                    salt=hashlib.sha256(b"switchyard scram-pbkdf2 salt").digest()[:16])
SCRAM_AUTOBAHN_PASSWORD = "autobahn scram password"  # auth_interop.rs derives the principal's keys
ALICE_SEED = hashlib.sha256(b"switchyard alice").digest()
MALLORY_SEED = hashlib.sha256(b"switchyard mallory").digest()

# Used only by the dynamic authenticator in this script.
DYN_TICKET = "dyn-secret"
DYN_CRA = "dyn-cra-secret"
DYN_CRA_SALTED = ("dyn-cra-password", "dynsalt", 100, 32)
DYN_SCRAM = dict(password="dyn scram password", kdf="pbkdf2", iterations=1000, memory=None,
                 salt=b"dynamic-scram-salt")

B64 = lambda b: base64.b64encode(b).decode("ascii")  # noqa: E731


def b64_nopad(b):
    return B64(b).rstrip("=")


def pubkey_hex(seed):
    return CryptosignKey.from_bytes(seed).public_key()


def scram_salted_password(password, kdf, iterations, memory, salt):
    """SaltedPassword = KDF(Normalize(password), salt, params) (section 13.3)."""
    pw = saslprep(password).encode("utf8")
    if kdf == "argon2id13":
        return hash_secret_raw(pw, salt, time_cost=iterations, memory_cost=memory, parallelism=1,
                               hash_len=32, type=Type.ID, version=19)
    if kdf == "pbkdf2":
        return hashlib.pbkdf2_hmac("sha256", pw, salt, iterations, 32)
    raise ValueError(kdf)


def scram_server_record(password, kdf, iterations, memory, salt):
    """What the router stores: salt, StoredKey, ServerKey (base64)."""
    salted = scram_salted_password(password, kdf, iterations, memory, salt)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    record = {
        "kdf": kdf,
        "iterations": iterations,
        "salt": B64(salt),
        "stored_key": B64(hashlib.sha256(client_key).digest()),
        "server_key": B64(hmac.new(salted, b"Server Key", hashlib.sha256).digest()),
    }
    if memory is not None:
        record["memory"] = memory
    return record


def pbkdf2_phc(password, salt, iterations):
    """A PHC string as the RustCrypto pbkdf2 crate writes it."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf8"), salt, iterations, 32)
    return f"$pbkdf2-sha256$i={iterations},l=32${b64_nopad(salt)}${b64_nopad(digest)}"


# ---------------------------------------------------------------- certificates


def _name(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def _write_cert(path, cert):
    with open(path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))


def _issue(subject_cn, issuer_cert, issuer_key, *, ca=False, server=False, san=None):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject_cn))
        .issuer_name(issuer_cert.subject if issuer_cert else _name(subject_cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if ca:
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        eku = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    if issuer_cert is not None:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key()), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    cert = builder.sign(issuer_key if issuer_key else key, hashes.SHA256())
    return cert, key


def gen_certs(d):
    """ca.pem; server.pem/.key (localhost, 127.0.0.1); client certificates signed by the CA:
    certuser (listed in a principal), stranger (not listed); rogue: self-signed, not from the CA."""
    import ipaddress

    os.makedirs(d, exist_ok=True)
    ca, ca_key = _issue("switchyard test CA", None, None, ca=True)
    _write_cert(f"{d}/ca.pem", ca)
    server, server_key = _issue("localhost", ca, ca_key, server=True,
                                san=[x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
    _write_cert(f"{d}/server.pem", server)
    _write_key(f"{d}/server.key", server_key)
    fingerprints = {}
    for cn in ["certuser", "stranger"]:
        cert, key = _issue(cn, ca, ca_key)
        _write_cert(f"{d}/{cn}.pem", cert)
        _write_key(f"{d}/{cn}.key", key)
        fingerprints[cn] = cert.fingerprint(hashes.SHA256()).hex()
    rogue, rogue_key = _issue("certuser", None, None)
    _write_cert(f"{d}/rogue.pem", rogue)
    _write_key(f"{d}/rogue.key", rogue_key)
    return fingerprints


def run_gen(certdir):
    fingerprints = gen_certs(certdir)
    argon = scram_server_record(**SCRAM_ARGON)
    pbk = scram_server_record(**SCRAM_PBKDF2)
    password, salt, iterations, keylen = CRA_SALTY
    out = {
        "cert_dir": os.path.abspath(certdir),
        "certuser_sha256": fingerprints["certuser"],
        "stranger_sha256": fingerprints["stranger"],
        "argon_ticket_phc": PasswordHasher(time_cost=2, memory_cost=1024, parallelism=1, hash_len=32,
                                           salt_len=16).hash(TICKET_ARGON),
        "pbkdf2_ticket_phc": pbkdf2_phc(TICKET_PBKDF2, hashlib.sha256(b"pbkdf2 ticket salt").digest()[:16], 1000),
        "salty_secret": derive_key(password, salt, iterations, keylen).decode("ascii"),
        "alice_pubkey": pubkey_hex(ALICE_SEED),
    }
    for prefix, rec in [("scram_argon", argon), ("scram_pbkdf2", pbk)]:
        for k, v in rec.items():
            out[f"{prefix}_{k}"] = str(v)
    print(json.dumps(out))


# ---------------------------------------------------------------- test plumbing

# What the script is doing right now, so a failure or timeout says where.
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


SERIALIZERS = {"json": JsonSerializer, "msgpack": MsgPackSerializer, "cbor": CBORSerializer}


class Target:
    """Where and how to connect: transport kind (ws, rs, wss, rss), address, serializer, TLS context."""

    def __init__(self, kind, addr, serializer, certs, client_cert=None):
        self.kind, self.serializer, self.certs, self.client_cert = kind, serializer, certs, client_cert
        host, port = addr.rsplit(":", 1)
        self.host, self.port = host, int(port)

    @property
    def tls(self):
        return self.kind in ("wss", "rss")

    def with_(self, **kw):
        t = Target.__new__(Target)
        t.__dict__.update(self.__dict__)
        t.__dict__.update(kw)
        return t

    def ssl_context(self):
        if not self.tls:
            return None
        ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=f"{self.certs}/ca.pem")
        if self.client_cert:
            ctx.load_cert_chain(f"{self.certs}/{self.client_cert}.pem", f"{self.certs}/{self.client_cert}.key")
        return ctx

    def factory(self, make_session):
        ser = SERIALIZERS[self.serializer]()
        if self.kind in ("ws", "wss"):
            url = f"{self.kind}://{self.host}:{self.port}/ws"
            return WampWebSocketClientFactory(make_session, url=url, serializers=[ser])
        return WampRawSocketClientFactory(make_session, serializer=ser)

    def __str__(self):
        cert = f" cert={self.client_cert}" if self.client_cert else ""
        return f"{self.kind}://{self.host}:{self.port} {self.serializer}{cert}"


# ---- OpenSSL's exporter for tls-exporter channel binding (RFC 9266)

_libssl = ctypes.CDLL(_ssl.__file__)  # dlsym on _ssl's handle finds the libssl it is linked with
_libssl.SSL_export_keying_material.argtypes = [
    ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t,
    ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
]
_libssl.SSL_export_keying_material.restype = ctypes.c_int
_libssl.SSL_get_version.argtypes = [ctypes.c_void_p]
_libssl.SSL_get_version.restype = ctypes.c_char_p


def tls_exporter(session):
    """32 bytes of keying material for label "EXPORTER-Channel-Binding", no context, of the TLS connection
    under `session`. CPython's PySSLSocket is {PyObject_HEAD; PyObject *Socket; SSL *ssl; ...}; the SSL
    pointer read from there is checked by asking OpenSSL for the protocol version it has negotiated."""
    ssl_object = session._transport.transport.get_extra_info("ssl_object")
    check(ssl_object is not None, "tls-exporter asked for on a connection without TLS")
    inner = ssl_object._sslobj
    ptr = ctypes.c_void_p.from_address(id(inner) + 3 * ctypes.sizeof(ctypes.c_void_p)).value
    version = _libssl.SSL_get_version(ptr)
    check(version is not None and version.decode() == ssl_object.version(),
          f"cannot locate OpenSSL's SSL object ({version!r} != {ssl_object.version()!r})")
    out = ctypes.create_string_buffer(32)
    label = b"EXPORTER-Channel-Binding"
    check(_libssl.SSL_export_keying_material(ptr, out, 32, label, len(label), None, 0, 0) == 1,
          "SSL_export_keying_material failed")
    return out.raw


# ---- authenticators written from the spec


class SpecScram:
    """WAMP-SCRAM client per section 13.3, optionally with tls-exporter channel binding.
    `cbind_data_override` sends other binding data than the connection's (to provoke a failure)."""

    name = "wamp-scram"

    def __init__(self, authid, password, channel_binding=None, cbind_data_override=None):
        self._args = {"authid": authid}
        self.password = password
        self.client_nonce = B64(os.urandom(16))
        self.channel_binding = channel_binding
        self.cbind_data_override = cbind_data_override
        self.verified = False
        self.verifier_problem = None

    @property
    def authextra(self):
        return {"nonce": self.client_nonce, "channel_binding": self.channel_binding}

    def respond(self, session, challenge):
        """(signature, AUTHENTICATE extra) for the CHALLENGE."""
        x = challenge.extra
        nonce, salt, kdf, iterations = x["nonce"], x["salt"], x["kdf"], int(x["iterations"])
        check(nonce.startswith(self.client_nonce) and len(nonce) > len(self.client_nonce),
              f"CHALLENGE nonce {nonce!r} does not extend the client nonce {self.client_nonce!r}")
        memory = x.get("memory")
        self.salted = scram_salted_password(self.password, kdf, iterations, memory, base64.b64decode(salt))
        extra = {"nonce": nonce, "channel_binding": self.channel_binding}
        if self.channel_binding is None:
            cbind_input = b"n,,"
        else:
            data = self.cbind_data_override or tls_exporter(session)
            extra["cbind_data"] = B64(data)
            cbind_input = f"p={self.channel_binding},,".encode() + data
        authid = self._args["authid"].replace("=", "=3D").replace(",", "=2C")
        self.auth_message = (
            f"n={authid},r={self.client_nonce},r={nonce},s={salt},i={iterations},c={B64(cbind_input)},r={nonce}"
        ).encode("ascii")
        client_key = hmac.new(self.salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        signature = hmac.new(stored_key, self.auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        return B64(proof), extra

    def on_challenge(self, session, challenge):
        raise RuntimeError("SpecScram answers through respond()")

    def on_welcome(self, session, authextra):
        server_key = hmac.new(self.salted, b"Server Key", hashlib.sha256).digest()
        expected = B64(hmac.new(server_key, self.auth_message, hashlib.sha256).digest())
        got = (authextra or {}).get("verifier")
        if got != expected:
            self.verifier_problem = f"WELCOME authextra.verifier {got!r}, expected {expected!r}"
            return self.verifier_problem  # autobahn answers with ABORT
        self.verified = True
        return None


IAuthenticator.register(SpecScram)


class BoundCryptosign:
    """WAMP-Cryptosign with tls-exporter channel binding (section 13.4.2): the client signs the challenge
    XORed with the exporter output. `sign_unbound` signs the bare challenge instead (must fail)."""

    name = "cryptosign"

    def __init__(self, authid, seed, sign_unbound=False):
        self._args = {"authid": authid}
        self.key = CryptosignKey.from_bytes(seed)
        self.signer = nacl.signing.SigningKey(seed)
        self.sign_unbound = sign_unbound

    @property
    def authextra(self):
        return {"pubkey": self.key.public_key(), "channel_binding": "tls-exporter"}

    def on_challenge(self, session, challenge):
        # The client must check that the router binds (section 13.4.2).
        check(challenge.extra.get("channel_binding") == "tls-exporter",
              f"CHALLENGE does not confirm the tls-exporter binding: {challenge.extra!r}")
        raw = binascii.a2b_hex(challenge.extra["challenge"])
        binding = tls_exporter(session)
        data = raw if self.sign_unbound else bytes(a ^ b for a, b in zip(raw, binding))
        return (self.signer.sign(data).signature + data).hex()

    def on_welcome(self, session, authextra):
        return None


IAuthenticator.register(BoundCryptosign)


class Unsupported(AuthAnonymous):
    """An authmethod no router knows."""

    name = "x-no-such-method"


# ---- a session that records how its join went


class Probe(ApplicationSession):
    """Joins `realm` offering the given authenticators (in that order); `outcome` resolves to
    ("welcome", SessionDetails) or ("abort", reason, message) or ("disconnected", None)."""

    def __init__(self, realm, authenticators, authid=None, hello_extra=None, authmethods=None):
        super().__init__(ComponentConfig(realm=realm))
        self.auths = {a.name: a for a in authenticators}
        self.probe_authmethods = authmethods if authmethods is not None else ([a.name for a in authenticators] or None)
        self.probe_authid = authid
        self.hello_extra = hello_extra or {}
        self.challenges = []
        self.outcome = asyncio.get_running_loop().create_future()

    def onConnect(self):
        authextra = {}
        for a in self.auths.values():
            authextra.update(a.authextra)
        authextra.update(self.hello_extra)
        self.join(self.config.realm, authmethods=self.probe_authmethods, authid=self.probe_authid,
                  authextra=authextra or None)

    def onMessage(self, msg):
        # WAMP-SCRAM needs AUTHENTICATE.Extra, which autobahn's challenge handling cannot send.
        if self._session_id is None and isinstance(msg, message.Challenge):
            auth = self.auths.get(msg.method)
            if auth is not None and hasattr(auth, "respond"):
                challenge = Challenge(msg.method, msg.extra)
                self.challenges.append(challenge)
                try:
                    signature, extra = auth.respond(self, challenge)
                except Exception as e:
                    self._resolve(("client-error", repr(e)))
                    self._transport.send(message.Abort("wamp.error.cannot_authenticate", str(e)))
                    return
                self._transport.send(message.Authenticate(signature, extra=extra))
                return
        return super().onMessage(msg)

    def onChallenge(self, challenge):
        self.challenges.append(challenge)
        auth = self.auths.get(challenge.method)
        if auth is None:
            raise RuntimeError(f"challenge for a method not offered: {challenge.method}")
        return auth.on_challenge(self, challenge)

    def onWelcome(self, msg):
        auth = self.auths.get(msg.authmethod)
        if auth is None:
            return None
        problem = auth.on_welcome(self, msg.authextra)
        if problem is not None:
            self._resolve(("client-rejected-welcome", problem))
        return problem

    def onJoin(self, details):
        self._resolve(("welcome", details))

    def onLeave(self, details):
        self._resolve(("abort", details.reason, details.message))
        self.disconnect()

    def onDisconnect(self):
        self._resolve(("disconnected", None))

    def _resolve(self, value):
        if not self.outcome.done():
            self.outcome.set_result(value)


async def login(target, realm, authenticators=(), authid=None, hello_extra=None, authmethods=None):
    """Connects to `target` and joins offering `authenticators` (HELLO.Details.authextra: theirs, updated
    with `hello_extra`); returns the Probe once its outcome is known."""
    probe = Probe(realm, list(authenticators), authid=authid, hello_extra=hello_extra, authmethods=authmethods)
    loop = asyncio.get_running_loop()
    ctx = target.ssl_context()
    factory = target.factory(lambda: probe)

    def make_protocol():
        # autobahn attaches the session only once the WebSocket/RawSocket handshake is done, so a
        # connection the router closes before that (a failed TLS handshake) is seen here only.
        protocol = factory()
        connection_lost = protocol.connection_lost

        def lost(exc):
            probe._resolve(("disconnected", repr(exc)))
            return connection_lost(exc)

        protocol.connection_lost = lost
        return protocol

    try:
        await loop.create_connection(make_protocol, target.host, target.port, ssl=ctx,
                                     server_hostname="localhost" if ctx else None)
    except (OSError, ssl.SSLError) as e:
        probe._resolve(("connect-failed", repr(e)))
    try:
        await asyncio.wait_for(asyncio.shield(probe.outcome), 10)
    except asyncio.TimeoutError:
        raise Failure(f"no WELCOME or ABORT within 10 s ({target}, authid {authid})")
    return probe


def describe(outcome):
    if outcome[0] == "welcome":
        d = outcome[1]
        return (f"WELCOME authid={d.authid!r} authrole={d.authrole!r} authmethod={d.authmethod!r} "
                f"authprovider={d.authprovider!r} authextra={d.authextra!r}")
    return " ".join(str(x) for x in outcome)


# Stands for a WELCOME field the router chooses freely (the authid of an anonymous session).
ANY = object()


async def expect_welcome(what, target, realm, authenticators=(), *, authid, authrole, authmethod, authprovider,
                         welcome_extra=None, login_authid="same", **kw):
    """Logs in (as `authid`, or as `login_authid` where that differs) and checks WELCOME's authid, authrole,
    authmethod, authprovider and, if given, authextra exactly; returns the joined Probe."""
    set_step(f"{what} [{target}]")
    probe = await login(target, realm, authenticators, authid=authid if login_authid == "same" else login_authid,
                        **kw)
    o = probe.outcome.result()
    check(o[0] == "welcome", f"{what}: expected WELCOME, got {describe(o)}")
    d = o[1]
    got = (d.authid, d.authrole, d.authmethod, d.authprovider)
    want = tuple(g if w is ANY else w for g, w in zip(got, (authid, authrole, authmethod, authprovider)))
    check(authid is not ANY or isinstance(d.authid, str) and d.authid, f"{what}: WELCOME without an authid")
    check(got == want, f"{what}: WELCOME (authid, authrole, authmethod, authprovider) = {got}, expected {want}")
    if welcome_extra is not None:
        check(d.authextra == welcome_extra, f"{what}: WELCOME authextra {d.authextra!r}, expected {welcome_extra!r}")
    return probe


async def expect_abort(what, target, realm, authenticators=(), *, reason, **kw):
    """Logs in and checks that the router answers ABORT `reason`; returns the Probe."""
    set_step(f"{what} [{target}]")
    probe = await login(target, realm, authenticators, **kw)
    o = probe.outcome.result()
    check(o[0] == "abort" and o[1] == reason, f"{what}: expected ABORT {reason}, got {describe(o)}")
    return probe


async def expect_error(coro, uri, what):
    try:
        result = await coro
    except ApplicationError as e:
        check(e.error == uri, f"{what}: expected ERROR {uri}, got {e.error} {e.args}")
        return e
    raise Failure(f"{what}: expected ERROR {uri}, but it succeeded with {result!r}")


async def next_item(queue, what, timeout=5.0):
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise Failure(f"{what}: nothing arrived within {timeout} s")


def check_empty(queue, what):
    check(queue.empty(), f"{what}: unexpected {queue.get_nowait() if not queue.empty() else None!r}")


def ticket(secret):
    return create_authenticator("ticket", ticket=secret)


def wampcra(authid, secret):
    return create_authenticator("wampcra", authid=authid, secret=secret)


def cryptosign(seed, **authextra):
    auth = create_authenticator("cryptosign", privkey=seed.hex(), authextra=dict(authextra))
    return auth


def challenge_of(probe, method):
    check(len(probe.challenges) == 1, f"expected one CHALLENGE, got {probe.challenges!r}")
    c = probe.challenges[0]
    check(c.method == method, f"CHALLENGE method {c.method!r}, expected {method!r}")
    return c


async def leave(*probes):
    for p in probes:
        if p.is_attached():
            await p.leave()


REALM = "realm1"
STATIC = "static"

# ---------------------------------------------------------------- groups


async def group_ticket(t, a):
    """Ticket: plain and hashed (Argon2id, PBKDF2) stored tickets, wrong tickets, unknown authid, no usable
    method."""
    p = await expect_welcome("ticket joe", t, REALM, [ticket(TICKET_JOE)], authid="joe", authrole="user",
                             authmethod="ticket", authprovider=STATIC, welcome_extra={"any": "thing"})
    challenge_of(p, "ticket")
    await leave(p)
    await expect_abort("ticket joe, wrong ticket", t, REALM, [ticket("secret!!")], authid="joe",
                       reason="wamp.error.authentication_failed")
    await expect_abort("ticket, unknown authid", t, REALM, [ticket(TICKET_JOE)], authid="nobody",
                       reason="wamp.error.authentication_failed")
    p = await expect_welcome("ticket stored as Argon2id hash", t, REALM, [ticket(TICKET_ARGON)],
                             authid="hashed-argon", authrole="user", authmethod="ticket", authprovider=STATIC)
    await leave(p)
    await expect_abort("ticket stored as Argon2id hash, wrong ticket", t, REALM, [ticket("argon-ticket")],
                       authid="hashed-argon", reason="wamp.error.authentication_failed")
    p = await expect_welcome("ticket stored as PBKDF2 hash", t, REALM, [ticket(TICKET_PBKDF2)],
                             authid="hashed-pbkdf2", authrole="user", authmethod="ticket", authprovider=STATIC)
    await leave(p)
    await expect_abort("ticket stored as PBKDF2 hash, wrong ticket", t, REALM, [ticket(TICKET_PBKDF2 + "x")],
                       authid="hashed-pbkdf2", reason="wamp.error.authentication_failed")
    await expect_abort("no authmethods (anonymous) on a realm without anonymous", t, REALM, [],
                       reason="wamp.error.no_auth_method")
    await expect_abort("authmethods [anonymous] on a realm without anonymous", t, REALM, [AuthAnonymous()],
                       authid="joe", reason="wamp.error.no_auth_method")
    await expect_abort("authmethods [an unknown method]", t, REALM, [Unsupported()], authid="joe",
                       reason="wamp.error.no_auth_method")


async def group_wampcra(t, a):
    """WAMP-CRA, plain and salted."""
    p = await expect_welcome("wampcra peter", t, REALM, [wampcra("peter", CRA_PETER)], authid="peter",
                             authrole="user", authmethod="wampcra", authprovider=STATIC)
    c = challenge_of(p, "wampcra")
    check("salt" not in c.extra, f"unsalted principal got a salted challenge: {c.extra!r}")
    subject = json.loads(c.extra["challenge"])
    check(subject.get("authid") == "peter" and subject.get("authmethod") == "wampcra"
          and subject.get("session") == p.session_id,
          f"challenge string {subject!r} does not name authid peter and session {p.session_id}")
    await leave(p)
    await expect_abort("wampcra peter, wrong secret", t, REALM, [wampcra("peter", "peter-secreT")],
                       reason="wamp.error.authentication_failed", authid="peter")
    await expect_abort("wampcra, unknown authid", t, REALM, [wampcra("nobody", CRA_PETER)],
                       reason="wamp.error.authentication_failed", authid="nobody")

    password, salt, iterations, keylen = CRA_SALTY
    p = await expect_welcome("wampcra salted", t, REALM, [wampcra("salty", password)], authid="salty",
                             authrole="user", authmethod="wampcra", authprovider=STATIC)
    c = challenge_of(p, "wampcra")
    got = (c.extra.get("salt"), c.extra.get("iterations"), c.extra.get("keylen"))
    check(got == (salt, iterations, keylen), f"salted challenge parameters {got}, expected {CRA_SALTY[1:]}")
    await leave(p)
    await expect_abort("wampcra salted, wrong password", t, REALM, [wampcra("salty", "salty-passw0rd")],
                       reason="wamp.error.authentication_failed", authid="salty")
    # Giving the derived key itself as the password does not work either: the client derives again.
    key = derive_key(password, salt, iterations, keylen).decode("ascii")
    await expect_abort("wampcra salted, the derived key as password", t, REALM, [wampcra("salty", key)],
                       reason="wamp.error.authentication_failed", authid="salty")


async def group_scram(t, a):
    """WAMP-SCRAM with Argon2id and PBKDF2; the client checks WELCOME's verifier."""
    for name, cred in [("scram-argon", SCRAM_ARGON), ("scram-pbkdf2", SCRAM_PBKDF2)]:
        auth = SpecScram(name, cred["password"])
        p = await expect_welcome(f"wamp-scram {cred['kdf']}", t, REALM, [auth], authid=name, authrole="user",
                                 authmethod="wamp-scram", authprovider=STATIC)
        c = challenge_of(p, "wamp-scram")
        got = (c.extra.get("kdf"), c.extra.get("iterations"), c.extra.get("memory"), c.extra.get("salt"))
        want = (cred["kdf"], cred["iterations"], cred["memory"], B64(cred["salt"]))
        check(got == want, f"challenge (kdf, iterations, memory, salt) = {got}, expected {want}")
        check(auth.verified, "the client did not verify WELCOME's verifier")
        await leave(p)
        await expect_abort(f"wamp-scram {cred['kdf']}, wrong password", t, REALM,
                           [SpecScram(name, cred["password"] + "!")], authid=name,
                           reason="wamp.error.authentication_failed")
    await expect_abort("wamp-scram, unknown authid", t, REALM, [SpecScram("nobody", "x")], authid="nobody",
                       reason="wamp.error.authentication_failed")
    # autobahn's own AuthScram (authmethod "scram", the dialect Crossbar speaks), unmodified; it checks
    # WELCOME's authextra.scram_server_signature itself and refuses the session if it is wrong.
    p = await expect_welcome("autobahn AuthScram", t, REALM,
                             [create_authenticator("scram", authid="scram-autobahn", password=SCRAM_AUTOBAHN_PASSWORD)],
                             authid="scram-autobahn", authrole="user", authmethod="scram", authprovider=STATIC)
    c = challenge_of(p, "scram")
    check(c.extra.get("kdf") == "argon2id-13", f"autobahn dialect challenge {c.extra!r}")
    await leave(p)
    await expect_abort("autobahn AuthScram, wrong password", t, REALM,
                       [create_authenticator("scram", authid="scram-autobahn", password=SCRAM_AUTOBAHN_PASSWORD + "!")],
                       authid="scram-autobahn", reason="wamp.error.authentication_failed")
    await expect_abort("wamp-scram asking for tls-exporter binding without TLS", t, REALM,
                       [SpecScram("scram-pbkdf2", SCRAM_PBKDF2["password"], channel_binding="tls-exporter",
                                  cbind_data_override=bytes(32))],
                       authid="scram-pbkdf2", reason="wamp.error.authentication_failed")


async def group_cryptosign(t, a):
    """WAMP-Cryptosign over a plain connection."""
    p = await expect_welcome("cryptosign alice", t, REALM, [cryptosign(ALICE_SEED)], authid="alice",
                             authrole="user", authmethod="cryptosign", authprovider=STATIC)
    c = challenge_of(p, "cryptosign")
    check(len(c.extra.get("challenge", "")) == 64, f"challenge {c.extra!r} is not 32 bytes hex")
    await leave(p)
    await expect_abort("cryptosign alice with an unknown key", t, REALM, [cryptosign(MALLORY_SEED)],
                       authid="alice", reason="wamp.error.authentication_failed")
    await expect_abort("cryptosign, unknown authid", t, REALM, [cryptosign(MALLORY_SEED)], authid="mallory",
                       reason="wamp.error.authentication_failed")
    # The router takes the first offered method the realm supports.
    p = await expect_welcome("cryptosign alice offering [cryptosign, wampcra]", t, REALM,
                             [cryptosign(ALICE_SEED), wampcra("alice", "not used")], authid="alice",
                             authrole="user", authmethod="cryptosign", authprovider=STATIC)
    challenge_of(p, "cryptosign")
    await leave(p)
    # Section 13.4.2: a router that cannot bind may go on unbound; CHALLENGE then says channel_binding null
    # (the client must check that, and here signs the bare challenge).
    p = await expect_welcome("cryptosign asking for tls-exporter binding without TLS: unbound", t, REALM,
                             [cryptosign(ALICE_SEED)], authid="alice", hello_extra={"channel_binding": "tls-exporter"},
                             authrole="user", authmethod="cryptosign", authprovider=STATIC)
    c = challenge_of(p, "cryptosign")
    check(c.extra.get("channel_binding", "absent") is None, f"CHALLENGE without TLS: {c.extra!r}")
    await leave(p)
    await expect_abort("tls authmethod on a connection without TLS", t, REALM, [tls_auth()], authid="certuser",
                       reason="wamp.error.no_auth_method")


class TlsAuth(AuthAnonymous):
    name = "tls"

    def on_challenge(self, session, challenge):
        raise RuntimeError("the tls method has no CHALLENGE")


def tls_auth():
    return TlsAuth()


async def group_tls(t, a):
    """Every method over TLS (t is wss:// or rss://), channel binding, and the tls method."""
    check(t.tls, "group tls needs a TLS target")
    p = await expect_welcome("ticket joe", t, REALM, [ticket(TICKET_JOE)], authid="joe", authrole="user",
                             authmethod="ticket", authprovider=STATIC, welcome_extra={"any": "thing"})
    await leave(p)
    await expect_abort("ticket joe, wrong ticket", t, REALM, [ticket("nope")], authid="joe",
                       reason="wamp.error.authentication_failed")
    p = await expect_welcome("wampcra salted", t, REALM, [wampcra("salty", CRA_SALTY[0])], authid="salty",
                             authrole="user", authmethod="wampcra", authprovider=STATIC)
    await leave(p)
    await expect_abort("wampcra salted, wrong password", t, REALM, [wampcra("salty", "no")], authid="salty",
                       reason="wamp.error.authentication_failed")

    auth = SpecScram("scram-argon", SCRAM_ARGON["password"])
    p = await expect_welcome("wamp-scram argon2id13, unbound", t, REALM, [auth], authid="scram-argon",
                             authrole="user", authmethod="wamp-scram", authprovider=STATIC)
    check(auth.verified, "verifier not checked")
    await leave(p)
    auth = SpecScram("scram-pbkdf2", SCRAM_PBKDF2["password"], channel_binding="tls-exporter")
    p = await expect_welcome("wamp-scram pbkdf2 with tls-exporter channel binding", t, REALM, [auth],
                             authid="scram-pbkdf2", authrole="user", authmethod="wamp-scram", authprovider=STATIC)
    check(auth.verified, "verifier not checked")
    await leave(p)
    await expect_abort("wamp-scram with tls-exporter binding data of another connection", t, REALM,
                       [SpecScram("scram-pbkdf2", SCRAM_PBKDF2["password"], channel_binding="tls-exporter",
                                  cbind_data_override=bytes(32))],
                       authid="scram-pbkdf2", reason="wamp.error.authentication_failed")

    p = await expect_welcome("cryptosign alice, unbound", t, REALM, [cryptosign(ALICE_SEED)], authid="alice",
                             authrole="user", authmethod="cryptosign", authprovider=STATIC)
    await leave(p)
    p = await expect_welcome("cryptosign alice with tls-exporter channel binding", t, REALM,
                             [BoundCryptosign("alice", ALICE_SEED)], authid="alice", authrole="user",
                             authmethod="cryptosign", authprovider=STATIC)
    await leave(p)
    await expect_abort("cryptosign asking for tls-exporter binding but signing the bare challenge", t, REALM,
                       [BoundCryptosign("alice", ALICE_SEED, sign_unbound=True)], authid="alice",
                       reason="wamp.error.authentication_failed")
    await expect_abort("cryptosign bound, unknown key", t, REALM, [BoundCryptosign("alice", MALLORY_SEED)],
                       authid="alice", reason="wamp.error.authentication_failed")

    # The tls method: the certificate is the credential; there is no CHALLENGE.
    tc = t.with_(client_cert="certuser")
    p = await expect_welcome("tls method, listed client certificate", tc, REALM, [tls_auth()], authid="certuser",
                             authrole="user", authmethod="tls", authprovider=STATIC)
    check(p.challenges == [], f"the tls method sent a CHALLENGE: {p.challenges!r}")
    await leave(p)
    p = await expect_welcome("tls method, listed client certificate, no authid in HELLO", tc, REALM,
                             [tls_auth()], authid="certuser", login_authid=None, authrole="user",
                             authmethod="tls", authprovider=STATIC)
    await leave(p)
    # A certificate on the connection does not get in the way of the other methods.
    p = await expect_welcome("ticket joe on a connection with a client certificate", tc, REALM,
                             [ticket(TICKET_JOE)], authid="joe", authrole="user", authmethod="ticket",
                             authprovider=STATIC)
    await leave(p)
    await expect_abort("tls method, listed certificate, but another principal's authid", tc, REALM,
                       [tls_auth()], authid="joe", reason="wamp.error.authentication_failed")
    await expect_abort("tls method, CA-signed certificate not listed for the principal",
                       t.with_(client_cert="stranger"), REALM, [tls_auth()], authid="certuser",
                       reason="wamp.error.authentication_failed")
    await expect_abort("tls method without a client certificate", t, REALM, [tls_auth()], authid="certuser",
                       reason="wamp.error.no_auth_method")
    set_step(f"tls: a client certificate not from the client CA fails the TLS handshake [{t}]")
    probe = await login(t.with_(client_cert="rogue"), REALM, [tls_auth()], authid="certuser")
    o = probe.outcome.result()
    check(o[0] in ("connect-failed", "disconnected") and "ALERT_UNKNOWN_CA" in str(o[1]),
          f"rogue certificate: expected the TLS alert unknown_ca and no session, got {describe(o)}")


async def group_authenticator(t, a):
    """Dynamic authentication: an autobahn session on realm "authenticator" serves com.example.authenticate
    for realm2; it accepts, renames, rejects, and hands out wampcra/scram/cryptosign credentials."""
    backend_target = t.with_(kind="rs" if t.kind == "ws" else "ws", serializer="cbor")
    backend = await expect_welcome("authenticator session joins realm authenticator anonymously", backend_target,
                                   "authenticator", [], authid=ANY, authrole="anonymous",
                                   authmethod="anonymous", authprovider=ANY, login_authid=None)
    calls = []
    dyn_scram = scram_server_record(**DYN_SCRAM)
    cra_pw, cra_salt, cra_it, cra_kl = DYN_CRA_SALTED

    def authenticate(realm, authid, details):
        calls.append((realm, authid, details))
        method = details.get("authmethod")
        if authid == "dyn-ticket" and method == "ticket":
            if details.get("ticket") == DYN_TICKET:
                return "user"
            raise ApplicationError("com.example.invalid_ticket", "wrong ticket")
        if authid == "dyn-renamed" and method == "ticket":
            return {"role": "user", "authid": "renamed", "extra": {"from": "authenticator"}}
        if authid == "dyn-norole":
            return "no-such-role-here"
        if authid == "dyn-banned":
            raise ApplicationError("wamp.error.not_authorized", "banned")
        if method == "tls" and (details.get("transport") or {}).get("client_cert_cn") == "certuser":
            return "user"
        if authid == "dyn-cra" and method == "wampcra":
            return {"role": "user", "secret": DYN_CRA}
        if authid == "dyn-cra-salted" and method == "wampcra":
            return {"role": "user", "secret": derive_key(cra_pw, cra_salt, cra_it, cra_kl).decode("ascii"),
                    "salt": cra_salt, "iterations": cra_it, "keylen": cra_kl}
        if authid == "dyn-scram" and method == "wamp-scram":
            return dict(dyn_scram, role="user")
        if authid == "dyn-cs" and method == "cryptosign":
            return {"role": "user", "pubkey": pubkey_hex(ALICE_SEED)}
        raise ApplicationError("com.example.no_such_user", authid)

    set_step("register com.example.authenticate")
    await backend.register(authenticate, "com.example.authenticate")

    def last_call(authid, method):
        check(calls, f"the authenticator was not called for {authid}")
        realm, got_authid, details = calls[-1]
        check((realm, got_authid) == ("realm2", authid), f"authenticator args {calls[-1]!r}")
        check(details.get("authmethod") == method and details.get("authid") == authid,
              f"authenticator details {details!r} (expected authmethod {method}, authid {authid})")
        return details

    def local_port(probe):
        return probe._transport.transport.get_extra_info("sockname")[1]

    p = await expect_welcome("dynamic ticket accepted", t, "realm2", [ticket(DYN_TICKET)], authid="dyn-ticket",
                             authrole="user", authmethod="ticket", authprovider="dynamic",
                             hello_extra={"hint": "py"})
    details = last_call("dyn-ticket", "ticket")
    check(details.get("ticket") == DYN_TICKET, f"details.ticket {details.get('ticket')!r}")
    check(details.get("authextra") == {"hint": "py"}, f"details.authextra {details.get('authextra')!r}")
    check(details.get("session") == p.session_id, f"details.session {details.get('session')} != {p.session_id}")
    transport = details.get("transport") or {}
    check(transport.get("peer") == f"tcp4:127.0.0.1:{local_port(p)}", f"details.transport {transport!r}")
    check(transport.get("channel_binding") is None, f"details.transport.channel_binding on plain TCP: {transport!r}")
    set_step("the dynamically authenticated session works (role user: com.example.)")
    await p.register(lambda: "ok", "com.example.dyn.works")
    check(await p.call("com.example.dyn.works") == "ok", "call on the dynamically authenticated session")
    await leave(p)

    n = len(calls)
    await expect_abort("dynamic ticket rejected (authenticator raises)", t, "realm2", [ticket("wrong")],
                       authid="dyn-ticket", reason="wamp.error.authentication_failed")
    check(len(calls) == n + 1, "the authenticator was not asked about the wrong ticket")
    await expect_abort("dynamic: unknown user (authenticator raises)", t, "realm2", [ticket("x")],
                       authid="dyn-unknown", reason="wamp.error.authentication_failed")
    p = await expect_welcome("dynamic: authenticator renames the authid and adds authextra", t, "realm2",
                             [ticket("anything")], authid="renamed", login_authid="dyn-renamed", authrole="user",
                             authmethod="ticket", authprovider="dynamic", welcome_extra={"from": "authenticator"})
    await leave(p)
    await expect_abort("dynamic: authenticator answers a role the realm does not have", t, "realm2",
                       [ticket("x")], authid="dyn-norole", reason="wamp.error.no_such_role")
    await expect_abort("dynamic: authenticator raises wamp.error.not_authorized", t, "realm2",
                       [ticket("x")], authid="dyn-banned", reason="wamp.error.not_authorized")

    p = await expect_welcome("dynamic wampcra", t, "realm2", [wampcra("dyn-cra", DYN_CRA)], authid="dyn-cra",
                             authrole="user", authmethod="wampcra", authprovider="dynamic")
    details = last_call("dyn-cra", "wampcra")
    check("ticket" not in details, f"wampcra details carry a ticket: {details!r}")
    await leave(p)
    await expect_abort("dynamic wampcra, wrong secret", t, "realm2", [wampcra("dyn-cra", "wrong")],
                       authid="dyn-cra", reason="wamp.error.authentication_failed")
    p = await expect_welcome("dynamic wampcra salted", t, "realm2", [wampcra("dyn-cra-salted", cra_pw)],
                             authid="dyn-cra-salted", authrole="user", authmethod="wampcra", authprovider="dynamic")
    c = challenge_of(p, "wampcra")
    check((c.extra.get("salt"), c.extra.get("iterations"), c.extra.get("keylen")) == (cra_salt, cra_it, cra_kl),
          f"salted challenge {c.extra!r}")
    await leave(p)
    auth = SpecScram("dyn-scram", DYN_SCRAM["password"])
    p = await expect_welcome("dynamic wamp-scram", t, "realm2", [auth], authid="dyn-scram", authrole="user",
                             authmethod="wamp-scram", authprovider="dynamic")
    check(auth.verified, "verifier not checked")
    await leave(p)
    await expect_abort("dynamic wamp-scram, wrong password", t, "realm2", [SpecScram("dyn-scram", "nope")],
                       authid="dyn-scram", reason="wamp.error.authentication_failed")
    p = await expect_welcome("dynamic cryptosign", t, "realm2", [cryptosign(ALICE_SEED)], authid="dyn-cs",
                             authrole="user", authmethod="cryptosign", authprovider="dynamic")
    details = last_call("dyn-cs", "cryptosign")
    check((details.get("authextra") or {}).get("pubkey") == pubkey_hex(ALICE_SEED),
          f"cryptosign details.authextra {details.get('authextra')!r}")
    await leave(p)
    await expect_abort("dynamic cryptosign, another key", t, "realm2", [cryptosign(MALLORY_SEED)],
                       authid="dyn-cs", reason="wamp.error.authentication_failed")

    # The tls method over TLS: the authenticator sees the certificate and the channel binding.
    tls_target = Target("wss", a.tls, "json", a.certs, client_cert="certuser")
    p = await expect_welcome("dynamic tls method, no authid: the certificate's CN", tls_target, "realm2",
                             [tls_auth()], authid="certuser", login_authid=None, authrole="user",
                             authmethod="tls", authprovider="dynamic")
    realm, got_authid, details = calls[-1]
    check((realm, got_authid, details.get("authmethod")) == ("realm2", None, "tls"), f"tls call {calls[-1]!r}")
    with open(f"{a.certs}/certuser.pem", "rb") as f:
        fingerprint = x509.load_pem_x509_certificate(f.read()).fingerprint(hashes.SHA256()).hex()
    want = {"peer": f"tcp4:127.0.0.1:{local_port(p)}", "channel_binding": "tls-exporter",
            "client_cert_sha256": fingerprint, "client_cert_cn": "certuser"}
    check(details.get("transport") == want, f"tls details.transport {details.get('transport')!r}, expected {want!r}")
    await leave(p)
    await expect_abort("dynamic tls method, a certificate the authenticator rejects",
                       tls_target.with_(client_cert="stranger"), "realm2", [tls_auth()],
                       reason="wamp.error.authentication_failed")

    n = len(calls)
    p = await expect_welcome("static principal on a realm with an authenticator", t, "realm2",
                             [ticket(TICKET_STAT)], authid="stat", authrole="user", authmethod="ticket",
                             authprovider=STATIC)
    await leave(p)
    check(len(calls) == n, f"the authenticator was asked about a static principal: {calls[n:]!r}")
    await expect_abort("realm1 has no authenticator: unknown authid fails without asking", t, REALM,
                       [ticket(DYN_TICKET)], authid="dyn-ticket", reason="wamp.error.authentication_failed")
    check(len(calls) == n, f"the authenticator was asked about realm1: {calls[n:]!r}")
    await leave(backend)


async def group_authorizer(t, a):
    """Dynamic authorization: trent (role trusted) serves com.example.authorize; dyna (role dynamic) is
    allowed and denied exactly as it answers, and answers with cache: true are not asked again (as in
    Crossbar.io, a bare true/false is not cached)."""
    trent = await expect_welcome("trusted session", t, REALM, [ticket(TICKET_TRENT)], authid="trent",
                                 authrole="trusted", authmethod="ticket", authprovider=STATIC)
    asked = []
    rules = {
        ("com.example.dyn.allowed", "call"): True,
        ("com.example.dyn.denied", "call"): False,
        ("com.example.dyn.cached", "call"): {"allow": True, "cache": True},
        ("com.example.dyn.uncached", "call"): {"allow": True, "cache": False},
        ("com.example.dyn.topic", "publish"): {"allow": True, "disclose": True},
        ("com.example.dyn.fence", "publish"): True,
        ("com.example.dyn.hidden", "publish"): {"allow": False},
        ("com.example.dyn.topic", "subscribe"): True,
        ("com.example.dyn.forbidden", "subscribe"): False,
        ("com.example.dyn.own", "register"): True,
        ("com.example.dyn.notmine", "register"): False,
    }

    def authorize(session_details, uri, action, options=None):
        asked.append((session_details, uri, action))
        return rules.get((uri, action), False)

    set_step("trusted session registers the authorizer and the services")
    await trent.register(authorize, "com.example.authorize")
    invoked = {"allowed": 0, "denied": 0, "cached": 0, "uncached": 0}

    def service(name):
        def handler():
            invoked[name] += 1
            return name
        return handler

    for name in invoked:
        await trent.register(service(name), f"com.example.dyn.{name}")
    events = {"topic": asyncio.Queue(), "hidden": asyncio.Queue(), "fence": asyncio.Queue()}
    for name, q in events.items():
        await trent.subscribe(lambda *ar, q=q, details=None: q.put_nowait((ar, details)),
                              f"com.example.dyn.{name}", options=SubscribeOptions(details=True))

    dyna = await expect_welcome("dynamic-role session", t, REALM, [ticket(TICKET_DYNA)], authid="dyna",
                                authrole="dynamic", authmethod="ticket", authprovider=STATIC)

    def asked_about(uri, action):
        return [s for s, u, act in asked if (u, act) == (uri, action)]

    set_step("authorizer allows a call")
    check(await dyna.call("com.example.dyn.allowed") == "allowed", "allowed call result")
    (sd,) = asked_about("com.example.dyn.allowed", "call")
    want = {"session": dyna.session_id, "authid": "dyna", "authrole": "dynamic", "authmethod": "ticket",
            "authprovider": "static", "realm": REALM}
    got = {k: sd.get(k) for k in want}
    check(got == want, f"authorizer session details {sd!r}, expected {want!r}")
    set_step("authorizer denies a call")
    await expect_error(dyna.call("com.example.dyn.denied"), "wamp.error.not_authorized", "denied call")
    check(invoked["denied"] == 0, "the denied procedure was invoked")
    set_step("only answers that say cache: true are cached, per session")
    check(await dyna.call("com.example.dyn.allowed") == "allowed", "second allowed call")
    for name in ["cached", "uncached"]:
        for _ in range(2):
            check(await dyna.call(f"com.example.dyn.{name}") == name, f"{name} call result")
        check(invoked[name] == 2, f"{name} procedure invoked {invoked[name]} times")
    counts = [len(asked_about(f"com.example.dyn.{n}", "call")) for n in ["allowed", "cached", "uncached"]]
    check(counts == [2, 1, 2], f"authorizer asked {counts} times about two calls each to allowed (answer true), "
          f"cached ({{cache: true}}), uncached ({{cache: false}}); expected [2, 1, 2]")
    set_step("authorizer allows a publish with disclose")
    await dyna.publish("com.example.dyn.topic", 1, options=PublishOptions(acknowledge=True))
    ar, details = await next_item(events["topic"], "allowed event")
    check(list(ar) == [1], f"event args {ar!r}")
    check(details.publisher == dyna.session_id, f"disclose: event publisher {details.publisher!r}")
    set_step("authorizer denies a publish")
    await expect_error(dyna.publish("com.example.dyn.hidden", 2, options=PublishOptions(acknowledge=True)),
                       "wamp.error.not_authorized", "denied publish")
    await dyna.publish("com.example.dyn.fence", options=PublishOptions(acknowledge=True))
    await next_item(events["fence"], "fence event")
    check_empty(events["hidden"], "denied publication delivered")
    set_step("authorizer on subscribe and register")
    await dyna.subscribe(lambda *a: None, "com.example.dyn.topic")
    await expect_error(dyna.subscribe(lambda *a: None, "com.example.dyn.forbidden"), "wamp.error.not_authorized",
                       "denied subscribe")
    await dyna.register(lambda: None, "com.example.dyn.own")
    await expect_error(dyna.register(lambda: None, "com.example.dyn.notmine"), "wamp.error.not_authorized",
                       "denied register")
    check(all(s.get("authid") == "dyna" for s, _, _ in asked),
          f"the authorizer was asked about sessions other than dyna: {asked!r}")

    set_step("the cache is per session: a second session is asked again")
    dyna2 = await expect_welcome("second dynamic-role session", t, REALM, [ticket(TICKET_DYNA)], authid="dyna",
                                 authrole="dynamic", authmethod="ticket", authprovider=STATIC)
    check(await dyna2.call("com.example.dyn.cached") == "cached", "cached call from the second session")
    sessions = [s.get("session") for s in asked_about("com.example.dyn.cached", "call")]
    check(sessions == [dyna.session_id, dyna2.session_id], f"authorizer asked about cached call for {sessions}")
    await leave(dyna2, dyna, trent)


async def group_roles(t, a):
    """Static roles: "user" (com.example. prefix, all actions, disclose caller) and "restricted" (call on
    com.example.public. with disclose caller, call on com.example.quiet without, subscribe com.example..news,
    publish exactly com.example.exact). rita (restricted) on t; joe (user) on the other transport."""
    other = t.with_(kind="rs" if t.kind == "ws" else "ws", serializer="msgpack")
    joe = await expect_welcome("joe (user)", other, REALM, [ticket(TICKET_JOE)], authid="joe", authrole="user",
                               authmethod="ticket", authprovider=STATIC)
    rita = await expect_welcome("rita (restricted)", t, REALM, [ticket(TICKET_RITA)], authid="rita",
                                authrole="restricted", authmethod="ticket", authprovider=STATIC)
    invocations = asyncio.Queue()
    private_calls = []

    def echo(x, details=None):
        invocations.put_nowait(details)
        return x

    set_step("user registers and subscribes under com.example.")
    await joe.register(echo, "com.example.public.echo", options=RegisterOptions(details=True))
    await joe.register(echo, "com.example.quiet", options=RegisterOptions(details=True))
    await joe.register(lambda: private_calls.append(1), "com.example.private.secret")
    exact_q, more_q = asyncio.Queue(), asyncio.Queue()
    await joe.subscribe(lambda *ar, details=None: exact_q.put_nowait((ar, details)), "com.example.exact",
                        options=SubscribeOptions(details=True))
    await joe.subscribe(lambda *ar: more_q.put_nowait(ar), "com.example.exact.more")

    set_step("restricted: call allowed by prefix, caller disclosed")
    check(await rita.call("com.example.public.echo", 7) == 7, "echo result")
    d = await next_item(invocations, "invocation")
    got = (d.caller, d.caller_authid, d.caller_authrole)
    check(got == (rita.session_id, "rita", "restricted"), f"disclosed caller {got}, expected rita's")
    set_step("restricted: call allowed by exact rule without disclose")
    check(await rita.call("com.example.quiet", 8) == 8, "quiet echo result")
    d = await next_item(invocations, "invocation")
    check((d.caller, d.caller_authid, d.caller_authrole) == (None, None, None),
          f"caller disclosed without disclose: {(d.caller, d.caller_authid, d.caller_authrole)}")
    set_step("restricted: denied call, register, subscribe, publish")
    await expect_error(rita.call("com.example.private.secret"), "wamp.error.not_authorized", "call outside rules")
    check(private_calls == [], "the denied procedure was invoked")
    await expect_error(rita.call("org.elsewhere.proc"), "wamp.error.not_authorized", "call outside com.example.")
    await expect_error(rita.register(lambda: None, "com.example.public.mine"), "wamp.error.not_authorized",
                       "register where only call is allowed")
    await expect_error(rita.subscribe(lambda *a: None, "com.example.foo.bar.news"), "wamp.error.not_authorized",
                       "wildcard component matches one component only")
    await expect_error(rita.subscribe(lambda *a: None, "com.example.exact"), "wamp.error.not_authorized",
                       "subscribe where only publish is allowed")
    await expect_error(rita.publish("com.example.exact.more", options=PublishOptions(acknowledge=True)),
                       "wamp.error.not_authorized", "exact rule does not match a longer URI")
    await expect_error(rita.publish("com.example.public.echo", options=PublishOptions(acknowledge=True)),
                       "wamp.error.not_authorized", "publish where only call is allowed")
    set_step("restricted: publish allowed by exact rule, publisher not disclosed")
    await rita.publish("com.example.exact", "hi", options=PublishOptions(acknowledge=True))
    ar, d = await next_item(exact_q, "event on com.example.exact")
    check(list(ar) == ["hi"] and d.publisher is None, f"event {ar!r} publisher {d.publisher!r}")
    check_empty(more_q, "denied publication delivered")
    set_step("restricted: subscribe allowed by wildcard rule; user publishes, publisher not disclosed")
    news = asyncio.Queue()
    await rita.subscribe(lambda *ar, details=None: news.put_nowait((ar, details)), "com.example.foo.news",
                         options=SubscribeOptions(details=True))
    await joe.publish("com.example.foo.news", "n", options=PublishOptions(acknowledge=True))
    ar, d = await next_item(news, "news event")
    check(list(ar) == ["n"] and d.publisher is None, f"news event {ar!r} publisher {d.publisher!r}")
    set_step("user: nothing outside com.example.")
    await expect_error(joe.register(lambda: None, "org.example.proc"), "wamp.error.not_authorized",
                       "user registers outside its prefix")
    await leave(rita, joe)

    # A realm without roles allows everything, except what is reserved for the router.
    anon = await expect_welcome("anonymous on realm authenticator (no roles)", t, "authenticator", [],
                                authid=ANY, login_authid=None, authrole="anonymous", authmethod="anonymous",
                                authprovider=ANY)
    set_step("no roles: everything allowed")
    await anon.register(lambda: 1, "com.example.anything")
    check(await anon.call("com.example.anything") == 1, "call on a realm without roles")
    set_step("wamp. is reserved for the router")
    await expect_error(anon.register(lambda: None, "wamp.example.proc"), "wamp.error.not_authorized",
                       "register under wamp.")
    await expect_error(anon.publish("wamp.example.topic", options=PublishOptions(acknowledge=True)),
                       "wamp.error.not_authorized", "publish under wamp.")
    await leave(anon)


async def group_method_choice(t, a):
    """Several offered methods (as a Component configured with several authenticators sends them): a known
    principal is challenged with the first offered method it has; none it has: ABORT no_auth_method."""
    await expect_abort("joe (ticket only) offers [wampcra]", t, REALM, [wampcra("joe", TICKET_JOE)], authid="joe",
                       reason="wamp.error.no_auth_method")
    p = await expect_welcome("joe (ticket only) offers [cryptosign, ticket]", t, REALM,
                             [cryptosign(ALICE_SEED), ticket(TICKET_JOE)], authid="joe", authrole="user",
                             authmethod="ticket", authprovider=STATIC)
    challenge_of(p, "ticket")
    await leave(p)
    p = await expect_welcome("alice (cryptosign only) offers [wampcra, cryptosign]", t, REALM,
                             [wampcra("alice", "unused"), cryptosign(ALICE_SEED)], authid="alice", authrole="user",
                             authmethod="cryptosign", authprovider=STATIC)
    challenge_of(p, "cryptosign")
    await leave(p)


GROUPS = {
    "ticket": group_ticket,
    "wampcra": group_wampcra,
    "scram": group_scram,
    "cryptosign": group_cryptosign,
    "tls": group_tls,
    "authenticator": group_authenticator,
    "authorizer": group_authorizer,
    "roles": group_roles,
    "method_choice": group_method_choice,
}


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "gen":
        run_gen(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("group", choices=GROUPS)
    ap.add_argument("--plain", required=True, help="HOST:PORT of the plain universal endpoint")
    ap.add_argument("--tls", required=True, help="HOST:PORT of the TLS universal endpoint")
    ap.add_argument("--certs", required=True, help="the directory `gen` wrote")
    ap.add_argument("--transport", choices=["ws", "rs", "wss", "rss"], default="ws")
    ap.add_argument("--serializer", choices=list(SERIALIZERS), default="json")
    ap.add_argument("--timeout", type=float, default=40.0, help="overall time limit in seconds")
    args = ap.parse_args()

    addr = args.tls if args.transport in ("wss", "rss") else args.plain
    target = Target(args.transport, addr, args.serializer, args.certs)
    txaio.start_logging(level="critical")
    label = f"py_auth {args.group} {target}"
    try:
        asyncio.run(asyncio.wait_for(GROUPS[args.group](target, args), args.timeout))
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
