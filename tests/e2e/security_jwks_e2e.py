#!/usr/bin/python3
"""End to end: RS256 bearer tokens from a JWKS file in the real `hive`
(storage_sqlite, security_manager, api); RSA keys and signatures from the
openssl CLI.

  1. A token signed by the key whose kid it names is served (200); one whose
     kid names another key, an unknown kid, or alg none is 401.
  2. The JWKS file is replaced (renamed over) by one with a new key only:
     within a few refresh intervals the new key's token is served, the old
     key's is 401, and the log says the file was reloaded.
  3. A broken file leaves the new key in use and logs one warning.
  4. SIGTERM: exit status 0, no sanitizer report.

    security_jwks_e2e.py --hive build/dev/bin/hive --plugins build/dev/plugins [--keep]
"""
import base64
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402
from security_checks import SecurityRun  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{plugins}]
  data_dir: {data}
  control_socket: {socket}
plugins:
  storage_sqlite:
    config: {{}}
  security_manager:
    config:
      refresh_interval: 200ms
      jwt:
        issuers:
          - issuer: https://sso.test
            audience: hive
            jwks_file: %s
            role: viewer
  api:
    config:
      listen: 127.0.0.1:0
"""


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rsa_key(path):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", path],
                   check=True, capture_output=True)
    modulus = subprocess.run(["openssl", "rsa", "-in", path, "-noout", "-modulus"], check=True,
                             capture_output=True, text=True).stdout.strip().split("=", 1)[1]
    return bytes.fromhex(modulus)


def jwk(kid, modulus):
    return {"kty": "RSA", "kid": kid, "use": "sig", "n": b64url(modulus), "e": b64url(bytes([1, 0, 1]))}


def write_jwks(path, keys):
    with open(path + ".new", "w") as f:
        f.write(keys if isinstance(keys, str) else json.dumps({"keys": keys}))
    os.replace(path + ".new", path)


def token(key_path, kid, alg="RS256"):
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    claims = {"iss": "https://sso.test", "aud": "hive", "sub": "alice", "exp": int(time.time()) + 600}
    signed = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = b""
    if alg == "RS256":
        signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_path], input=signed.encode(),
                                   check=True, capture_output=True).stdout
    return signed + "." + b64url(signature)


def until(condition, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def scenario(run, hive, keys, moduli, jwks):
    check = run.check

    def status(bearer):
        return run.call(hive.port, "GET", "/api/v2/openapi.json", bearer)[0]

    def logged(text):
        with open(hive.log.name, errors="replace") as f:
            return text in f.read()

    hive.start()
    check(status(token(keys["one"], "one")) == 200, "token of key one, kid one")
    check(status(token(keys["two"], "two")) == 200, "token of key two, kid two")
    check(status(token(keys["two"], "one")) == 401, "token of key two naming kid one")
    check(status(token(keys["one"], "nine")) == 401, "unknown kid")
    check(status(token(keys["one"], "one", alg="none")) == 401, "alg none")

    write_jwks(jwks, [jwk("three", moduli["three"])])
    check(until(lambda: status(token(keys["three"], "three")) == 200), "the rotated-in key is served within 10 s")
    check(status(token(keys["one"], "one")) == 401, "the rotated-out key is refused")
    check(logged("reloaded from %s (1 keys)" % jwks), "the log says the JWKS was reloaded")

    write_jwks(jwks, '{"keys": [{"kty": "RSA", "kid": "broken"')
    check(until(lambda: logged("previous keys stay in use")), "a broken file is reported")
    check(status(token(keys["three"], "three")) == 200, "a broken file keeps the previous keys")
    run.stopped_cleanly(hive)
    run.passed()


def main():
    run = SecurityRun("jwks", __doc__)
    keys = {name: os.path.join(run.workdir, name + ".pem") for name in ("one", "two", "three")}
    moduli = {name: rsa_key(path) for name, path in keys.items()}
    jwks = os.path.join(run.workdir, "jwks.json")
    write_jwks(jwks, [jwk("one", moduli["one"]), jwk("two", moduli["two"])])
    hive = HiveProcess(run.hive, run.workdir, run.plugins, CONFIG % jwks, "jwks")
    try:
        scenario(run, hive, keys, moduli, jwks)
    finally:
        code = run.finish(hive)
    return code


if __name__ == "__main__":
    sys.exit(main())
