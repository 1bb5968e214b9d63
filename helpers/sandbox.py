"""A student's code, run where it cannot reach the course, the network or anything that outlives it.

Two ways, chosen by `available()`:

- "bwrap" (bubblewrap; Debian's package `bubblewrap`): new user, mount, PID, network,
  IPC and UTS namespaces. The process sees only the operating system's /usr, Python
  and the virtual environment (read-only), a fresh copy of the student release at
  /course, an empty /tmp, and no network at all (not even the host's 127.0.0.1).
- "unshare" (util-linux, as root, where bubblewrap is missing): the same namespaces
  but the user one, the same file system built with bind mounts and chroot, then every
  capability dropped and an unprivileged user id of its own.

Both: the process and everything it starts are in a PID namespace of their own, so
killing the sandbox kills them all; limits on address space, CPU time, file size, open
files and processes (RLIMIT_NPROC, and where the grader may create one, a control group
capping processes and memory for the whole sandbox). Elsewhere (macOS, Windows, Linux
without either) there is no sandbox: see `UNPROTECTED`.
"""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

KINDS = ("bwrap", "unshare")
INSIDE = "/course"  # where the copy of the release is, inside the sandbox
UID_BASE = 61000  # unshare: the sandbox of job slot k runs as uid/gid UID_BASE + k
SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
UNPROTECTED = ("the submission runs as you, with your files, your network and no limits: it can read the "
               "solutions, change the course and the grades file, and leave processes behind")


@dataclass(frozen=True)
class Limits:
    memory: int = 6 << 30  # bytes of address space per process (torch maps much more than it uses)
    cpu_seconds: int = 900  # per process; the grader's wall-clock limits usually come first
    file_size: int = 256 << 20
    open_files: int = 512
    processes: int = 64  # for the whole sandbox (threads count: torch is limited to one)
    total_memory: int = 4 << 30  # bytes for the whole sandbox, where a control group can be made
    tmp_size: int = 512 << 20  # bytes of /tmp (in memory)


def _which(name: str) -> str | None:
    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin:" + os.environ.get("PATH", ""))


@functools.lru_cache(maxsize=None)
def available() -> str | None:
    """The sandbox this machine offers: "bwrap", "unshare" or None (tried, not guessed)."""
    if not sys.platform.startswith("linux"):
        return None
    for kind in KINDS:
        if works(kind):
            return kind
    return None


def works(kind: str) -> bool:
    """Whether the sandbox `kind` starts a Python that prints, on this machine."""
    if kind == "unshare" and (os.geteuid() != 0 or not _which("unshare") or not _which("setpriv")):
        return False
    if kind == "bwrap" and not _which("bwrap"):
        return False
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "notebooks").mkdir()
        sandbox = Sandbox(kind, Path(tmp), Limits())
        try:
            process = sandbox.start([sys.executable, "-c", "print('ok')"], capture=True)
            out, _ = process.communicate(timeout=60)
            return process.returncode == 0 and out.strip() == b"ok"
        except (OSError, subprocess.SubprocessError):
            return False
        finally:
            sandbox.stop()


def describe(kind: str | None) -> str:
    """One line on what a submission can and cannot do under `kind`."""
    if kind is None:
        return "no sandbox: " + UNPROTECTED
    how = {"bwrap": "bubblewrap", "unshare": "unshare, chroot and an unprivileged user"}[kind]
    return (f"sandbox: {how}; no network, a throwaway copy of the student release, no course, solutions or "
            f"grades, limits on memory, CPU time and processes, nothing left running after it")


