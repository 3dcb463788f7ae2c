"""Writes tests/Unroll.Tests/Golden/optimizers.json: torch.optim.SGD and torch.optim.Adam
applied for several steps to fixed parameters with a fixed sequence of gradients, and
torch.optim.lr_scheduler.CosineAnnealingLR's rates.

Run by hand: /usr/bin/python3 scripts/reference/optimizer_golden.py
"""
import json
import math
import os

import torch

torch.set_default_dtype(torch.float64)
STEPS = 6
generator = torch.Generator().manual_seed(2024)
initial = torch.rand(7, generator=generator) * 2 - 1
gradients = [torch.randn(7, generator=generator) * (0.1 + step) for step in range(STEPS)]


def trajectory(make_optimizer, schedule_steps=None):
    parameter = torch.nn.Parameter(initial.clone())
    optimizer = make_optimizer([parameter])
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=schedule_steps) if schedule_steps else None
    values, rates = [], []
    for gradient in gradients:
        rates.append(optimizer.param_groups[0]["lr"])
        parameter.grad = gradient.clone()
        optimizer.step()
        if scheduler:
            scheduler.step()
        values.append(parameter.detach().clone().tolist())
    return values, rates


sgd, _ = trajectory(lambda p: torch.optim.SGD(p, lr=0.1))
adam, _ = trajectory(lambda p: torch.optim.Adam(p, lr=0.01))
adam_cosine, cosine_rates = trajectory(lambda p: torch.optim.Adam(p, lr=0.01), schedule_steps=STEPS)

fixture = {
    "description": f"torch {torch.__version__}: SGD(lr=0.1), Adam(lr=0.01), Adam(lr=0.01) with CosineAnnealingLR(T_max={STEPS}); "
                   "parameters after each step for the given gradients",
    "initial": initial.tolist(),
    "gradients": [g.tolist() for g in gradients],
    "sgd": sgd,
    "adam": adam,
    "adam_cosine": adam_cosine,
    "cosine_rates": cosine_rates,
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Unroll.Tests", "Golden", "optimizers.json")
with open(path, "w") as f:
    json.dump(fixture, f, indent=1)
print("wrote", os.path.normpath(path))
