#!/usr/bin/python3
"""Agent-to-agent messages through a real hive: messages/s and latency p50/p99
on the local bus and on the Redis bus, next to redis-benchmark against the same
(throwaway) redis-server, in the same run.

    bench/messages/run.py --hive build/dev/bin/hive --plugins build/dev/plugins \
        [--pairs 4] [--messages 2000] [--window 64] [--latency-messages 300]

Each pair is a sender agent and a receiver agent on real WebSockets (Python,
one thread each). The sender keeps up to --window messages unanswered
(message.send without waiting for message.accepted); the receiver acks every
message. Latency is from the sender's send to the receiver's read (same
host clock). What one message costs hive: a frame in, an XADD (append) and a
PUBLISH (the messages.queued event), an XREADGROUP, a frame out, a frame in
(the ack), an XACK and a PUBLISH. The agents are Python: at high rates they,
not hive, may be the limit (the figures say how busy the machine was).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from agents_e2e import RawAgent  # noqa: E402
from e2e_http import HiveProcess, free_port  # noqa: E402

CONFIG = """hive:
  plugin_dirs: [{{plugins}}]
  data_dir: {{data}}
  control_socket: {{socket}}
  drain_deadline: 10s
  log_level: warn
plugins:
  api:
    config:
      listen: 127.0.0.1:0
      access_log: false
  storage_sqlite:
    config: {{{{}}}}
  communication_engine:
    config: {bus}
  task_manager:
    config: {{{{}}}}
  orchestrator:
    config:
      heartbeat_interval: 5s
      missed_heartbeats: 60
  communication_manager:
    config:
      rate_per_second: 10000000
      rate_burst: 10000000
      max_queue: 10000000
      max_in_flight: 1000