class Sandbox:
    """One throwaway sandbox: a copy of `release` and the process started in it.

    `slot` tells parallel sandboxes apart (their user id under unshare, their control groups).
    """

    def __init__(self, kind: str | None, release: Path, limits: Limits, slot: int = 0):
        if kind not in (*KINDS, None):
            raise ValueError(f"sandbox kind must be one of {', '.join(KINDS)} or None, not {kind!r}")
        self.kind, self.release, self.limits, self.slot = kind, Path(release), limits, slot
        self.process: subprocess.Popen | None = None
        self.work: Path | None = None
        self.cgroups: list[Path] = []

    # -- the file system ------------------------------------------------------------------
    def _copy(self) -> Path:
        """A fresh copy of the release, writable by the sandbox's user only."""
        work = Path(tempfile.mkdtemp(prefix="grading-"))
        os.chmod(work, 0o755)
        shutil.copytree(self.release, work / "course", dirs_exist_ok=True)
        if self.kind == "unshare":
            uid = UID_BASE + self.slot
            for path in [work / "course", *(work / "course").rglob("*")]:
                os.lchown(path, uid, uid)
        return work

    def _read_only(self) -> list[str]:
        """Folders the sandbox reads: the system's, Python's and the virtual environment's."""
        paths = [p for p in SYSTEM if os.path.isdir(p) and not os.path.islink(p)]
        for prefix in {sys.base_prefix, sys.prefix, os.path.dirname(os.path.realpath(sys.executable))}:
            if not any(prefix == p or prefix.startswith(p + "/") for p in paths):
                paths.append(prefix)
        return paths

    def _symlinks(self) -> list[tuple[str, str]]:
        return [(os.readlink(p), p) for p in SYSTEM if os.path.islink(p)]

    def _environment(self) -> dict:
        return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "PYTHONPATH": INSIDE, "MPLBACKEND": "Agg",
                "MPLCONFIGDIR": "/tmp/matplotlib", "PYTHONIOENCODING": "utf-8", "PYTHONDONTWRITEBYTECODE": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LANG": "C.UTF-8",
                **{k: v for k, v in os.environ.items() if k in ("ATEN_CPU_CAPABILITY", "MKL_ENABLE_INSTRUCTIONS",
                                                                  "NPY_DISABLE_CPU_FEATURES")}}

    # -- the command ----------------------------------------------------------------------
    def _bwrap(self, argv: list[str]) -> list[str]:
        command = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent",
                   "--new-session", "--clearenv", "--uid", "65534", "--gid", "65534",
                   # /tmp first: Python or the virtual environment may live under /tmp, and a bind made
                   # before it would be hidden by it
                   "--size", str(self.limits.tmp_size), "--tmpfs", "/tmp"]
        for path in self._read_only():
            command += ["--ro-bind", path, path]
        for target, link in self._symlinks():
            command += ["--symlink", target, link]
        command += ["--bind", str(self.work / "course"), INSIDE, "--proc", "/proc",
                    "--dev", "/dev", "--chdir", f"{INSIDE}/notebooks"]
        for key, value in self._environment().items():
            command += ["--setenv", key, value]
        return command + argv

    def _unshare(self, argv: list[str]) -> list[str]:
        root = self.work / "root"
        root.mkdir()
        uid = UID_BASE + self.slot
        lines = ["set -e", f'R="{root}"', 'mount -t tmpfs -o mode=755 sandbox "$R"',
                 # /tmp first, as for bwrap: what is bound under it later stays visible
                 'mkdir "$R/tmp"', f'mount -t tmpfs -o mode=1777,size={self.limits.tmp_size} tmp "$R/tmp"']
        for path in self._read_only():
            lines += [f'mkdir -p "$R{path}"', f'mount --rbind "{path}" "$R{path}"',
                      f'mount -o remount,bind,ro "$R{path}"']
        for target, link in self._symlinks():
            lines.append(f'ln -s "{target}" "$R{link}"')
        lines += [f'mkdir -p "$R{INSIDE}" "$R/proc" "$R/dev"',
                  f'mount --bind "{self.work / "course"}" "$R{INSIDE}"',
                  'mount -t proc proc "$R/proc"']
        for device in ("null", "zero", "random", "urandom"):
            lines += [f'touch "$R/dev/{device}"', f'mount --bind "/dev/{device}" "$R/dev/{device}"']
        environment = " ".join(f"{key}={_quote(value)}" for key, value in self._environment().items())
        lines.append(f'cd "$R"; exec chroot "$R" /usr/bin/setpriv --reuid={uid} --regid={uid} --clear-groups '
                     f"--no-new-privs --bounding-set=-all --inh-caps=-all "
                     f"/usr/bin/env -i {environment} /bin/sh -c 'cd {INSIDE}/notebooks && exec \"$0\" \"$@\"' "
                     + " ".join(_quote(a) for a in argv))
        return ["unshare", "--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child",
                "--propagation", "private", "sh", "-c", "\n".join(lines)]

    def command(self, argv: list[str]) -> list[str]:
        if self.kind == "bwrap":
            return self._bwrap(argv)
        if self.kind == "unshare":
            return self._unshare(argv)
        return argv

    # -- limits ---------------------------------------------------------------------------
    def _make_cgroups(self) -> None:
        """Control groups capping the sandbox's processes and memory, where this process may make them
        (as root: cgroup v1's pids and memory hierarchies, or v2 where those controllers are enabled)."""
        if os.geteuid() != 0:
            return
        name = f"grading-{os.getpid()}-{self.slot}"
        root = Path("/sys/fs/cgroup")
        if (root / "cgroup.controllers").is_file():  # v2, one hierarchy
            enabled = (root / "cgroup.subtree_control").read_text().split()
            wanted = {"pids.max": self.limits.processes, "memory.max": self.limits.total_memory}
            plan = {root / name: {k: v for k, v in wanted.items() if k.split(".")[0] in enabled}}
        else:
            plan = {root / "pids" / name: {"pids.max": self.limits.processes},
                    root / "memory" / name: {"memory.limit_in_bytes": self.limits.total_memory}}
        for folder, settings in plan.items():
            try:
                folder.mkdir()
                self.cgroups.append(folder)
                for key, value in settings.items():
                    (folder / key).write_text(str(value))
            except OSError:
                continue

    def _preexec(self) -> None:
        """In the new process, before it becomes the sandbox: join the control groups, set the limits."""
        import resource
        os.setsid()
        for folder in self.cgroups:
            (folder / "cgroup.procs").write_text(str(os.getpid()))
        limits = self.limits
        nproc = limits.processes + (0 if self.kind == "unshare" or os.geteuid() == 0 else _my_processes())
        for what, value in ((resource.RLIMIT_AS, limits.memory), (resource.RLIMIT_CPU, limits.cpu_seconds),
                            (resource.RLIMIT_FSIZE, limits.file_size), (resource.RLIMIT_NOFILE, limits.open_files),
                            (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CORE, 0)):
            resource.setrlimit(what, (value, value))

    # -- start and stop -------------------------------------------------------------------
    def start(self, argv: list[str], capture: bool = False) -> subprocess.Popen:
        """Start `argv` in a fresh sandbox; with `capture`, stdout is a pipe (else stdin and stdout are)."""
        unix = os.name == "posix"
        try:
            self.work = self._copy()
            self._make_cgroups()
            environment = None if self.kind else {**os.environ, **self._environment(),
                                                  "PYTHONPATH": str(self.work / "course")}
            with open(self.work / "stderr", "wb") as stderr:
                self.process = subprocess.Popen(
                    self.command(argv), stdin=subprocess.DEVNULL if capture else subprocess.PIPE,
                    stdout=subprocess.PIPE, stderr=stderr, cwd=self.work / "course" / "notebooks", env=environment,
                    preexec_fn=self._preexec if unix else None,
                    creationflags=0 if unix else subprocess.CREATE_NEW_PROCESS_GROUP)
        except BaseException:
            self.stop()  # no copy or control group left behind
            raise
        return self.process

    def stderr_tail(self, size: int = 2000) -> str:
        try:
            data = (self.work / "stderr").read_bytes()[-size:]
        except (OSError, TypeError):
            return ""
        return data.decode("utf-8", errors="replace")

    def stop(self) -> None:
        """Kill the sandbox and everything in it; remove its copy and control groups."""
        process = self.process
        if process is not None:
            _kill(process)
        for folder in self.cgroups:
            _empty_cgroup(folder)
        if self.work is not None:
            shutil.rmtree(self.work, ignore_errors=True)
        self.process, self.work, self.cgroups = None, None, []


def _kill(process: subprocess.Popen) -> None:
    if os.name == "nt":
        subprocess.run(["taskkill", "/F", "/T", "/PID", str(process.pid)], capture_output=True)
    else:
        for target in (lambda: os.killpg(process.pid, 9), lambda: process.kill()):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    process.wait()


def _empty_cgroup(folder: Path) -> None:
    """Kill what is left in a control group, then remove it."""
    for _ in range(50):
        try:
            pids = (folder / "cgroup.procs").read_text().split()
        except OSError:
            return
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(int(pid), 9)
            except (ProcessLookupError, ValueError):
                pass
        time.sleep(0.02)
    try:
        folder.rmdir()
    except OSError:
        pass


def _my_processes() -> int:
    """How many processes (threads included) this user runs now: RLIMIT_NPROC counts them all."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = Path(f"/proc/{entry}/status").read_text()
            except OSError:
                continue
            fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
            if fields.get("Uid", "").split()[:1] == [str(uid)]:
                count += int(fields.get("Threads", "1").strip() or 1)
    return count


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
