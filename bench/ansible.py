#!/usr/bin/env python3
"""The ansible provisioner's relay overhead: the same playbook (a role of
ten tasks: commands, file copies, a template, a handler, facts) run by
`kiln build` against a loopback sshd through kiln's relay (use_proxy,
with SCP and with SFTP) and with a direct connection (use_proxy = false),
N interleaved rounds. Packer's plugin is out of reach here, so the peer is
Ansible's own direct connection: the ratio is the relay's cost.

Needs ansible-playbook (scripts/test.sh installs ansible-core) and an sshd.
Usage: bench/ansible.py [N]   (KILN=path/to/kiln)
"""
import os, shutil, statistics, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 5
kiln = common.kiln_path()
if not shutil.which("ansible-playbook"):
    sys.exit("ansible-playbook is not installed (scripts/test.sh installs ansible-core)")
work = tempfile.mkdtemp(prefix="kiln-bench-ansible-")
sshd, port, user, key = common.start_sshd(work, "Subsystem sftp /usr/lib/openssh/sftp-server\n")
out = os.path.join(work, "out")
files = {
    "site.yml": "- hosts: default\n  gather_facts: true\n  roles:\n    - bench\n",
    "roles/bench/tasks/main.yml": "".join(
        [f"- name: command {i}\n  command: echo {i}\n" for i in range(4)]
        + [f"- name: copy {i}\n  copy:\n    src: data{i}.txt\n    dest: \"{{{{ out }}}}/data{i}.txt\"\n" for i in range(4)]
        + ["- name: template\n  template:\n    src: t.j2\n    dest: \"{{ out }}/t.txt\"\n  notify: done\n",
           "- name: stat\n  stat:\n    path: \"{{ out }}/t.txt\"\n"]),
    "roles/bench/handlers/main.yml": "- name: done\n  command: \"true\"\n",
    "roles/bench/templates/t.j2": "{{ ansible_facts['system'] }} {{ packer_build_name }}\n",
}
for i in range(4):
    files[f"roles/bench/files/data{i}.txt"] = "x" * (64 * 1024 * (i + 1))
for name, text in files.items():
    p = os.path.join(work, name)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
MODES = {"relay, scp": "", "relay, sftp": "    use_sftp = true\n", "direct": "    use_proxy = false\n"}
for mode, options in MODES.items():
    with open(os.path.join(work, mode.replace(", ", "-") + ".pkr.hcl"), "w") as f:
        f.write(f'''source "null" "bench" {{
  ssh_host             = "127.0.0.1"
  ssh_port             = {port}
  ssh_username         = "{user}"
  ssh_private_key_file = "{key}"
}}
build {{
  sources = ["source.null.bench"]
  provisioner "ansible" {{
    playbook_file    = "{work}/site.yml"
    extra_arguments  = ["-e", "out={out}"]
    ansible_env_vars = ["ANSIBLE_PYTHON_INTERPRETER=/usr/bin/python3"]
{options}  }}
}}
''')
walls = {m: [] for m in MODES}
try:
    for i in range(N + 1):
        order = list(MODES) if i % 2 == 0 else list(MODES)[::-1]
        for mode in order:
            shutil.rmtree(out, ignore_errors=True)
            os.makedirs(out)
            wall, _ = common.measure([kiln, "build", "-color=false", os.path.join(work, mode.replace(", ", "-") + ".pkr.hcl")], 1, cwd=work)
            if i:  # the first round warms caches
                walls[mode].append(wall)
    direct = statistics.mean(walls["direct"])
    for mode in MODES:
        w = statistics.mean(walls[mode])
        print(f"{mode:12s} {w * 1000:8.1f} ms (median {statistics.median(walls[mode]) * 1000:7.1f})  -> {w / direct:.3f} of direct (goal <= 1.10)")
finally:
    sshd.kill()
    shutil.rmtree(work, ignore_errors=True)
