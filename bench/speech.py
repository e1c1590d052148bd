"""Speed of the two local steps of a speech job: cutting the text, joining the MP3 parts.

1. ``split_for_speech`` on texts of 100,000, 1,000,000 and 10,000,000 characters, of ordinary
   prose and of shapes that make backtracking cutters slow (only full stops; no space at all; one
   space per 5,000 characters); the ratio between the two largest sizes shows the cost is linear
   (below a megabyte the text fits the CPU caches, which flatters the smallest size).
2. ``join_mp3`` on parts as ElevenLabs answers them (MP3, 44.1 kHz): 10 parts of 5 minutes (about
   the speech of 50,000 characters), re-muxed without re-encoding; time and peak RSS growth
   (measured first, so the large texts do not hide its peak).

Each case runs ``--runs`` times (5); the median is printed.

    .venv/bin/python bench/speech.py
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from audiotricks.jobs.speech import join_mp3, split_for_speech
from tests.audio_files import make_audio

SENTENCE = "The budget review comes first, and it takes a while to get through. "
SHAPES = {
    "prose": lambda n: (SENTENCE * (n // len(SENTENCE) + 1))[:n],
    "only full stops": lambda n: "." * n,
    "no space at all": lambda n: "x" * n,
    "a space every 5,000": lambda n: (("x" * 4999 + " ") * (n // 5000 + 1))[:n],
}


def median_seconds(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        part = make_audio(os.path.join(folder, "part.mp3"), seconds=300, fmt="mp3",
                          kind="speechlike", sample_rate=44_100)
        parts = [part] * 10
        out = os.path.join(folder, "joined.mp3")
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        took = median_seconds(lambda: join_mp3(parts, out), args.runs)
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        print(f"join_mp3: 10 parts of 300 s ({os.path.getsize(part) / 1e6:.1f} MB each) -> "
              f"{os.path.getsize(out) / 1e6:.1f} MB in {took * 1000:.0f} ms (median of "
              f"{args.runs}); peak RSS grew {grown / 1024:.1f} MiB")

    print()
    print("| text | 100,000 chars | 1,000,000 chars | 10,000,000 chars | 10M / 1M |")
    print("|---|---|---|---|---|")
    for name, make in SHAPES.items():
        texts = [make(size) for size in (100_000, 1_000_000, 10_000_000)]
        took = [
            median_seconds(lambda text=text: split_for_speech(text), args.runs) for text in texts
        ]
        print(f"| {name} | " + " | ".join(f"{t * 1000:.1f} ms" for t in took)
              + f" | {took[2] / took[1]:.1f} |")

if __name__ == "__main__":
    main()
