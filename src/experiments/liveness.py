"""Is the process a record names still alive? Records name it by host and pid."""

import os
import socket

HOST = socket.gethostname()


def pid_alive(pid) -> bool:
    """Whether process `pid` of this host is alive (another user's counts as alive)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_gone(host: str | None, pid) -> bool:
    """A process of this host that is known to be dead; another host's cannot be checked."""
    return host == HOST and not pid_alive(pid)
