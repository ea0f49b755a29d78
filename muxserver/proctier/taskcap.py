"""How many tasks (processes and threads) one process tenant may hold.

Every thread is a task, and the kernel counts tasks per cgroup (systemd's
``TasksMax``, a container's pids limit) and per machine (``pid_max``). A
process tenant that started threads until ``clone()`` failed would take
every task the server has: no other tenant's process could then be forked.
So each tenant process gets a cap of its own, ``process_max_tasks`` in the
operator's config (:data:`DEFAULT_MAX_TASKS`), enforced by the first of:

1. a **pids cgroup** per tenant process (:class:`PidsCgroups`): the zygote
   makes a folder for its children beside itself in its own pids cgroup
   (cgroup v1's ``pids`` hierarchy, or cgroup v2 when its cgroup delegates
   the ``pids`` controller), and moves each child it forks into a cgroup of
   its own with ``pids.max`` set, before the child can run tenant code.
   Being nested, each child's tasks also count against the server's own
   budget, and the cap is the kernel's: threads, processes, all of them;
2. **RLIMIT_NPROC** (:func:`nproc_limit`), when the server is not root and
   cannot make cgroups: the tenant's ``clone()`` fails once its user holds
   as many tasks as the tasks it held at the fork plus the cap. It counts
   the *user's* tasks, not the process's, so it is the weaker fence: a
   tenant process may take up to the cap, less what the server's other
   processes start meanwhile.

If neither can be had (root without a writable pids cgroup: root is exempt
from RLIMIT_NPROC), the tenant's isolation report lists the task cap as
missing.

Imports only the standard library: the zygote uses it.
"""

from __future__ import annotations

import os

#: Tasks one tenant process may hold: its main thread, the log pump and
#: its own threads. A process answers one request at a time, and
#: ``OMP_NUM_THREADS`` and friends are 1 there (:func:`.confine.scrub_environment`).
DEFAULT_MAX_TASKS = 32
_MOUNTS = "/proc/self/mountinfo"


def _own_pids_cgroup() -> str | None:
    """The folder of this process's pids cgroup, where this process may
    make cgroups in it (else None)."""
    try:
        with open("/proc/self/cgroup") as f:
            memberships = [line.rstrip("\n").split(":", 2) for line in f]
        with open(_MOUNTS) as f:
            mounts = [line.split() for line in f]
    except OSError:
        return None
    v1 = next((path for _, controllers, path in memberships
               if "pids" in controllers.split(",")), None)
    for fields in mounts:
        sep = fields.index("-")
        fstype, options = fields[sep + 1], fields[sep + 3].split(",") if len(fields) > sep + 3 else []
        root, mount = fields[3], fields[4]
        if v1 is not None and fstype == "cgroup" and "pids" in options:
            return _joined(mount, root, v1)
        if v1 is None and fstype == "cgroup2":
            v2 = next((path for hierarchy, _, path in memberships if hierarchy == "0"), None)
            if v2 is None:
                return None
            folder = _joined(mount, root, v2)
            try:
                with open(os.path.join(folder, "cgroup.controllers")) as f:
                    if "pids" not in f.read().split():
                        return None
            except OSError:
                return None
            return folder
    return None


def _joined(mount: str, root: str, path: str) -> str:
    """``path`` (as /proc/self/cgroup names it) in the mount of ``root``."""
    if root != "/" and path.startswith(root):
        path = path[len(root):]
    return os.path.normpath(mount + "/" + path.lstrip("/"))


