#!/usr/bin/env python3
"""kiln fmt vs HashiCorp's formatter (Go hclwrite: parse + format, the
`packer fmt` path), on the oracle's 11 MB benchmark input, in one run.

The input is built exactly as ../shared/oracle/bench.sh builds it: every
oracle case with an .expected file except 27, 41 and 44, each followed by a
newline, the whole repeated 2000 times. Each tool reads the file and writes
to /dev/null; best of R runs of the whole process. Also: kiln on a small
template, mean wall time of N runs including process start-up.

Usage: bench/fmt.py [R]   (KILN=..., ORACLE=path/to/hclfmt-go; the default
oracle is what scripts/hcl-oracle.sh builds)
"""
import os, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
R = int(sys.argv[1]) if len(sys.argv) > 1 else 3
kiln = os.environ.get("KILN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "kiln")
oracle = os.environ.get("ORACLE") or subprocess.run([os.path.join(root, "scripts/hcl-oracle.sh")], capture_output=True, text=True).stdout.strip()
cases = os.path.join(root, "..", "shared", "oracle", "cases")
if not os.path.isdir(cases) or not oracle:
    sys.exit("needs ../shared/oracle and the Go oracle (scripts/hcl-oracle.sh)")

one = b""
for n in sorted(os.listdir(cases)):
    if not n.endswith(".pkr.hcl"):
        continue
    b = n[: -len(".pkr.hcl")]
    if not os.path.exists(os.path.join(cases, b + ".expected")) or b in ("27_pkrvars", "44_utf8_bom", "41_namespaced_function"):
        continue
    one += open(os.path.join(cases, n), "rb").read() + b"\n"
big = "/tmp/kiln-bench-fmt-2000.pkr.hcl"
with open(big, "wb") as f:
    f.write(one * 2000)
size = os.path.getsize(big)

def best(argv):
    t = []
    for _ in range(R):
        t0 = time.perf_counter()
        p = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t.append(time.perf_counter() - t0)
        if p.returncode != 0:
            sys.exit(f"{argv[0]} failed: {p.stderr[:300]!r}")
    return min(t)

same = subprocess.run([kiln, "fmt", "-write=false", big], capture_output=True).stdout == subprocess.run([oracle, big], capture_output=True).stdout
tk = best([kiln, "fmt", "-write=false", big])
tg = best([oracle, big])
print(f"input: {size} bytes ({len(one)} x 2000); outputs identical: {same}")
print(f"kiln fmt                      {tk:7.3f} s  {size / tk / 1e6:7.2f} MB/s")
print(f"go hclwrite (parse + format)  {tg:7.3f} s  {size / tg / 1e6:7.2f} MB/s")
print(f"ratio: kiln is {tg / tk:.1f}x the Go oracle's throughput (goal: >= 20x)")

small = os.path.join(root, "templates", "hello.pkr.hcl")
N = 50
t0 = time.perf_counter()
for _ in range(N):
    subprocess.run([kiln, "fmt", "-check", small], stdout=subprocess.DEVNULL)
ts = (time.perf_counter() - t0) / N
t0 = time.perf_counter()
for _ in range(N):
    subprocess.run([oracle, small], stdout=subprocess.DEVNULL)
tgs = (time.perf_counter() - t0) / N
print(f"small file ({os.path.getsize(small)} bytes), wall incl. start-up, mean of {N}: kiln {ts * 1000:.2f} ms, go {tgs * 1000:.2f} ms (goal: <= 5 ms)")
