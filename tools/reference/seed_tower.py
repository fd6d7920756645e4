"""The seed notebook's network in PyTorch and a timer, shared by side_by_side.py and tools/gpu/torch_seed.py."""
import statistics
import time

import torch.nn as nn


class SeedTower(nn.Module):
    """The seed notebook's network: three replication-padded 3x3 convolutions of 4, 8, 8 channels, then 80000-500-500-5."""

    def __init__(self):
        super().__init__()
        layers = []
        for cin, cout in [(1, 4), (4, 8), (8, 8)]:
            layers += [nn.ReplicationPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.BatchNorm2d(cout)]
        self.conv_layers = nn.Sequential(*layers)
        self.fully_connect = nn.Sequential(nn.Linear(80000, 500), nn.ReLU(), nn.Linear(500, 500), nn.ReLU(), nn.Linear(500, 5))

    def forward(self, x):
        return self.fully_connect(self.conv_layers(x).flatten(1))


def median_ms(run, steps, sync=lambda: None):
    """Median milliseconds of `steps` runs after 2 warm-up runs; `sync` waits for the device after each."""
    for _ in range(2):
        run()
    sync()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        run()
        sync()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
