"""Helpers shared by the benchmarks: which kiln to run, free ports, and
timing whole processes (wall time and peak RSS from wait4)."""
import os, socket, sys, time

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


def measure(argv, n, env=None, cwd=None, before_each=None):
    """Mean wall seconds and peak RSS (KiB) of n runs of argv; exits if one fails."""
    total, peak = 0.0, 0
    env = dict(env or os.environ, CHECKPOINT_DISABLE="1")
    for _ in range(n):
        if before_each:
            before_each()
        t0 = time.perf_counter()
        old = os.getcwd()
        if cwd:
            os.chdir(cwd)
        try:
            pid = os.posix_spawn(argv[0], argv, env, file_actions=[
                (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0), (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)])
        finally:
            os.chdir(old)
        _, status, ru = os.wait4(pid, 0)
        total += time.perf_counter() - t0
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"{' '.join(argv)} failed")
        peak = max(peak, ru.ru_maxrss)
    return total / n, peak
