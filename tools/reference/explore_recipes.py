#!/usr/bin/python3
"""Development probe of face-verification recipes, in PyTorch, on validation people only.

    /usr/bin/python3 tools/reference/explore_recipes.py [options] [--folds 0,1,2]

The levers of the `improved` recipe were chosen with this script before the recipe was frozen and measured with
`similar-faces crossval` (README, "Results"). It never measures a held-out fold: the 35 AT&T people are dealt into 5
folds with numpy's RandomState(1) (not the engine's folds), and for each fold asked for, 6 of the 28 people outside the
fold (RandomState(100 + fold)) are validation people; a model trains on the other 22 and is measured on every pair of
the validation people's images (AUC, EER). It prints, per fold and as the mean over folds, AUC and EER of the
embeddings, then AUC and EER after s-norm against the training images (a test-time score normalisation that was measured
and not kept). Runs on Debian's PyTorch 1.13 with 2 threads; --tag NAME saves the validation and training embeddings
under --embeddings (for ensembles measured offline).

The model is the improved recipe's tower: blocks of Conv2d(3x3, padding 1), ReLU, BatchNorm2d, MaxPool2d(2) with the
channels of --ch, Flatten (or global average pooling with --gap), optional Dropout, Linear to --emb numbers, unit length;
at evaluation the embedding of an image and of its mirror image are summed and normalised (--tta 1). Losses: CosFace
(scale --s, margin --margin) against one learned vector per training person, or contrastive on every pair of the batch
(--loss contrastive, --margin on the distance). Batches of --P people x --K images, random rotation, scale, shift and
mirroring (affine_grid, border padding), brightness +-0.1 and contrast +-20 %, optional random erasing (--erase p).
Adam with L2 weight decay (or AdamW, --adamw 1), linear warm-up from lr/25 over --warm of the steps, cosine decay to 0.
"""
import argparse
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

torch.set_num_threads(2)
p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--data", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data", "att_faces"))
p.add_argument("--size", type=int, default=64)
p.add_argument("--ch", default="16,32,64,128")
p.add_argument("--emb", type=int, default=128)
p.add_argument("--loss", default="cosface", choices=["cosface", "contrastive"])
p.add_argument("--margin", type=float, default=0.35)
p.add_argument("--s", type=float, default=16)
p.add_argument("--epochs", type=int, default=200)
p.add_argument("--P", type=int, default=16)
p.add_argument("--K", type=int, default=4)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--wd", type=float, default=5e-4)
p.add_argument("--adamw", type=int, default=0)
p.add_argument("--warm", type=float, default=0.3)
p.add_argument("--aug", type=int, default=1)
p.add_argument("--rot", type=float, default=10)
p.add_argument("--scale", type=float, default=0.1)
p.add_argument("--shift", type=float, default=0.08)
p.add_argument("--erase", type=float, default=0)
p.add_argument("--drop", type=float, default=0.0)
p.add_argument("--gap", type=int, default=0)
p.add_argument("--tta", type=int, default=1)
p.add_argument("--topk", type=int, default=50, help="cohort size of s-norm")
p.add_argument("--folds", default="0,1,2")
p.add_argument("--seedoff", type=int, default=0, help="added to the fold's torch seed")
p.add_argument("--tag", default="")
p.add_argument("--embeddings", default="runs/explore")
a = p.parse_args()


def load(size):
    people = sorted((d, os.path.join(a.data, part, d)) for part in ("training", "testing") for d in os.listdir(os.path.join(a.data, part)))
    images, labels = [], []
    for k, (_, path) in enumerate(people):
        for f in sorted(os.listdir(path)):
            im = Image.open(os.path.join(path, f)).convert("L").resize((size, size), Image.BILINEAR)
            images.append(np.asarray(im, dtype=np.float32) / 255.0)
            labels.append(k)
    return np.stack(images), np.array(labels)


def folds(n, k, seed):
    perm = np.random.RandomState(seed).permutation(n)
    return [sorted(perm[i::k]) for i in range(k)]


