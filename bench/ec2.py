#!/usr/bin/env python3
"""kiln build vs packer build (1.6.6) of the classic first AMI
(templates/first-ami.json) on the same loopback EC2, in one run: wall time
(mean and median of N interleaved runs each), peak RSS and the number of
EC2 API calls of each.

The timed runs talk to moto directly, as the harness's README runs a build.
The calls are counted in as many runs again through a counting proxy in
front of moto; those runs are timed too and reported on their own line,
because the proxy (Python, a new connection to moto per call) adds a few
milliseconds to every call — more to the builder that makes more calls,
and a larger share of the faster one's time.

Starts its own moto server and an sshd whose authorized keys are moto's key
pairs (like tests/common/ec2.rs; needs root), and a counting proxy in front
of moto. The template's package commands run through logging shims, so the
"instance" (this machine) is not changed.
Usage: sudo bench/ec2.py [N]   (KILN=path/to/kiln)
Then `kiln build -reuse` of the unchanged template (N runs after the one
that makes the AMI) against that full build (BENCH_NO_REUSE=1 skips it).
BENCH_TEMPLATE=first-ami.pkr.hcl builds the HCL2 twin instead (packer 1.6.6
builds it too). N=0 makes only the untimed first build of each.

BENCH_REALISM=SEED,LAG,THROTTLE,SLOW puts every run (timed ones too)
through a proxy that behaves as real EC2 does, as the tests' proxy
(tests/common/ec2.rs) models it: a resource is unknown to other calls for
LAG seconds after the call that made it (Invalid<Kind>.NotFound),
THROTTLE per mille of calls get RequestLimitExceeded, and instances and
AMIs read `pending` for SLOW seconds. E.g. BENCH_REALISM=1,3,150,0 (lag
3 s, 15% throttling) or 2,10,50,4 (lag 10 s, slow states).
"""
import http.server, os, random, re, shutil, socketserver, statistics, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5
kiln = common.kiln_path()
packer = None if os.environ.get("BENCH_NO_PACKER") else shutil.which("packer")
if os.getuid() != 0:
    sys.exit("needs root (sshd's AuthorizedKeysCommand, the ec2-user login)")

KEYS = "/usr/local/libexec/kiln-bench/authorized-keys"
os.makedirs(os.path.dirname(KEYS), mode=0o755, exist_ok=True)
shutil.copy(os.path.join(common.root, "tests", "common", "authorized-keys"), KEYS)
os.chmod(KEYS, 0o755)
subprocess.run(["useradd", "-m", "-s", "/bin/sh", "ec2-user"], stderr=subprocess.DEVNULL)
subprocess.run(["usermod", "-p", "*", "ec2-user"], check=True)

work = tempfile.mkdtemp(prefix="kiln-bench-ec2-")
os.chmod(work, 0o755)
shims = os.path.join(work, "shims")
os.makedirs(shims)
for s in ("sudo", "amazon-linux-extras", "systemctl", "yum"):
    p = os.path.join(shims, s)
    with open(p, "w") as f:
        f.write("#!/bin/sh\nexit 0\n")
    os.chmod(p, 0o755)
TEMPLATE = os.environ.get("BENCH_TEMPLATE", "first-ami.json")
for f in (TEMPLATE, "index.html"):
    shutil.copy(os.path.join(common.root, "templates", f), work)

moto_port, ssh_port, proxy_port = common.free_port(), common.free_port(), common.free_port()
moto = subprocess.Popen(["moto_server", "-H", "127.0.0.1", "-p", str(moto_port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
common.wait_port(moto_port, 30)
subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(work, "host")], check=True)
os.makedirs("/run/sshd", exist_ok=True)
with open(os.path.join(work, "sshd_config"), "w") as f:
    f.write(f"Port {ssh_port}\nListenAddress 127.0.0.1\nHostKey {work}/host\nPidFile {work}/pid\nUsePAM no\nStrictModes no\n"
            f"PasswordAuthentication no\nAuthorizedKeysFile none\nAuthorizedKeysCommand {KEYS} http://127.0.0.1:{moto_port} %u\n"
            f"AuthorizedKeysCommandUser root\nAllowUsers ec2-user\nSetEnv PATH={shims}:/usr/bin:/bin\nLogLevel ERROR\n")
sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(work, "sshd_config")], stderr=subprocess.DEVNULL)
common.wait_port(ssh_port)

calls = [0]
REALISM = None
if os.environ.get("BENCH_REALISM"):
    seed, lag, throttle, slow = os.environ["BENCH_REALISM"].split(",")
    REALISM = dict(seed=int(seed), lag=float(lag), throttle=int(throttle), slow=float(slow))
