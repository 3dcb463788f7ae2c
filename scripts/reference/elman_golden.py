#!/usr/bin/python3
"""Golden fixtures for Unroll's Elman RNN, computed with PyTorch in float64.

Model (parameter names and shapes as torch.nn.RNN's state_dict plus an nn.Linear head):
    z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh
    h_t = f(z_t),  f in {tanh, relu, sigmoid, identity}
    y_t = W_head h_t + b_head
    loss = nn.MSELoss()(y, target)   (mean over all T*B*O elements)

Tensors are time-major: input [T, B, I], h0 [1, B, H], target [T, B, O].

tanh and relu are run through torch.nn.RNN itself. nn.RNN offers no sigmoid or identity, so
those go through an explicit time loop; the loop is first checked against nn.RNN for tanh and
relu (outputs and every gradient, to 1e-12) and against finite differences (gradcheck).

Run by hand:  /usr/bin/python3 scripts/reference/elman_golden.py
Writes tests/Unroll.Tests/Golden/elman_<activation>.json and elman_tanh_zero_h0.json.
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn

torch.set_default_dtype(torch.float64)

T, B, I, H, O = 12, 3, 3, 5, 2
SIZES = {"T": T, "B": B, "I": I, "H": H, "O": O}

# One fixed seed per fixture so regenerating one file never changes another.
SEEDS = {"tanh": 1001, "relu": 1002, "sigmoid": 1003, "identity": 1004, "tanh_zero_h0": 1005}

PARAMETER_NAMES = [
    "rnn.weight_ih_l0",
    "rnn.weight_hh_l0",
    "rnn.bias_ih_l0",
    "rnn.bias_hh_l0",
    "head.weight",
    "head.bias",
]

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda z: z,
}

TOLERANCE = 1e-12

OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Unroll.Tests", "Golden"
)


class Model(nn.Module):
    """nn.RNN (single layer, time-major) followed by a Linear head; state_dict names as documented."""

    def __init__(self, nonlinearity):
        super().__init__()
        # nn.RNN only accepts tanh/relu; for the other activations it merely holds the parameters.
        self.rnn = nn.RNN(I, H, num_layers=1, nonlinearity=nonlinearity, bias=True, batch_first=False)
        self.head = nn.Linear(H, O)


def uniform(generator, shape, low, high):
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


def nonzero_uniform(generator, shape, magnitude_low, magnitude_high):
    """Uniform magnitude in [low, high] with a random sign: never zero, so a dropped bias shows."""
    magnitude = uniform(generator, shape, magnitude_low, magnitude_high)
    sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0)
    return sign * magnitude


def make_case(seed, with_h0):
    g = torch.Generator().manual_seed(seed)
    params = {
        "rnn.weight_ih_l0": uniform(g, (H, I), -0.5, 0.5),
        "rnn.weight_hh_l0": uniform(g, (H, H), -0.5, 0.5),
        "rnn.bias_ih_l0": nonzero_uniform(g, (H,), 0.05, 0.3),
        "rnn.bias_hh_l0": nonzero_uniform(g, (H,), 0.05, 0.3),
        "head.weight": uniform(g, (O, H), -0.5, 0.5),
        "head.bias": nonzero_uniform(g, (O,), 0.05, 0.3),
    }
    inputs = {
        "input": uniform(g, (T, B, I), -1.0, 1.0),
        "target": uniform(g, (T, B, O), -1.0, 1.0),
    }
    if with_h0:
        inputs["h0"] = nonzero_uniform(g, (1, B, H), 0.1, 0.6)
    return params, inputs


def load_params(model, params):
    with torch.no_grad():
        state = model.state_dict()
        assert sorted(state.keys()) == sorted(PARAMETER_NAMES), state.keys()
        for name, value in params.items():
            assert state[name].shape == value.shape, (name, state[name].shape, value.shape)
            state[name].copy_(value)


def run_torch_rnn(nonlinearity, params, inputs):
    """Forward + backward through torch.nn.RNN itself (tanh / relu only)."""
    model = Model(nonlinearity)
    load_params(model, params)
    x = inputs["input"].clone().requires_grad_(True)
    h0 = inputs["h0"].clone().requires_grad_(True) if "h0" in inputs else None
    output, h_n = model.rnn(x, h0) if h0 is not None else model.rnn(x)
    prediction = model.head(output)
    loss = nn.MSELoss()(prediction, inputs["target"])
    loss.backward()
    named = dict(model.named_parameters())
    grads = {"grad." + n: named[n].grad.detach().clone() for n in PARAMETER_NAMES}
    grads["grad.input"] = x.grad.detach().clone()
    if h0 is not None:
        grads["grad.h0"] = h0.grad.detach().clone()
    forward = {"output": output.detach(), "prediction": prediction.detach(),
               "h_n": h_n.detach(), "loss": loss.detach()}
    return forward, grads


def loop_forward(activation, w_ih, w_hh, b_ih, b_hh, w_head, b_head, x, h0, target):
    """Explicit Elman recurrence; h0 of None means zeros."""
    f = ACTIVATIONS[activation]
    h = h0[0] if h0 is not None else torch.zeros(B, H)
    outputs = []
    for t in range(T):
        z = x[t] @ w_ih.T + b_ih + h @ w_hh.T + b_hh
        h = f(z)
        outputs.append(h)
    output = torch.stack(outputs)
    prediction = output @ w_head.T + b_head
    loss = ((prediction - target) ** 2).mean()
    return output, prediction, h.unsqueeze(0), loss


def run_loop(activation, params, inputs):
    leaves = {n: params[n].clone().requires_grad_(True) for n in PARAMETER_NAMES}
    x = inputs["input"].clone().requires_grad_(True)
    h0 = inputs["h0"].clone().requires_grad_(True) if "h0" in inputs else None
    output, prediction, h_n, loss = loop_forward(
        activation, *(leaves[n] for n in PARAMETER_NAMES), x, h0, inputs["target"])
    loss.backward()
    grads = {"grad." + n: leaves[n].grad.detach().clone() for n in PARAMETER_NAMES}
    grads["grad.input"] = x.grad.detach().clone()
    if h0 is not None:
        grads["grad.h0"] = h0.grad.detach().clone()
    forward = {"output": output.detach(), "prediction": prediction.detach(),
               "h_n": h_n.detach(), "loss": loss.detach()}
    return forward, grads


def assert_close(label, a, b):
    assert set(a) == set(b), (label, sorted(a), sorted(b))
    for name in a:
        assert a[name].shape == b[name].shape, (label, name, a[name].shape, b[name].shape)
        diff = (a[name] - b[name]).abs().max().item() if a[name].numel() else 0.0
        if not diff <= TOLERANCE:
            sys.exit(f"{label}: '{name}' differs between explicit loop and nn.RNN by {diff:.3e}")


def verify_loop_against_nn_rnn():
    """The explicit loop must reproduce nn.RNN for the activations nn.RNN offers."""
    for activation in ("tanh", "relu"):
        for with_h0 in (True, False):
            params, inputs = make_case(SEEDS[activation], with_h0)
            ref_fwd, ref_grad = run_torch_rnn(activation, params, inputs)
            loop_fwd, loop_grad = run_loop(activation, params, inputs)
            label = f"{activation} (h0 {'given' if with_h0 else 'zero'})"
            assert_close(label, ref_fwd, loop_fwd)
            assert_close(label, ref_grad, loop_grad)


def verify_loop_gradients_numerically():
    """Finite-difference check of the loop's autograd for the activations nn.RNN lacks."""
    for activation in ("sigmoid", "identity"):
        params, inputs = make_case(SEEDS[activation], True)
        args = tuple(params[n].clone().requires_grad_(True) for n in PARAMETER_NAMES) + (
            inputs["input"].clone().requires_grad_(True),
            inputs["h0"].clone().requires_grad_(True),
        )

        def loss_only(*a):
            return loop_forward(activation, *a, inputs["target"])[3]

        if not torch.autograd.gradcheck(loss_only, args, eps=1e-6, atol=1e-8, rtol=1e-6):
            sys.exit(f"gradcheck failed for {activation}")


