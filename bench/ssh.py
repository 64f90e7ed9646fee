#!/usr/bin/env python3
"""kiln build vs packer build (1.6.6) of the same null+SSH template against
the same loopback sshd, in one run: 10 inline commands and a 20 MB upload.

Starts its own sshd on 127.0.0.1 (like tests/common/sshd.rs). Wall time:
mean of N builds of each; peak RSS: largest ru_maxrss of any build.
Usage: bench/ssh.py [N]   (KILN=path/to/kiln)
"""
import os, shutil, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 5
kiln = common.kiln_path()
work = tempfile.mkdtemp(prefix="kiln-bench-ssh-")
sshd, port, user, _ = common.start_sshd(work)
with open(os.path.join(work, "payload.bin"), "wb") as f:
    f.write(os.urandom(20 * 1024 * 1024))
os.makedirs(os.path.join(work, "remote"), exist_ok=True)
inline = ", ".join(f'"echo step {i}"' for i in range(10))
tpl = f'''source "null" "bench" {{
  ssh_host             = "127.0.0.1"
  ssh_port             = {port}
  ssh_username         = "{user}"
  ssh_private_key_file = "{work}/client"
}}
build {{
  sources = ["source.null.bench"]
  provisioner "shell" {{
    inline = [{inline}]
  }}
  provisioner "file" {{
    source      = "{work}/payload.bin"
    destination = "{work}/remote/payload.bin"
  }}
}}
'''
with open(os.path.join(work, "bench.pkr.hcl"), "w") as f:
    f.write(tpl)

def measure(argv):
    return common.measure(argv, N)

try:
    tk, rk = measure([kiln, "build", "-color=false", os.path.join(work, "bench.pkr.hcl")])
    print(f"kiln   build: {tk * 1000:8.1f} ms  peak RSS {rk / 1024:6.1f} MB")
    packer = shutil.which("packer")
    if packer:
        tp, rp = measure([packer, "build", "-color=false", os.path.join(work, "bench.pkr.hcl")])
        print(f"packer build: {tp * 1000:8.1f} ms  peak RSS {rp / 1024:6.1f} MB")
        print(f"kiln / packer: wall {tk / tp:.2f} (goal <= 0.33), RSS {rk / rp:.2f} (goal <= 0.25)")
finally:
    sshd.kill()
    shutil.rmtree(work, ignore_errors=True)
