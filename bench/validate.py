#!/usr/bin/env python3
"""kiln validate vs packer validate (1.6.6), same templates, one run.

Wall time: mean of N calls of each (perf_counter, spawned straight from
here); peak RSS: the largest of 3 more calls run under GNU time (see
common.measure: wait4 on a process spawned from this script reports the
script's own high-water mark, ~13.5 MB, when the program's is lower).
Prints both and the ratios packer/kiln.
Usage: bench/validate.py [N]  (KILN=path/to/kiln to pick the binary)
"""
import os, shutil, sys, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

os.chdir(common.root)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20
kiln = common.kiln_path()
env = dict(os.environ, CHECKPOINT_DISABLE="1")
cases = [
    ("fixtures/build-demo", ["validate", "-var-file=fixtures/build-demo/demo.pkrvars.hcl", "fixtures/build-demo"]),
    ("templates/hello.pkr.hcl", ["validate", "templates/hello.pkr.hcl"]),
]

def measure(argv):
    peak, total = 0, 0.0
    for _ in range(N):
        t0 = time.perf_counter()
        # posix_spawn (vfork-like): the child's peak RSS is the program's own,
        # not a copy of this Python process.
        path = argv[0] if os.sep in argv[0] else shutil.which(argv[0])
        pid = os.posix_spawn(path, argv, env, file_actions=[
            (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
            (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0),
        ])
        _, status, _ = os.wait4(pid, 0)
        total += time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{argv} failed")
    _, peak = common.measure([path] + argv[1:], 3, env=env)
    return total / N, peak

print(f"{'template':<26} {'kiln ms':>9} {'packer ms':>10} {'speedup':>8} {'kiln KB':>8} {'packer KB':>10} {'RSS ratio':>9}")
for name, args in cases:
    ks, km = measure([kiln] + args)
    ps, pm = measure(["packer"] + args)
    print(f"{name:<26} {ks*1000:>9.2f} {ps*1000:>10.2f} {ps/ks:>7.1f}x {km:>8} {pm:>10} {pm/km:>8.1f}x")