class PidsCgroups:
    """A pids cgroup per child of this process (the zygote).

    :param folder: the cgroup that holds the children's cgroups (made).
    :param max_tasks: ``pids.max`` of each.
    """

    def __init__(self, folder: str, max_tasks: int, v2: bool):
        self.folder = folder
        self.max_tasks = max_tasks
        self.v2 = v2

    @staticmethod
    def folder_of(pid: int) -> str | None:
        """Where the zygote ``pid`` — started by this process, so in its
        pids cgroup — keeps its children's cgroups."""
        own = _own_pids_cgroup()
        return None if own is None else os.path.join(own, f"muxserver-tenants-{pid}")

    @classmethod
    def make(cls, max_tasks: int) -> "PidsCgroups | None":
        """A folder for the children's cgroups in this process's pids cgroup
        (call before the lock-down; None where the kernel or our rights do
        not allow it)."""
        own = _own_pids_cgroup()
        if own is None:
            return None
        _remove_stale(own)
        folder = os.path.join(own, f"muxserver-tenants-{os.getpid()}")
        v2 = os.path.exists(os.path.join(own, "cgroup.controllers"))
        try:
            os.makedirs(folder, exist_ok=True)
            if v2:
                # The children's folders get the pids controller (our own
                # cgroup must already hand it down, or this fails: EBUSY
                # where it holds processes, cgroup v2's rule).
                with open(os.path.join(own, "cgroup.subtree_control"), "w") as f:
                    f.write("+pids")
                with open(os.path.join(folder, "cgroup.subtree_control"), "w") as f:
                    f.write("+pids")
        except OSError:
            try:
                os.rmdir(folder)
            except OSError:
                pass
            return None
        return cls(folder, max_tasks, v2)

    def place(self, pid: int) -> None:
        """Move process ``pid`` (just forked, all of its threads) into a
        cgroup of its own with ``pids.max`` set.

        :raises OSError: the cgroup could not be made or joined.
        """
        group = os.path.join(self.folder, str(pid))
        os.mkdir(group)
        try:
            with open(os.path.join(group, "pids.max"), "w") as f:
                f.write(str(self.max_tasks))
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(pid))
        except OSError:
            self.release(pid)
            raise

    def release(self, pid: int) -> None:
        """Remove the cgroup of ``pid`` (once it was reaped)."""
        try:
            os.rmdir(os.path.join(self.folder, str(pid)))
        except OSError:
            pass

    def close(self) -> bool:
        """Remove every child's cgroup and the folder (their processes
        gone); whether it is gone (a cgroup whose last task is still
        exiting cannot be removed yet)."""
        try:
            names = os.listdir(self.folder)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        for name in names:
            if name.isdigit():
                self.release(int(name))
        try:
            os.rmdir(self.folder)
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True


def _remove_stale(own: str) -> None:
    """Remove the (empty) folders zygotes left that were killed with their
    server (``kill -9``: nobody could clean up)."""
    try:
        names = os.listdir(own)
    except OSError:
        return
    for name in names:
        pid = name.rpartition("-")[2]
        if name.startswith("muxserver-tenants-") and pid.isdigit() \
                and not os.path.exists(f"/proc/{pid}"):
            PidsCgroups(os.path.join(own, name), 0, v2=False).close()


def remove_folder(zygote_pid: int, wait_s: float = 5.0, sleep=None) -> None:
    """After the zygote ``zygote_pid`` ended (killed, maybe, with no time to
    clean up): remove its children's cgroups, waiting up to ``wait_s`` for
    their processes (killed with it) to exit."""
    import time

    folder = PidsCgroups.folder_of(zygote_pid)
    if folder is None or not os.path.isdir(folder):
        return
    cgroups = PidsCgroups(folder, 0, v2=False)
    deadline = time.monotonic() + wait_s
    while not cgroups.close() and time.monotonic() < deadline:
        (sleep or time.sleep)(0.02)


def user_tasks(uid: int) -> int:
    """Tasks (threads) the user ``uid`` holds now, from ``/proc``."""
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid == uid:
                count += len(os.listdir(f"/proc/{name}/task"))
        except OSError:
            continue  # gone meanwhile
    return count


def nproc_limit(max_tasks: int) -> int | None:
    """RLIMIT_NPROC for a process that may hold ``max_tasks`` (the user's
    tasks now plus the cap), or None for root, which it does not bind."""
    uid = os.getuid()
    if uid == 0:
        return None
    try:
        return user_tasks(uid) + max_tasks
    except OSError:
        return None