# (id, not-found code, when) of what the current run has created.
created = []
injected = {"throttle": 0, "not yet": 0, "slow": 0}
CREATES = {
    "CreateSecurityGroup": [("groupId", "InvalidGroup.NotFound")],
    "RunInstances": [("instanceId", "InvalidInstanceID.NotFound")],
    "CreateImage": [("imageId", "InvalidAMIID.NotFound")],
    "CopyImage": [("imageId", "InvalidAMIID.NotFound")],
    "CreateKeyPair": [("keyName", "InvalidKeyPair.NotFound")],
    "ImportKeyPair": [("keyName", "InvalidKeyPair.NotFound")],
}


def refusal(n, action, body):
    """(status, code) if modelled EC2 refuses call n now."""
    if random.Random(REALISM["seed"] * 1_000_003 + n).randrange(1000) < REALISM["throttle"]:
        injected["throttle"] += 1
        return 503, "RequestLimitExceeded"
    values = {v for vs in urllib.parse.parse_qs(body).values() for v in vs}
    now = time.monotonic()
    for ident, code, at in created:
        if now - at < REALISM["lag"] and ident in values:
            injected["not yet"] += 1
            return 400, code
    return None


def model(action, data):
    """Record what the answer created; read new things as pending."""
    text = data.decode(errors="replace")
    for tag, code in CREATES.get(action, []):
        for ident in re.findall(f"<{tag}>([^<]*)</{tag}>", text):
            created.append((ident, code, time.monotonic()))
    if REALISM["slow"] and action in ("DescribeInstances", "DescribeImages"):
        now = time.monotonic()
        if any(now - at < REALISM["slow"] and ident in text for ident, _, at in created):
            new = (text.replace("<name>running</name>", "<name>pending</name>").replace("<code>16</code>", "<code>0</code>")
                   .replace("<imageState>available</imageState>", "<imageState>pending</imageState>"))
            if new != text:
                injected["slow"] += 1
                return new.encode()
    return data

# BENCH_TRACE=1: print each EC2 call of the last run (start offset, action, ms).
trace = []


class Proxy(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        calls[0] += 1
        n = calls[0]
        t0 = time.perf_counter()
        action = urllib.parse.parse_qs(body.decode(errors="replace")).get("Action", ["?"])[0]
        refused = REALISM and refusal(n, action, body.decode(errors="replace"))
        if refused:
            status, code = refused
            data = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
                    f"<Message>{code} (the bench proxy's model of EC2)</Message></Error></Errors><RequestID>x</RequestID></Response>").encode()
            trace.append((t0, action + " (" + code + ")", 0.0))
            self.send_response(status)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        req = urllib.request.Request(f"http://127.0.0.1:{moto_port}{self.path}", data=body, headers=headers, method="POST")
        try:
            r = urllib.request.urlopen(req)
            status, data, ctype = r.status, r.read(), r.headers.get("Content-Type", "text/xml")
        except urllib.error.HTTPError as e:
            status, data, ctype = e.code, e.read(), e.headers.get("Content-Type", "text/xml")
        if REALISM:
            data = model(action, data)
        trace.append((t0, action, (time.perf_counter() - t0) * 1000))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


proxy = Server(("127.0.0.1", proxy_port), Proxy)
threading.Thread(target=proxy.serve_forever, daemon=True).start()

env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", KILN_JOURNAL_DIR=os.path.join(work, "journals"))
def args(port):
    return [f"-var=ec2_endpoint=http://127.0.0.1:{port}", "-var=ssh_host=127.0.0.1", f"-var=ssh_port={ssh_port}", TEMPLATE]


def reset():
    """A fresh moto, warmed up: its first DescribeImages after a reset loads
    the AMI catalogue (~1 s), which is moto's cost, not the builder's."""
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{moto_port}/moto-api/reset", data=b"", method="POST")).read()
    auth = "AWS4-HMAC-SHA256 Credential=testing/20200101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0"
    body = b"Action=DescribeImages&Version=2016-11-15&ImageId.1=ami-04681a1dbd79675a5"
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{moto_port}/", data=body, headers={"Authorization": auth})).read()
    trace.clear()
    created.clear()
    trace.append((time.perf_counter(), "(process starts)", 0.0))


