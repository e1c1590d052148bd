"""Time and peak memory of cutting a long recording into provider-sized parts.

Usage: python -m bench.audio_cut [minutes] [fmt] [max_bytes]

Makes a synthetic recording (tests/audio_files.py), then runs split_for_upload in a fresh child
process and reports its wall time and peak RSS, so the figure is the cutting alone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from tests.audio_files import make_audio

CHILD = """
import os, resource, sys, time
from audiotricks.audio import split_for_upload
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.monotonic()
parts = split_for_upload(sys.argv[1], max_bytes=int(sys.argv[2]), workdir=sys.argv[3])
elapsed = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
sizes = [os.path.getsize(p.path) for p in parts]
print(f"parts={len(parts)} largest={max(sizes)} elapsed={elapsed:.1f}s "
      f"rss_before={base // 1024}MiB rss_peak={peak // 1024}MiB")
"""


def main() -> None:
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    fmt = sys.argv[2] if len(sys.argv) > 2 else "wav"
    max_bytes = int(sys.argv[3]) if len(sys.argv) > 3 else 26_214_400
    with tempfile.TemporaryDirectory() as tmp:
        source = os.path.join(tmp, f"source.{fmt}")
        started = time.monotonic()
        make_audio(source, seconds=minutes * 60, fmt=fmt, live=fmt == "webm")
        print(f"made {minutes:g} min {fmt}: {os.path.getsize(source) / 1e6:.1f} MB "
              f"in {time.monotonic() - started:.1f}s")
        workdir = os.path.join(tmp, "parts")
        os.mkdir(workdir)
        subprocess.run([sys.executable, "-c", CHILD, source, str(max_bytes), workdir], check=True)


if __name__ == "__main__":
    main()
