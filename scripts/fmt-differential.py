#!/usr/bin/env python3
"""Differential check of `kiln fmt` against HashiCorp's formatter.

Mutates every input under the given directories (deleting, duplicating and
inserting characters at seeded random places) and checks, for each variant,
that kiln and the oracle (`hclfmt-go`, built by ../shared/oracle/build-go.sh)
agree: both accept with byte-identical output, or both refuse with the first
error on the same line and column.

  scripts/fmt-differential.py [-n N] [--seed S] ORACLE KILN DIR...
"""
import argparse, os, random, re, subprocess, sys, tempfile

ap = argparse.ArgumentParser()
ap.add_argument("-n", type=int, default=20, help="variants per input file")
ap.add_argument("--seed", type=int, default=1)
ap.add_argument("oracle")
ap.add_argument("kiln")
ap.add_argument("dirs", nargs="+")
a = ap.parse_args()
rnd = random.Random(a.seed)

INSERTS = [b"{", b"}", b"[", b"]", b"(", b")", b'"', b"\n", b"=", b",", b"${", b"%{", b"~}", b"#", b"/*", b"<<EOF\n",
           b"EOF\n", b".", b"*", b"-", b"!", b"?", b":", b"...", b"\\", b"$", b"%", b" ", b"\t", b"\r\n", b"for ", b" in ",
           b"if ", b"endif", b"0.1", b"1.2.3", b"\xc3\xa9", b"x", b"=>", b"::"]

def mutate(src: bytes) -> bytes:
    if not src:
        return rnd.choice(INSERTS)
    i = rnd.randrange(len(src) + 1)
    op = rnd.randrange(3)
    if op == 0 and i < len(src):
        return src[:i] + src[i + 1:]
    if op == 1:
        j = min(len(src), i + rnd.randrange(1, 12))
        return src[:i] + src[i:j] + src[i:]
    return src[:i] + rnd.choice(INSERTS) + src[i:]

def files():
    for d in a.dirs:
        for root, _, names in os.walk(d):
            for n in sorted(names):
                if n.endswith(".pkr.hcl") or n.endswith(".pkrvars.hcl"):
                    yield os.path.join(root, n)

loc_oracle = re.compile(rb":(\d+),(\d+)")
loc_kiln = re.compile(rb":(\d+):(\d+)\)")
total = agree = 0
problems = []
with tempfile.TemporaryDirectory() as tmp:
    f = os.path.join(tmp, "m.pkr.hcl")
    for path in files():
        src = open(path, "rb").read()
        for k in range(a.n):
            m = src
            for _ in range(rnd.randrange(1, 3)):
                m = mutate(m)
            open(f, "wb").write(m)
            o = subprocess.run([a.oracle, f], capture_output=True)
            kk = subprocess.run([a.kiln, "fmt", "-"], input=m, capture_output=True, env=dict(os.environ, NO_COLOR="1"))
            total += 1
            if kk.returncode not in (0, 1) or b"panicked" in kk.stderr:
                problems.append((path, k, "kiln crashed", m, kk.stderr[-300:]))
                continue
            if o.returncode != kk.returncode:
                problems.append((path, k, f"oracle rc={o.returncode} kiln rc={kk.returncode}", m, o.stderr[:200] + b" | " + kk.stderr[:200]))
                continue
            if o.returncode == 0:
                if o.stdout != kk.stdout:
                    problems.append((path, k, "output differs", m, b""))
                    continue
            else:
                ol, kl = loc_oracle.search(o.stderr), loc_kiln.search(kk.stderr)
                if not ol or not kl or ol.groups() != kl.groups():
                    problems.append((path, k, f"error location oracle={ol and ol.groups()} kiln={kl and kl.groups()}", m, o.stderr.split(b"\n")[0][:200]))
                    continue
            agree += 1
print(f"{agree}/{total} variants agree")
for p, k, why, m, extra in problems[:40]:
    print(f"--- {p} #{k}: {why}\n{extra.decode(errors='replace')}")
    if os.environ.get("SHOW"):
        print(repr(m[:400]))
sys.exit(0 if not problems else 1)
