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
import argparse
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_http import HiveProcess  # noqa: E402

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

failures = []


def say(*parts):
    print("jwks:", *parts, flush=True)


def check(condition, what):
    if not condition:
        failures.append(what)
        say("FAIL:", what)
    return condition


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


def status(port, bearer):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", "/api/v2/openapi.json", headers={"Authorization": "Bearer " + bearer})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status


def until(condition, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    args.hive, args.plugins = os.path.abspath(args.hive), os.path.abspath(args.plugins)
    workdir = tempfile.mkdtemp(prefix="hive-jwks-e2e-")
    keys = {name: os.path.join(workdir, name + ".pem") for name in ("one", "two", "three")}
    moduli = {name: rsa_key(path) for name, path in keys.items()}
    jwks = os.path.join(workdir, "jwks.json")
    write_jwks(jwks, [jwk("one", moduli["one"]), jwk("two", moduli["two"])])
    hive = HiveProcess(args.hive, workdir, args.plugins, CONFIG % jwks, "jwks")
    failures.append("did not finish")  # removed at the end: an exit on the way keeps the work directory
    try:
        hive.start()
        port = hive.port
        check(status(port, token(keys["one"], "one")) == 200, "token of key one, kid one")
        check(status(port, token(keys["two"], "two")) == 200, "token of key two, kid two")
        check(status(port, token(keys["two"], "one")) == 401, "token of key two naming kid one")
        check(status(port, token(keys["one"], "nine")) == 401, "unknown kid")
        check(status(port, token(keys["one"], "one", alg="none")) == 401, "alg none")

        write_jwks(jwks, [jwk("three", moduli["three"])])
        rotated = until(lambda: status(port, token(keys["three"], "three")) == 200)
        check(rotated, "the rotated-in key is served within 10 s")
        check(status(port, token(keys["one"], "one")) == 401, "the rotated-out key is refused")
        with open(hive.log.name, errors="replace") as f:
            check("reloaded from %s (1 keys)" % jwks in f.read(), "the log says the JWKS was reloaded")

        write_jwks(jwks, '{"keys": [{"kty": "RSA", "kid": "broken"')
        check(until(lambda: "previous keys stay in use" in open(hive.log.name, errors="replace").read()),
              "a broken file is reported")
        check(status(port, token(keys["three"], "three")) == 200, "a broken file keeps the previous keys")
        code = hive.stop()
        check(code == 0, "SIGTERM exit status %s" % code)
        check(hive.sanitizer_report() is None, "sanitizer report:\n%s" % hive.sanitizer_report())
        failures.remove("did not finish")
    finally:
        hive.stop()
        if failures:
            say("%d failure(s); work directory %s" % (len(failures), workdir))
        elif not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    if not failures:
        say("all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
