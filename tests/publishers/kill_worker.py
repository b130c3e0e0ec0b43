"""A publishing run that a test kills: publishes the files given as JSON one by one, printing one JSON line
per upload and waiting for a line on stdin ("next") before the following one.

    python kill_worker.py ENDPOINT s3://bucket/prefix '[{"src": …, "key": …, "sha256": …}, …]'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from brandflow.publishers.s3 import S3Publisher


def main() -> None:
    endpoint, target, files = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    publisher = S3Publisher(target, endpoint_url=endpoint, retry_base_delay=0.01, retry_max_delay=0.05)
    for i, f in enumerate(files):
        if i:
            sys.stdin.readline()  # the test kills us here, between two uploads (or lets us go on)
        asset = publisher.publish(Path(f["src"]), f["key"], f["sha256"], {"campaign": "c"}, "version")
        print(json.dumps({"key": asset.key, "written": asset.written}), flush=True)


if __name__ == "__main__":
    main()
