"""The seed notebook's network, its training step and a timer in PyTorch, shared by side_by_side.py and tools/gpu/torch_seed.py."""
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class SeedTower(nn.Module):
    """The seed notebook's network: three replication-padded 3x3 convolutions of 4, 8, 8 channels, then 80000-500-500-5.

    image_size, hidden and embedding describe its variants (the layers are built, and so drawn from torch's
    generator, in the same order for every variant).
    """

    def __init__(self, image_size: int = 100, hidden=(500, 500), embedding: int = 5):
        super().__init__()
        layers = []
        for cin, cout in [(1, 4), (4, 8), (8, 8)]:
            layers += [nn.ReplicationPad2d(1), nn.Conv2d(cin, cout, 3), nn.ReLU(), nn.BatchNorm2d(cout)]
        self.conv_layers = nn.Sequential(*layers)
        dense, features = [], 8 * image_size * image_size
        for width in hidden:
            dense += [nn.Linear(features, width), nn.ReLU()]
            features = width
        self.fully_connect = nn.Sequential(*dense, nn.Linear(features, embedding))

    def forward(self, x):
        return self.fully_connect(self.conv_layers(x).flatten(1))


def train_step(net, adam, first, second, label):
    """One step as the notebook takes it: zero grads, both towers, pairwise distance, contrastive loss (margin 2), Adam."""
    net.train()
    adam.zero_grad()
    d = F.pairwise_distance(net(first), net(second), keepdim=True)
    loss = torch.mean((1 - label) * d.pow(2) + label * torch.clamp(2.0 - d, min=0).pow(2))
    loss.backward()
    adam.step()


def embed(net, images):
    """Eval-mode embeddings without a graph."""
    net.eval()
    with torch.no_grad():
        return net(images)


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
