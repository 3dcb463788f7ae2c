"""Writes tests/Unroll.Tests/Golden/optimizers.json: the reference trajectories of torch.optim's
SGD, Adagrad, RMSprop, Adam and AdamW (several configurations each) applied to fixed parameters
with a fixed sequence of gradients, the optimiser state torch holds at the end of each run, and the
learning rates of torch.optim.lr_scheduler's StepLR, CosineAnnealingLR, PolynomialLR, LinearLR and SequentialLR
(linear warm-up followed by another schedule).

Everything runs in float64 with the single-tensor (foreach=False) code path, torch 1.13's default.
The rate recorded for step s (1-based) is param_groups[0]["lr"] before the s-th optimizer.step(),
i.e. after s - 1 calls of scheduler.step().

Settings are written with the names of Unroll's OptimizerSettings / ScheduleSettings properties so
the tests can build the same configuration without a table of their own.

Run by hand: /usr/bin/python3 scripts/reference/optimizer_golden.py
"""
import json
import os
import warnings

import torch

torch.set_default_dtype(torch.float64)
# SequentialLR calls scheduler.step(0) at a milestone, which warns about the epoch argument.
warnings.filterwarnings("ignore", category=UserWarning)

STEPS = 8
SIZE = 7
generator = torch.Generator().manual_seed(2024)
initial = torch.rand(SIZE, generator=generator) * 2 - 1
# Gradients whose scale grows from 0.1 to ~7 and back down to 1e-3, with zeros: a single zero
# component at steps 1 and 4 and an all-zero gradient at step 6 (the moments must still move).
scales = [0.1, 1.0, 3.0, 0.01, 7.0, 0.0, 2.0, 1e-3]
gradients = [torch.randn(SIZE, generator=generator) * scale for scale in scales]
gradients[0][3] = 0.0
gradients[3][5] = 0.0


def make_scheduler(optimizer, schedule):
    """torch's scheduler for a ScheduleSettings-like dict (None for a constant rate)."""
    kind = schedule["Kind"]
    total = schedule["TotalSteps"]
    warmup = schedule.get("WarmupSteps", 0)
    remaining = total - warmup
    if kind == "constant":
        main = None
    elif kind == "step":
        main = lambda: torch.optim.lr_scheduler.StepLR(optimizer, step_size=schedule["StepSize"], gamma=schedule.get("Gamma", 0.1))
    elif kind == "cosine":
        main = lambda: torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=remaining, eta_min=schedule.get("MinRate", 0.0))
    elif kind == "linear":
        # PolynomialLR(power=1) has no eta_min: the fixture's linear schedules decay to 0.
        assert schedule.get("MinRate", 0.0) == 0.0
        main = lambda: torch.optim.lr_scheduler.PolynomialLR(optimizer, total_iters=remaining, power=1.0)
    else:
        raise ValueError(kind)
    if warmup == 0:
        return main() if main else None
    linear = torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=schedule.get("WarmupStartFactor", 1.0 / 3), total_iters=warmup)
    if main is None:
        return linear
    return torch.optim.lr_scheduler.SequentialLR(optimizer, [linear, main()], milestones=[warmup])


OPTIMIZERS = {
    "sgd": torch.optim.SGD,
    "adagrad": torch.optim.Adagrad,
    "rmsprop": torch.optim.RMSprop,
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
}
# Unroll property name -> torch keyword.
KEYWORDS = {
    "LearningRate": "lr",
    "Momentum": "momentum",
    "Dampening": "dampening",
    "Nesterov": "nesterov",
    "WeightDecay": "weight_decay",
    "Epsilon": "eps",
    "Alpha": "alpha",
    "Centered": "centered",
    "Amsgrad": "amsgrad",
    "LearningRateDecay": "lr_decay",
    "InitialAccumulatorValue": "initial_accumulator_value",
}


def run(settings, schedule=None):
    parameter = torch.nn.Parameter(initial.clone())
    keywords = {KEYWORDS[k]: v for k, v in settings.items() if k in KEYWORDS}
    if "Beta1" in settings or "Beta2" in settings:
        keywords["betas"] = (settings.get("Beta1", 0.9), settings.get("Beta2", 0.999))
    optimizer = OPTIMIZERS[settings["Kind"]]([parameter], foreach=False, **keywords)
    scheduler = make_scheduler(optimizer, schedule) if schedule else None
    values, rates = [], []
    for gradient in gradients:
        rates.append(optimizer.param_groups[0]["lr"])
        parameter.grad = gradient.clone()
        optimizer.step()
        if scheduler:
            scheduler.step()
        values.append(parameter.detach().clone().tolist())
    state = optimizer.state[parameter]
    buffers = {name: value.tolist() for name, value in state.items() if name != "step" and value is not None}
    step = int(state["step"]) if "step" in state else None
    entry = {"Settings": settings, "Parameters": values, "Rates": rates, "State": buffers, "StepCount": step}
    if schedule:
        entry["Schedule"] = schedule
    return entry