def auc_eer(d, same):
    d = np.asarray(d, np.float64)
    same = np.asarray(same, bool)
    pos, neg = d[same], d[~same]
    values = np.concatenate([pos, neg])
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    i = 0
    while i < len(values):  # average ranks of ties
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2 + 1
        i = j + 1
    auc = 1 - (ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    thresholds = np.unique(values)
    far = np.array([(neg <= t).mean() for t in thresholds])
    frr = np.array([(pos > t).mean() for t in thresholds])
    i = np.argmin(np.abs(far - frr))
    return auc, (far[i] + frr[i]) / 2


def distances(A, B):
    sa, sb = (A * A).sum(1), (B * B).sum(1)
    return np.sqrt(np.maximum(sa[:, None] + sb[None, :] - 2 * A @ B.T, 0))


def pair_eval(embeddings, labels):
    e = embeddings.astype(np.float64)
    iu = np.triu_indices(len(e), 1)
    return auc_eer(distances(e, e)[iu], (labels[:, None] == labels[None, :])[iu])


def snorm_eval(embeddings, labels, cohort, topk):
    e, c = embeddings.astype(np.float64), cohort.astype(np.float64)
    D = distances(e, e)
    nearest = np.sort(distances(e, c), 1)[:, :topk]
    mu, sd = nearest.mean(1), nearest.std(1)
    S = 0.5 * ((D - mu[:, None]) / sd[:, None] + (D - mu[None, :]) / sd[None, :])
    iu = np.triu_indices(len(e), 1)
    return auc_eer(S[iu], (labels[:, None] == labels[None, :])[iu])


X, y = load(a.size)
X = torch.tensor(X)[:, None]
y = torch.tensor(y)


class Net(nn.Module):
    def __init__(s):
        super().__init__()
        layers, c = [], 1
        for o in map(int, a.ch.split(",")):
            layers += [nn.Conv2d(c, o, 3, padding=1), nn.ReLU(), nn.BatchNorm2d(o), nn.MaxPool2d(2)]
            c = o
        s.f = nn.Sequential(*layers)
        side = 1 if a.gap else a.size >> len(a.ch.split(","))
        head = [nn.AdaptiveAvgPool2d(1), nn.Flatten()] if a.gap else [nn.Flatten()]
        if a.drop:
            head.append(nn.Dropout(a.drop))
        head.append(nn.Linear(c * side * side, a.emb))
        s.h = nn.Sequential(*head)

    def forward(s, x):
        return F.normalize(s.h(s.f(x)), dim=1)


def augment(x, g):
    n = x.shape[0]
    ang = (torch.rand(n, generator=g) * 2 - 1) * a.rot * math.pi / 180
    sc = 1 + (torch.rand(n, generator=g) * 2 - 1) * a.scale
    tx = (torch.rand(n, generator=g) * 2 - 1) * a.shift * 2
    ty = (torch.rand(n, generator=g) * 2 - 1) * a.shift * 2
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(ang) / sc, torch.sin(ang) / sc
    theta = torch.stack([torch.stack([cos * flip, -sin, tx], 1), torch.stack([sin * flip, cos, ty], 1)], 1)
    out = F.grid_sample(x, F.affine_grid(theta, x.shape, align_corners=False), padding_mode="border", align_corners=False)
    c = 1 + (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * 0.2
    b = (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1) * 0.1
    m = out.mean((2, 3), keepdim=True)
    out = (out - m) * c + m + b
    if a.erase > 0:
        H = out.shape[2]
        for i in range(n):
            if torch.rand(1, generator=g).item() < a.erase:
                eh = int(H * (0.1 + 0.3 * torch.rand(1, generator=g).item()))
                ew = int(H * (0.1 + 0.3 * torch.rand(1, generator=g).item()))
                y0 = int(torch.randint(0, H - eh + 1, (1,), generator=g))
                x0 = int(torch.randint(0, H - ew + 1, (1,), generator=g))
                out[i, :, y0:y0 + eh, x0:x0 + ew] = torch.rand(1, generator=g).item()
    return out


def embed(net, x):
    net.eval()
    with torch.no_grad():
        e = net(x)
        if a.tta:
            e = F.normalize(e + net(torch.flip(x, [3])), dim=1)
    return e.numpy()


results = []
for fi in map(int, a.folds.split(",")):
    t0 = time.time()
    excluded = folds(35, 5, 1)[fi]  # never used below but to exclude it
    outside = [i for i in range(35) if i not in excluded]
    val = sorted(np.random.RandomState(100 + fi).choice(outside, 6, replace=False))
    tr = [i for i in outside if i not in val]
    torch.manual_seed(fi + a.seedoff)
    g = torch.Generator().manual_seed(fi + a.seedoff)
    net = Net()
    cls = nn.Parameter((torch.rand(len(tr), a.emb) * 2 - 1) / math.sqrt(a.emb)) if a.loss == "cosface" else None
    params = list(net.parameters()) + ([cls] if cls is not None else [])
    opt = (torch.optim.AdamW if a.adamw else torch.optim.Adam)(params, lr=a.lr, weight_decay=a.wd)
    in_training = torch.isin(y, torch.tensor(tr))
    Xtr, ytr = X[in_training], y[in_training]
    remap = {v: i for i, v in enumerate(tr)}
    ytr_c = torch.tensor([remap[int(v)] for v in ytr])
    byid = [torch.nonzero(ytr_c == i).flatten() for i in range(len(tr))]
    total = a.epochs * max(1, len(Xtr) // (a.P * a.K))
    warm = round(a.warm * total)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: (1 / 25 + (1 - 1 / 25) * t / warm) if t < warm else 0.5 * (1 + math.cos(math.pi * (t - warm) / max(1, total - warm))))
    for step in range(total):
        net.train()
        pids = torch.randperm(len(tr), generator=g)[:a.P]
        idx = torch.cat([byid[i][torch.randperm(len(byid[i]), generator=g)[:a.K]] for i in pids])
        xb, yb = Xtr[idx], ytr_c[idx]
        if a.aug:
            xb = augment(xb, g)
        e = net(xb)
        if a.loss == "contrastive":
            d = torch.cdist(e, e)
            same = (yb[:, None] == yb[None, :]).float()
            pos, neg = same - torch.eye(len(yb)), 1 - same
            loss = (pos * d ** 2).sum() / pos.sum() + (neg * F.relu(a.margin - d) ** 2).sum() / neg.sum()
        else:
            logits = a.s * (e @ F.normalize(cls, dim=1).T - a.margin * F.one_hot(yb, len(tr)))
            loss = F.cross_entropy(logits, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        schedule.step()
    in_val = torch.isin(y, torch.tensor(val))
    ev, ec = embed(net, X[in_val]), embed(net, Xtr)
    if a.tag:
        os.makedirs(a.embeddings, exist_ok=True)
        np.savez(os.path.join(a.embeddings, f"{a.tag}_f{fi}.npz"), val=ev, yval=y[in_val].numpy(), cohort=ec)
    r = list(pair_eval(ev, y[in_val].numpy())) + list(snorm_eval(ev, y[in_val].numpy(), ec, a.topk))
    results.append(r)
    print("fold", fi, "validation (auc, eer, s-norm auc, s-norm eer)", np.round(r, 4), "loss %.4f" % loss.item(), "%.0fs" % (time.time() - t0), flush=True)
r = np.array(results)
print("MEAN", np.round(r.mean(0), 4), "STD", np.round(r.std(0), 4), vars(a))
