"""Full disk: the real server on a small tmpfs (mounted here when run as root; skipped with a message
otherwise). Fills the disk while a job runs and checks: writes get 507 problem+json (never 500),
/readyz is not ready, the running job ends (failed or succeeded, never left `running`), the queued job
does not start while the disk is low and can still be cancelled and deleted, and once space is freed the
server is ready, accepts uploads and runs jobs again.

Usage: disk_full_test.py PATH/TO/montecluster
"""
import os
import struct
import subprocess
import sys
import tempfile
import time

from server import Checks, Server

check = Checks()


def npy_features(rows, columns):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (rows, columns)
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + bytes(4 * rows * columns)


def upload(server, body):
    import urllib.error
    import urllib.request
    request = urllib.request.Request(server.base + "/v1/datasets", data=body, method="POST")
    request.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def main(binary):
    if os.geteuid() != 0:
        print("SKIPPED: the disk-full test mounts a tmpfs and needs root")
        return 0
    mount_point = tempfile.mkdtemp(prefix="montecluster-full-")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", mount_point], capture_output=True, text=True)
    if mounted.returncode != 0:
        print(f"SKIPPED: could not mount a tmpfs: {mounted.stderr.strip()}")
        return 0
    server = None
    try:
        data_dir = os.path.join(mount_point, "data")
        server = Server(binary, data_dir, workers=1, lease_seconds=5,
                        extra_args=["--min-free-bytes", str(4 << 20), "--reserve-bytes", str(4 << 20)]).start()
        status, _, running = server.request("POST", "/v1/jobs", {"kind": "demo.count", "params": {"steps": 2000, "step_ms": 10, "checkpoint_every": 1}})
        check(status == 201, f"submit: {status}")
        status, _, queued = server.request("POST", "/v1/jobs", {"kind": "demo.count", "params": {"steps": 2000, "step_ms": 10, "checkpoint_every": 1000}})
        check(status == 201, f"submit: {status}")
        time.sleep(1)

        # Fill the disk from outside, as another process would.
        filler = os.path.join(mount_point, "filler")
        with open(filler, "wb") as out:
            try:
                while True:
                    out.write(b"\0" * (1 << 20))
                    out.flush()
            except OSError:
                pass
        statuses = []
        for _ in range(3):
            code, raw = upload(server, npy_features(64, 64))
            statuses.append(code)
        check(all(code == 507 for code in statuses) and b"insufficient_storage" in raw, f"uploads on a full disk: {statuses} {raw[:200]}")
        status, _, body = server.request("POST", "/v1/jobs", {"kind": "demo.count", "params": {"steps": 1}})
        check(status == 507 and (body or {}).get("code") == "insufficient_storage", f"submission on a full disk: {status} {body}")
        status, _, body = server.request("GET", "/readyz")
        check(status == 503, f"/readyz on a full disk: {status} {body}")

        # The running job ends (it fails for want of space, or finishes); the queued one must not start on the low disk:
        # it would fail too, and its writes would take the space the reserve freed for cancels and deletes.
        deadline = time.time() + 60
        current = {}
        while time.time() < deadline:
            status, _, current = server.request("GET", f"/v1/jobs/{running['id']}?wait=5")
            if current.get("terminal"):
                break
        check(current.get("terminal") is True, f"the running job was left {current.get('status')} on a full disk")
        print(f"the job running when the disk filled: {current.get('status')} ({current.get('reason')})")
        time.sleep(1.5)
        _, _, body = server.request("GET", f"/v1/jobs/{queued['id']}")
        check(body.get("status") == "queued", f"the queued job stays queued on a full disk: {body.get('status')} ({body.get('reason')})")

        status, _, body = server.request("POST", f"/v1/jobs/{queued['id']}/cancel")
        check(status == 200 and body.get("status") == "cancelled", f"cancel on a full disk: {status} {body}")
        status, _, body = server.request("DELETE", f"/v1/jobs/{queued['id']}")
        check(status == 204, f"delete on a full disk: {status} {body}")
        status, _, body = server.request("DELETE", f"/v1/jobs/{running['id']}")
        check(status == 204, f"delete of the ended job on a full disk: {status} {body}")

        os.remove(filler)
        ready = False
        for _ in range(20):
            status, _, _ = server.request("GET", "/readyz")
            if status == 200:
                ready = True
                break
            time.sleep(0.5)
        check(ready, "/readyz did not recover after space was freed")
        code, raw = upload(server, npy_features(64, 64))
        check(code == 201, f"upload after space was freed: {code} {raw[:200]}")
        status, _, after = server.request("POST", "/v1/jobs", {"kind": "demo.count", "params": {"steps": 3, "step_ms": 1}})
        check(status == 201, f"submit after space was freed: {status} {after}")
        for _ in range(20):
            _, _, after = server.request("GET", f"/v1/jobs/{after['id']}?wait=2")
            if after.get("terminal"):
                break
        check(after.get("status") == "succeeded", f"a job submitted after space was freed ran: {after.get('status')} ({after.get('reason')})")
        check(server.process.poll() is None, "the server exited")
        check(not any("500" in line and "internal" in line for line in server.log), "a 500 was logged")
    finally:
        if server:
            server.stop()
        subprocess.run(["umount", mount_point])
    print(f"disk full: {check.passed} passed, {check.failed} failed")
    return 1 if check.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
