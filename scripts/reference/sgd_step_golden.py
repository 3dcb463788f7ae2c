"""Writes tests/Unroll.Tests/Golden/sgd_step_{rnn,lstm,gru}.json: one plain torch.optim.SGD step
from fixed weights on a fixed batch (zero initial state, MSE over every step), for checking that
Unroll's trainer computes w - lr * grad with PyTorch's gradient.

Run by hand: /usr/bin/python3 scripts/reference/sgd_step_golden.py
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)
T, B, I, H, O, LR = 9, 4, 2, 5, 1, 0.3
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "..", "tests", "Unroll.Tests", "Golden")


def flat(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


for seed, cell in enumerate(["rnn", "lstm", "gru"]):
    torch.manual_seed(5000 + seed)
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](I, H)
    head = torch.nn.Linear(H, O)
    with torch.no_grad():
        for p in list(module.parameters()) + list(head.parameters()):
            p.uniform_(-0.5, 0.5)
    x = torch.rand(T, B, I) * 2 - 1
    y = torch.rand(T, B, O) * 2 - 1
    params = {"rnn." + k: v for k, v in module.state_dict().items()}
    params.update({"head." + k: v for k, v in head.state_dict().items()})
    before = {k: v.clone() for k, v in params.items()}
    optimizer = torch.optim.SGD(list(module.parameters()) + list(head.parameters()), lr=LR)
    optimizer.zero_grad()
    loss = torch.nn.functional.mse_loss(head(module(x)[0]), y)
    loss.backward()
    optimizer.step()
    after = {"rnn." + k: v for k, v in module.state_dict().items()}
    after.update({"head." + k: v for k, v in head.state_dict().items()})
    tensors = {"input": flat(x), "target": flat(y), "loss": flat(loss)}
    tensors.update({k: flat(v) for k, v in before.items()})
    tensors.update({"after." + k: flat(v) for k, v in after.items()})
    fixture = {
        "description": f"torch {torch.__version__}: one torch.optim.SGD(lr={LR}) step of nn.{type(module).__name__}(I={I}, H={H}) + "
                       f"nn.Linear(H, O={O}) on one batch, zero initial state, MSE mean over all elements; float64, seed {5000 + seed}",
        "cell": cell, "activation": "tanh", "learning_rate": LR,
        "sizes": {"T": T, "B": B, "I": I, "H": H, "O": O},
        "tensors": tensors,
    }
    with open(os.path.join(OUT, f"sgd_step_{cell}.json"), "w") as f:
        json.dump(fixture, f)
    print("wrote", f"sgd_step_{cell}.json")
