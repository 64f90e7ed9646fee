#!/usr/bin/env python3
"""qemu benchmark (run as root; needs scripts/install-qemu-deps.sh and Debian's packer).

1. The README quick start from nothing (an empty kiln cache: the Debian base
   is built from the archive) and again with the base cached.
   Then the quick start with -reuse: a full build, and unchanged reruns.
2. kiln and `packer build` (1.6.6) of the same JSON qemu template
   (accelerator tcg) on the same base image, in one run: wall-time ratio.

    python3 bench/qemu.py [--runs N]
"""
import argparse, glob, json, os, shutil, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import kiln_path, measure, root  # noqa: E402


def run_quickstart(kiln, cache, work, flags=("-force",)):
    env = dict(os.environ, KILN_CACHE_DIR=cache)
    t0 = time.perf_counter()
    subprocess.run([kiln, "build", *flags, "-color=false", os.path.join(root, "templates", "quickstart.pkr.hcl")],
                   cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def template(base, out):
    return {
        "builders": [{
            "type": "qemu", "disk_image": True, "iso_url": os.path.join(base, "disk.raw"), "iso_checksum": "none",
            "output_directory": out, "vm_name": "bench.qcow2", "format": "qcow2", "disk_compression": True,
            "accelerator": "tcg", "memory": 1024, "cpus": 2, "headless": True,
            "qemuargs": [["-kernel", os.path.join(base, "vmlinuz")], ["-initrd", os.path.join(base, "initrd.img")],
                         ["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"]],
            "ssh_username": "debian", "ssh_private_key_file": os.path.join(base, "id_ed25519"), "ssh_timeout": "5m",
            "shutdown_command": "sudo systemctl poweroff",
        }],
        "provisioners": [
            {"type": "file", "source": os.path.join(root, "templates", "index.html"), "destination": "/tmp/index.html"},
            {"type": "shell", "inline": [
                "sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-download nginx",
                "sudo install -m 0644 /tmp/index.html /var/www/html/index.html",
                "sudo systemctl enable nginx"]},
        ],
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    kiln = kiln_path()
    if not os.path.exists(kiln):
        sys.exit(f"build kiln first (cargo build --release): {kiln} is missing")
    work = tempfile.mkdtemp(prefix="kiln-bench-qemu-")
    cache = os.path.join(work, "cache")
    try:
        cold = run_quickstart(kiln, cache, work)
        warm = run_quickstart(kiln, cache, work)
        print(f"quick start from nothing: {cold:.1f} s (goal <= 180 s); with the base cached: {warm:.1f} s")
        # The README's command (-reuse): a build that records its inputs, then unchanged runs.
        full = run_quickstart(kiln, cache, work, ("-reuse", "-force"))
        again = min(run_quickstart(kiln, cache, work, ("-reuse",)) for _ in range(max(a.runs, 3)))
        print(f"-reuse, inputs unchanged: {again:.1f} s vs the full build {full:.1f} s -> {again / full:.3f}"
              " (the post-processors still run: a sha256 of the image, the manifest)")
        bases = glob.glob(os.path.join(cache, "debian-base", "*", "disk.raw"))
        base = os.path.dirname(bases[0])
        packer = shutil.which("packer")
        if not packer:
            print("packer is not installed: no comparison")
            return
        out = os.path.join(work, "out")
        f = os.path.join(work, "bench.json")
        with open(f, "w") as fh:
            json.dump(template(base, out), fh, indent=2)
        rm = lambda: shutil.rmtree(out, ignore_errors=True)
        k, krss = measure([kiln, "build", f], a.runs, cwd=work, before_each=rm)
        p, prss = measure([packer, "build", f], a.runs, cwd=work, before_each=rm)
        print(f"same template, same base, tcg: kiln {k:.1f} s / {krss / 1024:.1f} MB, packer 1.6.6 {p:.1f} s / {prss / 1024:.1f} MB"
              f" -> wall {k / p:.2f}x, RSS {krss / prss:.2f}x (goal: kiln <= packer)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
