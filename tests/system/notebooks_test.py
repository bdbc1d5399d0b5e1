"""Runs examples/*.ipynb top to bottom (nbclient, a real kernel) against a fresh server on loopback, on small data:
every cell must run, and every plot cell must show an SVG from the server."""
import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

sys.path.insert(0, os.path.dirname(__file__))
from server import Server  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main(binary):
    failures = 0
    with tempfile.TemporaryDirectory() as data_dir:
        server = Server(binary, data_dir, workers=2).start()
        # The kernel imports the client from the source tree (what `pip install ./python` installs).
        os.environ.update(MONTECLUSTER_URL=server.base, WARMUP="300", DRAWS="300", EPOCHS="3",
                          PYTHONPATH=os.path.join(ROOT, "python") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        try:
            for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
                if not name.endswith(".ipynb"):
                    continue
                path = os.path.join(ROOT, "examples", name)
                notebook = nbformat.read(path, as_version=4)
                try:
                    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": ROOT}}).execute()
                except Exception as error:  # a cell raised: nbclient's message names it
                    failures += 1
                    print(f"{name}: FAILED\n{str(error)[:3000]}")
                    continue
                plots = [cell for cell in notebook.cells if cell.cell_type == "code" and ".plot(" in cell.source]
                blank = [cell.source.splitlines()[0] for cell in plots
                         if not any("image/svg+xml" in output.get("data", {}) for output in cell.get("outputs", []))]
                if blank:
                    failures += 1
                    print(f"{name}: plot cells without an SVG: {blank}")
                else:
                    print(f"{name}: ran top to bottom, {len(plots)} plots shown")
        finally:
            server.stop()
    return failures == 0


if __name__ == "__main__":
    sys.exit(0 if main(sys.argv[1]) else 1)
