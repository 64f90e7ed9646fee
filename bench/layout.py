#!/usr/bin/env python3
"""The code layout of a release kiln: which functions its common jobs run,
written to link/symbol-order.txt, which build.rs hands to the linker
(lld's --symbol-ordering-file) so that those functions sit together at the
start of .text.

Why: most of a build's resident memory is kiln's own code pages, and the
kernel maps the 64 KB around each code page a run touches (fault-around).
A build runs ~6,000 functions, ~3.5 MB of the 9.4 MB of code; scattered
among the rest, they made even the smallest build map ~8 MB of it.

  sudo bench/layout.py            regenerate link/symbol-order.txt from a
                                  release kiln (KILN=path, as the benches)
  bench/layout.py --check [KILN]  how much of the file the binary still has,
                                  and how tightly the listed code is packed

Regenerate after a toolchain or dependency update: the names carry hashes,
and a name the binary no longer has is skipped (build.rs silences lld's
warning), so a stale file costs memory, never a failed link. The profile
runs under valgrind's callgrind: the EC2 build of templates/first-ami.json
and its HCL2 twin through bench/ec2.py (moto and an sshd on loopback; needs
root), then the null build of templates/hello.pkr.hcl, validate, inspect,
fmt and hcl2_upgrade of the templates.
"""
import os, re, shutil, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

ORDER = os.path.join(common.root, "link", "symbol-order.txt")


def text_symbols(binary):
    """{name: (address, size)} of the binary's functions."""
    out = subprocess.run(["nm", "-S", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    syms = {}
    for line in out.splitlines():
        p = line.split()
        if len(p) == 4 and p[2] in "tTwW":
            syms[p[3]] = (int(p[0], 16), int(p[1], 16))
    return syms


def listed(path):
    with open(path) as f:
        return [s for s in (line.strip() for line in f) if s and not s.startswith("#")]


def check(binary):
    syms = text_symbols(binary)
    names = listed(ORDER)
    present = [n for n in names if n in syms]
    size = sum(syms[n][1] for n in present)
    print(f"{binary}: {len(present)} of the {len(names)} listed functions ({len(present) / max(len(names), 1):.0%}), {size / 1e6:.2f} MB of code")
    if present:
        lo = min(syms[n][0] for n in present)
        hi = max(syms[n][0] + syms[n][1] for n in present)
        print(f"  they span {(hi - lo) / 1e6:.2f} MB of .text ({size / (hi - lo):.0%} of it theirs)")


def callgrind(out_dir, tag):
    return ("valgrind --tool=callgrind --dump-instr=no --compress-strings=no --compress-pos=no --demangle=no"
            f" --callgrind-out-file={out_dir}/{tag}.%p.cg")


def executed(cg_file, binary):
    """The functions of `binary` in one callgrind profile, in file order."""
    real = os.path.realpath(binary)
    fns, ob = [], None
    with open(cg_file, errors="replace") as f:
        for line in f:
            if line.startswith("ob="):
                ob = os.path.realpath(line[3:].strip())
            elif line.startswith("fn=") and ob == real:
                # callgrind marks recursion depth as name'2.
                fns.append(re.sub(r"'\d+$", "", line[3:].strip()))
    return fns


def profile(binary):
    if os.getuid() != 0:
        sys.exit("needs root (bench/ec2.py's sshd); --check does not")
    if not shutil.which("valgrind"):
        sys.exit("needs valgrind (Debian package `valgrind`)")
    out = tempfile.mkdtemp(prefix="kiln-layout-")
    runs = []
    env = dict(os.environ, KILN=binary, BENCH_NO_PACKER="1")
    for i, template in enumerate(["first-ami.json", "first-ami.pkr.hcl"]):
        tag = f"{i}-ec2"
        subprocess.run([sys.executable, os.path.join(common.root, "bench", "ec2.py"), "0"], check=True,
                       env=dict(env, BENCH_TEMPLATE=template, BENCH_WRAP=callgrind(out, tag)))
        runs.append(tag)
    work = tempfile.mkdtemp(prefix="kiln-layout-work-")
    for f in os.listdir(os.path.join(common.root, "templates")):
        shutil.copy(os.path.join(common.root, "templates", f), work)
    jobs = [
        ["build", "-color=false", "hello.pkr.hcl"],
        ["validate", "first-ami.pkr.hcl"],
        ["validate", "first-ami.json"],
        ["inspect", "first-ami.pkr.hcl"],
        ["fmt", "-check", "."],
        ["hcl2_upgrade", "-output-file=upgraded.pkr.hcl", "first-ami.json"],
    ]
    for i, job in enumerate(jobs):
        tag = f"{i + 2}-{job[0]}"
        # check: a job that fails would leave its code out of the profile.
        subprocess.run(callgrind(out, tag).split() + [binary] + job, cwd=work, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        runs.append(tag)
    shutil.rmtree(work, ignore_errors=True)

    syms = text_symbols(binary)
    order, seen = [], set()
    for tag in runs:
        files = sorted(f for f in os.listdir(out) if f.startswith(tag + "."))
        if not files:
            sys.exit(f"no profile of {tag}")
        for f in files:
            for name in executed(os.path.join(out, f), binary):
                if name in syms and name not in seen:
                    seen.add(name)
                    order.append(name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(os.path.dirname(ORDER), exist_ok=True)
    with open(ORDER, "w") as f:
        f.write("# The functions a release kiln runs in its common jobs, hottest jobs first:\n"
                "# build.rs passes this file to lld (--symbol-ordering-file) for release\n"
                "# builds. Generated by bench/layout.py from callgrind profiles; do not edit.\n")
        for name in order:
            f.write(name + "\n")
    size = sum(syms[n][1] for n in order)
    print(f"{ORDER}: {len(order)} functions, {size / 1e6:.2f} MB of the binary's {sum(s for _, s in syms.values()) / 1e6:.2f} MB of code")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        check(sys.argv[2] if len(sys.argv) > 2 else common.kiln_path())
    else:
        profile(common.kiln_path())
