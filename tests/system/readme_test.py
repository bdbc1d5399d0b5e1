"""README test: the notebook block in README.md ("From a notebook") runs top to bottom against a fresh
server, exactly as written but for the server's address. A snippet that stops working fails the suite.

Usage: readme_test.py PATH/TO/montecluster PATH/TO/python-with-requests-numpy-pandas
"""
import os
import re
import subprocess
import sys
import tempfile

from server import Server

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def main(binary, python):
    with open(os.path.join(ROOT, "README.md")) as handle:
        readme = handle.read()
    section = readme[readme.index("### From a notebook"):]
    block = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert 'api = "http://127.0.0.1:8080"' in block, "the notebook block defines api"
    server = Server(binary, tempfile.mkdtemp(prefix="montecluster-readme-"), workers=2).start()
    try:
        script = block.replace('api = "http://127.0.0.1:8080"', f'api = "{server.base}"')
        run = subprocess.run([python, "-c", script], text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        print(run.stdout)
        ok = run.returncode == 0 and "cluster sizes: [200 200 200]" in run.stdout
    finally:
        server.stop()
    print(f"README notebook block: {'ran top to bottom' if ok else 'FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
