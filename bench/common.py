"""Helpers shared by the benchmarks: which kiln to run, free ports, and
timing whole processes (wall time and peak RSS from wait4)."""
import os, socket, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kiln_path():
    return os.environ.get("KILN") or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "kiln")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, secs=10):
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return True
        except OSError:
            time.sleep(0.02)
    return False


# Mean CPU seconds (user + system) of the runs of the last measure() call,
# when GNU time is there to report them (else None).
last_cpu = None
# Wall seconds of each run of the last measure() call.
last_runs = []
# perf_counter() when the last run of the last measure() call ended.
last_end = None


def measure(argv, n, env=None, cwd=None, before_each=None):
    """Mean wall seconds and peak RSS (KiB) of n runs of argv; exits if one fails.
    The runs' mean CPU time is left in `last_cpu`.

    Peak RSS comes from GNU time (Debian package `time`), which forks a small
    process of its own to run argv. wait4() on a process spawned straight
    from this script would not do: posix_spawn shares the script's memory
    until exec, and the kernel carries that high-water mark (the script's,
    tens of MB after writing a payload) into the child's ru_maxrss.
    """
    gnu_time = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    if not gnu_time:
        print("note: /usr/bin/time (Debian package `time`) not found; peak RSS includes the benchmark script's own", file=sys.stderr)
    global last_cpu, last_runs, last_end
    last_runs = []
    total, peak, cpu = 0.0, 0, 0.0
    env = dict(env or os.environ, CHECKPOINT_DISABLE="1")
    rss_file = os.path.join(tempfile.gettempdir(), f"kiln-bench-rss-{os.getpid()}")
    # BENCH_WRAP: a command that runs each measured process (a profiler:
    # `BENCH_WRAP="valgrind --tool=callgrind"` profiles each run).
    argv = os.environ.get("BENCH_WRAP", "").split() + list(argv)
    cmd = [gnu_time, "-f", "%M %U %S", "-o", rss_file] + argv if gnu_time else argv
    for _ in range(n):
        if before_each:
            before_each()
        t0 = time.perf_counter()
        old = os.getcwd()
        if cwd:
            os.chdir(cwd)
        try:
            pid = os.posix_spawn(cmd[0], cmd, env, file_actions=[
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
        finally:
            os.chdir(old)
        _, status, ru = os.wait4(pid, 0)
        total += time.perf_counter() - t0
        last_runs.append(time.perf_counter() - t0)
        last_end = time.perf_counter()
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(argv)} failed")
        rss = ru.ru_maxrss
        if gnu_time:
            with open(rss_file) as f:
                fields = f.read().strip().splitlines()[-1].split()
                rss = int(fields[0])
                cpu += float(fields[1]) + float(fields[2])
            os.unlink(rss_file)
        peak = max(peak, rss)
    last_cpu = cpu / n if gnu_time else None
    return total / n, peak


def start_sshd(work, extra=""):
    """An sshd on 127.0.0.1 that logs this user in with a key of its own
    (like tests/common/sshd.rs): (process, port, user, private key path)."""
    import shutil, subprocess
    for k in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(work, k)], check=True)
    shutil.copy(os.path.join(work, "client.pub"), os.path.join(work, "authorized_keys"))
    port = free_port()
    os.makedirs("/run/sshd", exist_ok=True)
    with open(os.path.join(work, "sshd_config"), "w") as f:
        f.write(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {work}/host\nPidFile {work}/pid\nUsePAM no\nStrictModes no\n"
                f"AuthorizedKeysFile {work}/authorized_keys\nPasswordAuthentication no\nPermitRootLogin prohibit-password\nLogLevel ERROR\n{extra}")
    sshd = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", os.path.join(work, "sshd_config")], stderr=subprocess.DEVNULL)
    wait_port(port)
    user = subprocess.run(["id", "-un"], capture_output=True, text=True).stdout.strip()
    return sshd, port, user, os.path.join(work, "client")