"""


class Agent:
    def __init__(self, port, name):
        self.ws = RawAgent(port)
        self.ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.ws.sock.settimeout(60)
        self.buffer, self.at = bytearray(self.ws.buffer), 0  # what RawAgent read past the handshake
        self.ws.send({"type": "hello", "name": name})
        frame = self.read()
        self.id = frame["agent_id"]
        self.ws.send({"type": "heartbeat"})  # answered once communication_manager knows the agent
        while self.read()["type"] != "heartbeat.ack":
            pass

    def read(self):
        """One server frame (unmasked, unfragmented: what hive sends), parsed; a
        position into one buffer instead of RawAgent's copies, which cost more
        than hive at these rates."""
        while True:
            frame = self._parse()
            if frame is not None:
                return json.loads(frame)
            chunk = self.ws.sock.recv(1 << 20)
            if not chunk:
                raise AssertionError("connection closed")
            if self.at:
                del self.buffer[:self.at]
                self.at = 0
            self.buffer += chunk

    def _parse(self):
        b, at = self.buffer, self.at
        if len(b) - at < 2:
            return None
        length, offset = b[at + 1] & 0x7F, 2
        if length == 126:
            if len(b) - at < 4:
                return None
            length, offset = int.from_bytes(b[at + 2:at + 4], "big"), 4
        elif length == 127:
            if len(b) - at < 10:
                return None
            length, offset = int.from_bytes(b[at + 2:at + 10], "big"), 10
        if len(b) - at < offset + length:
            return None
        if b[at] & 0x0F == 8:
            raise AssertionError("close frame")
        self.at = at + offset + length
        return bytes(b[at + offset:self.at])

    def send_raw(self, frames):
        """Several frames in one write."""
        data = b""
        for frame in frames:
            payload = json.dumps(frame).encode()
            mask = os.urandom(4)
            header = bytes([0x81])
            if len(payload) < 126:
                header += bytes([0x80 | len(payload)])
            else:
                header += bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
            data += header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.ws.sock.sendall(data)


def run_pair(sender, receiver, count, window, latencies, errors):
    done = threading.Event()

    def receive():
        got = 0
        acks = []
        try:
            while got < count:
                frame = receiver.read()
                if frame["type"] != "message":
                    continue
                latencies.append(time.time() - frame["body"]["t"])
                got += 1
                acks.append({"type": "message.ack", "id": frame["id"]})
                if len(acks) >= 16 or got == count:
                    receiver.send_raw(acks)
                    acks = []
        except Exception as e:  # noqa: BLE001 (reported)
            errors.append("receiver: %s" % e)
        done.set()

    thread = threading.Thread(target=receive, daemon=True)
    thread.start()
    sent = accepted = 0
    try:
        while accepted < count:
            batch = []
            while sent < count and sent - accepted < window:
                batch.append({"type": "message.send", "to": receiver.id, "body": {"t": time.time(), "n": sent}})
                sent += 1
            if batch:
                sender.send_raw(batch)
            frame = sender.read()
            if frame["type"] == "message.accepted":
                accepted += 1
            elif frame["type"] == "error":
                errors.append("sender: %s" % frame)
                return
    except Exception as e:  # noqa: BLE001
        errors.append("sender: %s" % e)
    done.wait(120)


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")


def measure(args, workdir, bus, label):
    hive = HiveProcess(args.hive, workdir, args.plugins,
                       CONFIG.format(bus=bus.replace("{", "{{").replace("}", "}}")), "bench_messages")
    hive.start()
    try:
        pairs = [(Agent(hive.port, "s%d" % i), Agent(hive.port, "r%d" % i)) for i in range(args.pairs)]
        # Warm-up: 50 messages a pair.
        run_all(pairs, 50, args.window)
        latencies, errors, elapsed = run_all(pairs, args.messages, args.window)
        report(label, "throughput", latencies, errors, elapsed, args.pairs, args.window)
        # Latency unloaded: one pair, one message at a time.
        latencies, errors, elapsed = run_all(pairs[:1], args.latency_messages, 1)
        report(label, "one at a time", latencies, errors, elapsed, 1, 1)
        for sender, receiver in pairs:
            sender.ws.sock.close()
            receiver.ws.sock.close()
    finally:
        hive.stop()


def report(label, what, latencies, errors, elapsed, pairs, window):
    if errors:
        print("  %s: errors: %s" % (label, errors[:3]))
    print("  %-16s %-14s %7.0f messages/s  latency p50 %7.2f ms  p99 %7.2f ms  (%d messages, %d pair(s), "
          "window %d, load %.1f)" % (label, what, len(latencies) / elapsed, percentile(latencies, 0.5) * 1000,
                                     percentile(latencies, 0.99) * 1000, len(latencies), pairs, window,
                                     os.getloadavg()[0]))


def run_all(pairs, count, window):
    latencies, errors = [], []
    threads = [threading.Thread(target=run_pair, args=(s, r, count, window, latencies, errors)) for s, r in pairs]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, errors, time.monotonic() - started


def redis_benchmark(port, args):
    out = []
    for extra, what in ((["-c", "16", "-P", "1"], "XADD, 16 clients, 1 in flight each"),
                        (["-P", "16"], "XADD, 50 clients x 16 pipelined"),
                        (["-c", "16", "-P", "1", "-t", "publish"], None)):
        if what is None:
            cmd = ["redis-benchmark", "-p", str(port), "-c", "16", "-n", "100000", "-q", "PUBLISH", "ch", "x" * 60]
            what = "PUBLISH, 16 clients, 1 in flight each"
        else:
            cmd = ["redis-benchmark", "-p", str(port), "-n", "100000", "-q"] + extra + [
                "XADD", "benchstream", "*", "p", "x" * 60]
        text = subprocess.run(cmd, capture_output=True, text=True).stdout.replace("\r", "\n")
        line = [l for l in text.splitlines() if "requests per second" in l]
        out.append("  redis-benchmark %-36s %s" % (what, line[-1].split(":", 1)[-1].strip() if line else "?"))
        subprocess.run(["redis-cli", "-p", str(port), "del", "benchstream"], capture_output=True)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hive", required=True)
    parser.add_argument("--plugins", required=True)
    parser.add_argument("--pairs", type=int, default=4)
    parser.add_argument("--messages", type=int, default=2000, help="per pair")
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--latency-messages", type=int, default=300, help="sent one at a time, one pair")
    args = parser.parse_args()
    args.plugins = os.path.abspath(args.plugins)
    workdir = tempfile.mkdtemp(prefix="hive-bench-messages-")
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", workdir,
                              "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.05)
        version = subprocess.run(["redis-server", "--version"], capture_output=True, text=True).stdout.split()
        print("machine: %d cores, load %.1f; hive %s; redis %s" % (
            os.cpu_count(), os.getloadavg()[0], args.hive, next((v for v in version if v.startswith("v=")), "?")))
        for line in redis_benchmark(port, args):
            print(line)
        for bus, label in (("{}", "hive, local bus"),
                           ('{"transport": "redis", "redis": {"url": "redis://127.0.0.1:%d", "prefix": "bench:"}}'
                            % port, "hive, redis bus")):
            os.makedirs(os.path.join(workdir, label.split()[-2]), exist_ok=True)
            measure(args, os.path.join(workdir, label.split()[-2]), bus, label)
        for line in redis_benchmark(port, args)[:1]:
            print(line + "   (again, after)")
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