def check_regime(activation, params, inputs):
    """Keep the fixture informative: no saturation, and for relu both sides of the kink."""
    with torch.no_grad():
        h = inputs["h0"][0] if "h0" in inputs else torch.zeros(B, H)
        zs = []
        for t in range(T):
            z = (inputs["input"][t] @ params["rnn.weight_ih_l0"].T + params["rnn.bias_ih_l0"]
                 + h @ params["rnn.weight_hh_l0"].T + params["rnn.bias_hh_l0"])
            zs.append(z)
            h = ACTIVATIONS[activation](z)
        z = torch.stack(zs)
    max_abs = z.abs().max().item()
    positive = (z > 0).double().mean().item()
    assert max_abs < 3.0, f"{activation}: pre-activation up to {max_abs}, would saturate"
    assert 0.2 < positive < 0.8, f"{activation}: {positive:.2f} of pre-activations positive"
    # relu'(0) is a convention; keep every z clear of it so the gradient is unambiguous and a
    # central difference with step 1e-6 (as GoldenFixtureTests uses) never straddles the kink.
    assert z.abs().min().item() > 1e-4, f"{activation}: a pre-activation is within 1e-4 of 0"
    return max_abs, positive


def tensor_entry(t):
    t = t.detach().contiguous()
    data = [float(v) for v in t.reshape(-1).tolist()]
    assert all(math.isfinite(v) for v in data)
    return {"shape": list(t.shape), "data": data}