optimizers = {
    "sgd": run({"Kind": "sgd", "LearningRate": 0.1}),
    "sgd_momentum": run({"Kind": "sgd", "LearningRate": 0.05, "Momentum": 0.9, "Dampening": 0.1}),
    "sgd_nesterov": run({"Kind": "sgd", "LearningRate": 0.05, "Momentum": 0.9, "Nesterov": True}),
    "sgd_weight_decay": run({"Kind": "sgd", "LearningRate": 0.1, "Momentum": 0.5, "WeightDecay": 0.01}),
    "sgd_plain_weight_decay": run({"Kind": "sgd", "LearningRate": 0.1, "WeightDecay": 0.2}),
    "adagrad": run({"Kind": "adagrad", "LearningRate": 0.1}),
    "adagrad_decay": run({"Kind": "adagrad", "LearningRate": 0.1, "LearningRateDecay": 0.05, "WeightDecay": 0.02,
                          "InitialAccumulatorValue": 0.3}),
    "rmsprop": run({"Kind": "rmsprop", "LearningRate": 0.01}),
    "rmsprop_centered": run({"Kind": "rmsprop", "LearningRate": 0.01, "Alpha": 0.9, "Centered": True}),
    "rmsprop_momentum": run({"Kind": "rmsprop", "LearningRate": 0.01, "Momentum": 0.8, "WeightDecay": 0.01}),
    "rmsprop_centered_momentum": run({"Kind": "rmsprop", "LearningRate": 0.02, "Momentum": 0.5, "Centered": True,
                                      "Epsilon": 1e-6}),
    "adam": run({"Kind": "adam", "LearningRate": 0.01}),
    "adam_amsgrad": run({"Kind": "adam", "LearningRate": 0.01, "Beta1": 0.8, "Beta2": 0.99, "Amsgrad": True}),
    "adam_weight_decay": run({"Kind": "adam", "LearningRate": 0.01, "WeightDecay": 0.1}),
    "adamw": run({"Kind": "adamw", "LearningRate": 0.01}),
    "adamw_amsgrad": run({"Kind": "adamw", "LearningRate": 0.01, "WeightDecay": 0.1, "Amsgrad": True, "Epsilon": 1e-6}),
    "adam_cosine": run({"Kind": "adam", "LearningRate": 0.01}, {"Kind": "cosine", "TotalSteps": STEPS}),
    "adamw_warmup_cosine": run({"Kind": "adamw", "LearningRate": 0.02},
                               {"Kind": "cosine", "TotalSteps": STEPS, "WarmupSteps": 3, "WarmupStartFactor": 0.1,
                                "MinRate": 1e-3}),
    "sgd_momentum_warmup_step": run({"Kind": "sgd", "LearningRate": 0.05, "Momentum": 0.9},
                                    {"Kind": "step", "TotalSteps": STEPS, "WarmupSteps": 2, "StepSize": 2, "Gamma": 0.5}),
}


def rates(schedule, base_rate=0.1):
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=base_rate)
    scheduler = make_scheduler(optimizer, schedule)
    values = []
    for _ in range(schedule["TotalSteps"]):
        values.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if scheduler:
            scheduler.step()
    return {"Schedule": schedule, "BaseRate": base_rate, "Rates": values}


TOTAL = 20
schedules = {
    "constant": rates({"Kind": "constant", "TotalSteps": TOTAL}),
    "step": rates({"Kind": "step", "TotalSteps": TOTAL, "StepSize": 3, "Gamma": 0.5}),
    "step_default_gamma": rates({"Kind": "step", "TotalSteps": TOTAL, "StepSize": 7}),
    "cosine": rates({"Kind": "cosine", "TotalSteps": TOTAL}),
    "cosine_min_rate": rates({"Kind": "cosine", "TotalSteps": TOTAL, "MinRate": 0.001}),
    "warmup_constant": rates({"Kind": "constant", "TotalSteps": TOTAL, "WarmupSteps": 5, "WarmupStartFactor": 0.25}),
    "warmup_default_start": rates({"Kind": "constant", "TotalSteps": TOTAL, "WarmupSteps": 4}),
    "warmup_cosine": rates({"Kind": "cosine", "TotalSteps": TOTAL, "WarmupSteps": 4, "WarmupStartFactor": 0.1,
                            "MinRate": 1e-4}, base_rate=0.02),
    "linear": rates({"Kind": "linear", "TotalSteps": TOTAL}),
    "warmup_linear": rates({"Kind": "linear", "TotalSteps": TOTAL, "WarmupSteps": 4, "WarmupStartFactor": 0.1}, base_rate=0.02),
    "warmup_step": rates({"Kind": "step", "TotalSteps": TOTAL, "WarmupSteps": 3, "WarmupStartFactor": 0.2,
                          "StepSize": 4, "Gamma": 0.3}),
}

fixture = {
    "description": f"torch {torch.__version__}, float64, foreach=False: parameters after each step for the given "
                   "gradients, the final optimiser state, and learning-rate schedules (rate before each step)",
    "initial": initial.tolist(),
    "gradients": [g.tolist() for g in gradients],
    "optimizers": optimizers,
    "schedules": schedules,
}
path = os.path.join(os.path.dirname(__file__), "..", "..", "tests", "Unroll.Tests", "Golden", "optimizers.json")
temporary = path + ".tmp"
with open(temporary, "w") as f:
    json.dump(fixture, f, indent=1)
    f.flush()
    os.fsync(f.fileno())
os.replace(temporary, path)
print("wrote", os.path.normpath(path))
