"""Peak memory of the recorder with detection over many hours of samples, run in moments.

The real `Recorder` loop, live detection included, runs in this process with a fake clock (its waits
return at once) and a counter source with realistic noise, so 20,000 samples (5.6 h at 1 s) take a
minute instead of hours. VmHWM is read from /proc/self/status along the way; the detector's history
rings fill over the first ~8,000 samples, so this shows where the recorder's memory levels off.

    .venv/bin/python bench/recorder_memory.py [--samples 20000]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scops_tui.detection.live import DetectionSettings
from scops_tui.recording.recorder import Recorder
from scops_tui.recording.sampler import CounterReading, HostSampler


def vm_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


class NoisyHost:
    """Counters of an idle host with noise, and a burst now and then."""

    def __init__(self) -> None:
        self.rng = random.Random(5)
        self.busy = self.total = 0.0
        self.reads = 0
        self.disk = self.net = 0

    def read(self) -> CounterReading:
        self.reads += 1
        share = 0.9 if self.rng.random() < 0.003 else 0.05 + 0.03 * self.rng.random()
        self.total += 2.0
        self.busy += 2.0 * share
        self.disk += self.rng.randint(0, 200_000)
        self.net += self.rng.randint(0, 50_000)
        return CounterReading(
            self.busy,
            self.total,
            40 + self.rng.random(),
            55.0,
            (0.3, 0.3, 0.3),
            self.disk,
            self.disk,
            self.net,
            self.net,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    now = [1000.0]
    checkpoints: list[tuple[int, float]] = []

    def clock() -> float:
        return now[0]

    def wait(event: threading.Event, seconds: float) -> bool:
        now[0] += seconds
        return event.is_set()

    count = [0]

    def on_sample(_record: object) -> None:
        count[0] += 1
        if count[0] % 2000 == 0:
            checkpoints.append((count[0], vm_kib("VmHWM") / 1024))

    with tempfile.TemporaryDirectory() as tmp:
        sampler = HostSampler("memory-bench", NoisyHost(), wall_clock=lambda: 1_790_000_000 + now[0], monotonic=clock)
        recorder = Recorder(
            Path(tmp) / "m.db",
            sampler,
            interval=1.0,
            flush_interval=10.0,
            on_sample=on_sample,
            detection=DetectionSettings(train_in_background=False, capture_processes=False),
            clock=clock,
            wait=wait,
        )
        recorder.run(threading.Event(), duration=float(args.samples - 1))
    print(f"Command: `.venv/bin/python bench/recorder_memory.py --samples {args.samples}`\n")
    print("| samples recorded (1 s each) | peak RSS so far (VmHWM, MiB) |")
    print("|---|---|")
    for samples, mib in checkpoints:
        print(f"| {samples:,} | {mib:.1f} |")


if __name__ == "__main__":
    main()