def write_fixture(file_stem, activation, description, tensors):
    path = os.path.normpath(os.path.join(OUT_DIR, f"elman_{file_stem}.json"))
    # One tensor per line keeps diffs readable; json.dumps of a Python float is its shortest
    # round-trip repr, so the float64 values are stored exactly.
    lines = ["{",
             f'  "description": {json.dumps(description)},',
             f'  "activation": {json.dumps(activation)},',
             f'  "sizes": {json.dumps(SIZES)},',
             '  "tensors": {']
    names = list(tensors)
    for i, name in enumerate(names):
        comma = "," if i < len(names) - 1 else ""
        lines.append(f"    {json.dumps(name)}: {json.dumps(tensor_entry(tensors[name]))}{comma}")
    lines += ["  }", "}", ""]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
        fh.write("\n".join(lines))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return path


def build(file_stem, activation, with_h0):
    seed = SEEDS[file_stem]
    params, inputs = make_case(seed, with_h0)
    max_abs, positive = check_regime(activation, params, inputs)
    if activation in ("tanh", "relu"):
        forward, grads = run_torch_rnn(activation, params, inputs)
        how = f"torch.nn.RNN(nonlinearity='{activation}')"
    else:
        forward, grads = run_loop(activation, params, inputs)
        how = ("an explicit time loop (nn.RNN has no such nonlinearity; the loop is verified "
               "against nn.RNN for tanh and relu to 1e-12 and by torch.autograd.gradcheck)")
    h0_text = ("h0 non-zero and given" if with_h0
               else "h0 not passed (zeros, PyTorch's default), so no h0 / grad.h0 tensors")
    description = (
        f"Elman RNN golden values: h_t = {activation}(W_ih x_t + b_ih + W_hh h_(t-1) + b_hh), "
        f"y_t = head.weight h_t + head.bias, loss = nn.MSELoss() (mean over T*B*O). "
        f"Computed in float64 by {how} plus nn.Linear head, forward and loss.backward(), "
        f"PyTorch {torch.__version__}, seed {seed}; {h0_text}. Time-major tensors, row-major data. "
        f"Generated by scripts/reference/elman_golden.py."
    )
    tensors = {"input": inputs["input"]}
    if with_h0:
        tensors["h0"] = inputs["h0"]
    tensors["target"] = inputs["target"]
    for n in PARAMETER_NAMES:
        tensors[n] = params[n]
    tensors.update(forward)
    for n in PARAMETER_NAMES:
        tensors["grad." + n] = grads["grad." + n]
    if with_h0:
        tensors["grad.h0"] = grads["grad.h0"]
    tensors["grad.input"] = grads["grad.input"]
    path = write_fixture(file_stem, activation, description, tensors)
    print(f"{path}: loss {forward['loss'].item():.17g}, max|z| {max_abs:.3f}, "
          f"{positive:.0%} of z positive")


def main():
    verify_loop_against_nn_rnn()
    verify_loop_gradients_numerically()
    print(f"explicit loop matches nn.RNN (tanh, relu) to {TOLERANCE:g}; gradcheck passed")
    for activation in ("tanh", "relu", "sigmoid", "identity"):
        build(activation, activation, with_h0=True)
    build("tanh_zero_h0", "tanh", with_h0=False)


if __name__ == "__main__":
    main()