class Tool:
    def __init__(self, name, path):
        self.name, self.path = name, path
        self.walls, self.cpus, self.peak, self.calls, self.trace = [], [], 0, 0, []
        self.counted_walls = []
        # moto's CreateKeyPair in each counted run: its RSA generation
        # (OpenSSL from Python) is on both builders' critical path and is
        # the most variable item of a build.
        self.keypair_ms = []

    def run(self, timed=True):
        """One build straight against moto (through the model of EC2 with
        BENCH_REALISM)."""
        calls[0] = 0
        port = proxy_port if REALISM else moto_port
        wall, rss = common.measure([self.path, "build", "-color=false"] + args(port), 1, env=env, cwd=work, before_each=reset)
        if timed:
            self.walls.append(wall)
            self.peak = max(self.peak, rss)
            if common.last_cpu is not None:
                self.cpus.append(common.last_cpu)

    def run_counted(self):
        """One build through the counting proxy."""
        calls[0] = 0
        wall, _ = common.measure([self.path, "build", "-color=false"] + args(proxy_port), 1, env=env, cwd=work, before_each=reset)
        self.counted_walls.append(wall)
        self.calls += calls[0]
        self.trace = trace + [(common.last_end, "(process ends)", 0.0)]
        self.keypair_ms += [ms for _, a, ms in trace if a == "CreateKeyPair"]

    def wall(self):
        return statistics.mean(self.walls)

    def cpu(self):
        return statistics.mean(self.cpus) if self.cpus else None

    def report(self):
        cpu = self.cpu()
        print(f"{self.name:6s} build: {self.wall() * 1000:8.1f} ms (median {statistics.median(self.walls) * 1000:6.1f})  peak RSS {self.peak / 1024:6.1f} MB"
              f"  EC2 calls {self.calls / len(self.counted_walls):.0f}" + (f"  CPU {cpu * 1000:6.1f} ms" if cpu is not None else ""))
        if self.keypair_ms:
            k = self.keypair_ms
            print(f"       moto's CreateKeyPair in its counted runs: median {statistics.median(k):.0f} ms, mean {statistics.mean(k):.0f}, max {max(k):.0f}")
        if os.environ.get("BENCH_TRACE"):
            print("    runs (ms):", " ".join(f"{r * 1000:.0f}" for r in self.walls))
            for t, a, ms in self.trace:
                print(f"    +{(t - self.trace[0][0]) * 1000:7.1f} ms  {a:32s} {ms:6.1f} ms")


try:
    # Interleaved rounds, the order swapped each round, after one untimed
    # round (the binaries' pages, sshd's and moto's first requests): a
    # slow spell of this shared machine lands on both builders alike.
    tools = [Tool("kiln", kiln)] + ([Tool("packer", packer)] if packer else [])
    for t in tools:
        t.run(timed=False)
    for i in range(N):
        for t in tools if i % 2 == 0 else tools[::-1]:
            t.run()
            if REALISM:
                # The timed run went through the proxy: its calls are counted.
                t.counted_walls.append(t.walls[-1])
                t.calls += calls[0]
                t.trace = trace + [(common.last_end, "(process ends)", 0.0)]
            else:
                t.run_counted()
    if N:
        for t in tools:
            t.report()
        if packer:
            k, p = tools
            ratio = f", CPU {k.cpu() / p.cpu():.2f}" if k.cpu() is not None and p.cpu() else ""
            print(f"kiln / packer: wall {k.wall() / p.wall():.3f} (goal <= 0.333; medians {statistics.median(k.walls) / statistics.median(p.walls):.3f}),"
                  f" RSS {k.peak / p.peak:.3f} (goal <= 0.25), EC2 calls {k.calls / p.calls:.2f}{ratio}")
            if REALISM:
                print(f"through the model of EC2 {REALISM}; injected over all runs: {injected}")
            else:
                kc, pc = statistics.mean(k.counted_walls), statistics.mean(p.counted_walls)
                print(f"through the counting proxy: kiln {kc * 1000:.1f} ms, packer {pc * 1000:.1f} ms, wall {kc / pc:.3f}")
    if N and not os.environ.get("BENCH_NO_REUSE"):
        # kiln build -reuse of an unchanged template: the first run builds
        # (and tags the AMI with its inputs), the next ones find that AMI.
        reset()
        reuse = [kiln, "build", "-color=false", "-reuse"] + args(moto_port)
        full, _ = common.measure(reuse, 1, env=env, cwd=work)
        again, _ = common.measure(reuse, N, env=env, cwd=work)
        line = (f"-reuse, inputs unchanged: {again * 1000:.1f} ms, the build that made the AMI {full * 1000:.1f} ms"
                f" -> {again / full:.3f} of a full build")
        if packer:
            line += f", {again / tools[1].wall():.3f} of packer's"
        print(line)
finally:
    proxy.shutdown()
    sshd.kill()
    moto.kill()
    shutil.rmtree(work, ignore_errors=True)
