# Starts the pinned moto server for Glue (Data Catalog and Schema Registry,
# which MiniStack lacks) on 127.0.0.1:<MOTO_PORT>, from its own virtualenv.
#
# Like launch_ministack.py, it ends itself when the process named by
# MESH_PARENT_PID (the test binary that started it) is gone, so a crashed
# test leaves no server behind.
import os
import signal
import sys
import threading
import time


def _watch_parent():
    parent = os.environ.get("MESH_PARENT_PID", "")
    if not parent.isdigit() or os.getppid() != int(parent):
        return

    def _watch():
        while True:
            time.sleep(1)
            if os.getppid() != int(parent):
                os.killpg(os.getpgrp(), signal.SIGKILL)

    threading.Thread(target=_watch, name="mesh-parent-watch", daemon=True).start()


if __name__ == "__main__":
    _watch_parent()
    from moto.server import main

    sys.exit(main(["-H", "127.0.0.1", "-p", os.environ["MOTO_PORT"]]))
