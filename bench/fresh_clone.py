#!/usr/bin/env python3
"""The README's first command from a fresh clone, timed (run as root).

Clones the repository's HEAD into a temporary directory and runs
`./scripts/quickstart.sh` there with an empty cargo target directory and an
empty kiln cache, so it compiles kiln from nothing and builds the Debian
base from the archive, as on a new machine. Crates come from cargo's
download cache when it has them (a new machine downloads them first).
Prints the time of each phase: the tools' install (a no-op when they are
there), the compile, and the image build.

    sudo python3 bench/fresh_clone.py [--profile release|dist]
"""
import argparse, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import root  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--profile", default="release", help="cargo profile to time (the quick start uses release)")
    ap.add_argument("--keep", action="store_true", help="keep the clone and its target directory")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="kiln-fresh-")
    clone = os.path.join(work, "kiln")
    subprocess.run(["git", "clone", "-q", root, clone], check=True)
    env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(work, "target"), KILN_CACHE_DIR=os.path.join(work, "cache"))
    env.pop("RUSTFLAGS", None)
    times = {}
    t0 = time.perf_counter()
    subprocess.run(["./scripts/install-qemu-deps.sh"], cwd=clone, env=env, check=True, stdout=subprocess.DEVNULL)
    times["install"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run(["cargo", "build", "--profile", a.profile, "--quiet"], cwd=clone, env=env, check=True)
    times["compile"] = time.perf_counter() - t0
    out_dir = "release" if a.profile == "release" else a.profile
    kiln = os.path.join(work, "target", out_dir, "kiln")
    t0 = time.perf_counter()
    subprocess.run([kiln, "build", "-force", "-color=false", "templates/quickstart.pkr.hcl"], cwd=clone, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    times["image"] = time.perf_counter() - t0
    size = os.path.getsize(kiln)
    total = sum(times.values())
    cpus = os.cpu_count()
    print(f"fresh clone, {cpus} cores, profile {a.profile}: install {times['install']:.0f} s, "
          f"compile {times['compile']:.0f} s, image {times['image']:.0f} s, total {total:.0f} s "
          f"({total / 60:.1f} min); binary {size / 1e6:.1f} MB")
    if not a.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
