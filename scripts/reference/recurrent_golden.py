#!/usr/bin/python3
"""Golden fixtures for Unroll's LSTM, GRU, stacked, bidirectional and variable-length recurrent
layers, classification heads and the Jordan (output-recurrent) network, computed with PyTorch in
float64.

Fixture grid, computed with torch.nn.RNN / nn.LSTM / nn.GRU (time-major) plus an nn.Linear head:
    <cell>_l<layers>_<uni|bi>_<equal|varying>.json
    cell in {rnn (tanh), lstm, gru}, layers in {1, 2}, one or two directions, lengths all T or
    [4, 7, 1] (deliberately unsorted; packed with pack_padded_sequence(enforce_sorted=False)).
    y_t = head.weight output_t + head.bias at every step, output_t = last layer's [fwd; rev] state.
    loss = sum over valid (t, b, o) of (y - target)^2 / (n_valid_steps * O).

Classification fixtures (cross-entropy, nn.CrossEntropyLoss on the valid positions):
    lstm_classify_per_step.json   LSTM, per-step labels, mean over valid steps.
    lstm_classify_last.json       LSTM, head on each sequence's last valid output, one label each.
    gru_embedding_per_step.json   nn.Embedding(6, 3) -> GRU -> per-step labels over 6 classes.

Jordan network by an explicit loop (no torch module exists):
    h_t = tanh(W_ih x_t + b_ih + W_yh y_(t-1) + b_hh),  y~_t = head.weight h_t + head.bias
    jordan_teacher_forcing.json   y_(t-1) = target_(t-1), y_(-1) = y0
    jordan_free_running.json      y_(t-1) = y~_(t-1) (gradient flows through it), y~_(-1) = y0
    loss = nn.MSELoss() over all T*B*O elements.

Before writing anything the script checks, to 1e-12:
  * packed, batched nn modules against each sequence run alone through the same module (batch of
    one, its own length, no packing): output, h_n, c_n and every gradient;
  * the same against an explicit per-sequence loop of the documented cell equations;
  * the Jordan teacher-forcing loop against nn.RNN on [x_t; y_(t-1)] with weight_hh = 0;
  * the Jordan loops by torch.autograd.gradcheck (finite differences).

Run by hand:  /usr/bin/python3 scripts/reference/recurrent_golden.py
"""

import json
import math
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch.set_default_dtype(torch.float64)

T, B, I, H, O = 7, 3, 3, 4, 2
VARYING_LENGTHS = [4, 7, 1]  # unsorted on purpose: the longest is not first
CLASSES = 5
VOCABULARY = 6
TOLERANCE = 1e-12

CELLS = ("rnn", "lstm", "gru")
MODULES = {"rnn": lambda i, h, layers, bi: nn.RNN(i, h, layers, nonlinearity="tanh", bidirectional=bi),
           "lstm": lambda i, h, layers, bi: nn.LSTM(i, h, layers, bidirectional=bi),
           "gru": lambda i, h, layers, bi: nn.GRU(i, h, layers, bidirectional=bi)}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}

OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Unroll.Tests", "Golden"
)


def uniform(generator, shape, low, high):
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


def nonzero_uniform(generator, shape, magnitude_low, magnitude_high):
    """Uniform magnitude in [low, high] with a random sign: never zero, so a dropped term shows."""
    magnitude = uniform(generator, shape, magnitude_low, magnitude_high)
    sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0)
    return sign * magnitude


def valid_mask(lengths, steps):
    """[T, B] booleans: step t of sequence b is valid when t < lengths[b]."""
    return torch.arange(steps).unsqueeze(1) < torch.tensor(lengths).unsqueeze(0)


class Model(nn.Module):
    """Recurrent layer `rnn`, optional `embedding` before it and a Linear `head` after it."""

    def __init__(self, cell, input_size, layers, bidirectional, outputs, vocabulary=None):
        super().__init__()
        if vocabulary is not None:
            self.embedding = nn.Embedding(vocabulary, input_size)
        self.rnn = MODULES[cell](input_size, H, layers, bidirectional)
        self.head = nn.Linear((2 if bidirectional else 1) * H, outputs)


def initialise(model, generator):
    """Weights uniform in [-0.5, 0.5]; biases magnitude in [0.05, 0.5] with a random sign."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "bias" in name:
                p.copy_(nonzero_uniform(generator, p.shape, 0.05, 0.5))
            elif name == "embedding.weight":
                p.copy_(uniform(generator, p.shape, -1.0, 1.0))
            else:
                p.copy_(uniform(generator, p.shape, -0.5, 0.5))


def parameter_names(model):
    return [n for n, _ in model.named_parameters()]


# --------------------------------------------------------------------------------------------
# Forward passes


def run_packed(model, cell, x, lengths, h0, c0):
    """Batched forward through the torch module; packs when the lengths differ."""
    state = (h0, c0) if cell == "lstm" else h0
    if all(length == x.shape[0] for length in lengths):
        output, hidden = model.rnn(x, state)
    else:
        packed = pack_padded_sequence(x, torch.tensor(lengths), enforce_sorted=False)
        packed_output, hidden = model.rnn(packed, state)
        output, _ = pad_packed_sequence(packed_output, total_length=x.shape[0])
    h_n, c_n = hidden if cell == "lstm" else (hidden, None)
    return output, h_n, c_n


def run_one_by_one(model, cell, x, lengths, h0, c0):
    """Each sequence alone through the same module: batch of one, its own length, no packing."""
    outputs, h_ns, c_ns = [], [], []
    for b, length in enumerate(lengths):
        xb = x[:length, b:b + 1]
        state = (h0[:, b:b + 1], c0[:, b:b + 1]) if cell == "lstm" else h0[:, b:b + 1]
        output, hidden = model.rnn(xb, state)
        h_n, c_n = hidden if cell == "lstm" else (hidden, None)
        padding = torch.zeros(x.shape[0] - length, 1, output.shape[2])
        outputs.append(torch.cat([output, padding]))
        h_ns.append(h_n)
        c_ns.append(c_n)
    c_n = torch.cat(c_ns, dim=1) if cell == "lstm" else None
    return torch.cat(outputs, dim=1), torch.cat(h_ns, dim=1), c_n


def cell_step(cell, w_ih, w_hh, b_ih, b_hh, x, h, c):
    """One step of the cell, with PyTorch's gate layout (rows of W_ih / W_hh, top to bottom)."""
    gi = w_ih @ x + b_ih
    gh = w_hh @ h + b_hh
    if cell == "rnn":
        return torch.tanh(gi + gh), None
    if cell == "lstm":  # gates i, f, g, o
        i, f, g, o = (gi + gh).chunk(4)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c
    # gru: gates r, z, n; the reset gate multiplies W_hn h + b_hn (b_hh's n part included)
    ir, iz, inn = gi.chunk(3)
    hr, hz, hn = gh.chunk(3)
    r = torch.sigmoid(ir + hr)
    z = torch.sigmoid(iz + hz)
    n = torch.tanh(inn + r * hn)
    return (1 - z) * n + z * h, None


def run_explicit_loop(params, cell, layers, directions, x, lengths, h0, c0):
    """The documented equations, one sequence at a time, one layer and direction at a time."""
    outputs, h_ns, c_ns = [], [], []
    for b, length in enumerate(lengths):
        layer_input = [x[t, b] for t in range(length)]
        h_n, c_n = [], []
        for layer in range(layers):
            per_direction = []
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                w_ih, w_hh, b_ih, b_hh = (params[f"rnn.{kind}{suffix}"] for kind in
                                          ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                k = layer * directions + d
                h, c = h0[k, b], (c0[k, b] if cell == "lstm" else None)
                states = [None] * length
                steps = range(length) if d == 0 else range(length - 1, -1, -1)
                for t in steps:
                    h, c = cell_step(cell, w_ih, w_hh, b_ih, b_hh, layer_input[t], h, c)
                    states[t] = h
                per_direction.append(states)
                h_n.append(h)
                c_n.append(c)
            layer_input = [torch.cat([s[t] for s in per_direction]) for t in range(length)]
        padding = [torch.zeros(directions * H)] * (x.shape[0] - length)
        outputs.append(torch.stack(layer_input + padding))
        h_ns.append(torch.stack(h_n))
        if cell == "lstm":
            c_ns.append(torch.stack(c_n))
    c_n = torch.stack(c_ns, dim=1) if cell == "lstm" else None
    return torch.stack(outputs, dim=1), torch.stack(h_ns, dim=1), c_n


# --------------------------------------------------------------------------------------------
# Losses


def masked_mse(prediction, target, lengths):
    mask = valid_mask(lengths, prediction.shape[0]).unsqueeze(2)
    squared = torch.where(mask, (prediction - target) ** 2, torch.zeros(()))
    return squared.sum() / (sum(lengths) * prediction.shape[2])


def masked_cross_entropy(logits, target_class, lengths):
    mask = valid_mask(lengths, logits.shape[0])
    return nn.CrossEntropyLoss()(logits[mask], target_class[mask].long())


def last_step_outputs(output, lengths):
    return torch.stack([output[length - 1, b] for b, length in enumerate(lengths)])


# --------------------------------------------------------------------------------------------
# One fixture


def evaluate(model, params, spec, data, forward):
    """Load params into `model`, run `forward`, the head and the loss, and backpropagate."""
    cell = spec["cell"]
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(params[name])
    model.zero_grad()
    leaves = dict(model.named_parameters())
    h0 = data["h0"].clone().requires_grad_(True)
    c0 = data["c0"].clone().requires_grad_(True) if cell == "lstm" else None
    if "tokens" in data:
        x = model.embedding(data["tokens"].long())
        x.retain_grad()
    else:
        x = data["input"].clone().requires_grad_(True)
    if forward == "explicit":
        output, h_n, c_n = run_explicit_loop(leaves, cell, spec["layers"], spec["directions"],
                                             x, data["lengths"], h0, c0)
    else:
        run = run_packed if forward == "packed" else run_one_by_one
        output, h_n, c_n = run(model, cell, x, data["lengths"], h0, c0)
    if spec["readout"] == "last_step":
        prediction = model.head(last_step_outputs(output, data["lengths"]))
    else:
        prediction = model.head(output)
    if spec["loss"] == "mse":
        loss = masked_mse(prediction, data["target"], data["lengths"])
    elif spec["readout"] == "last_step":
        loss = nn.CrossEntropyLoss()(prediction, data["target_class"].long())
    else:
        loss = masked_cross_entropy(prediction, data["target_class"], data["lengths"])
    loss.backward()
    result = {"output": output, "prediction": prediction, "h_n": h_n, "loss": loss}
    if cell == "lstm":
        result["c_n"] = c_n
    result = {k: v.detach().clone() for k, v in result.items()}
    for name in parameter_names(model):
        result["grad." + name] = leaves[name].grad.detach().clone()
    result["grad.h0"] = h0.grad.detach().clone()
    if cell == "lstm":
        result["grad.c0"] = c0.grad.detach().clone()
    result["grad.input"] = x.grad.detach().clone()
    if "tokens" in data:
        result["input"] = x.detach().clone()
    return result


def assert_close(label, reference, other):
    assert set(reference) == set(other), (label, sorted(reference), sorted(other))
    for name in reference:
        a, b = reference[name], other[name]
        assert a.shape == b.shape, (label, name, a.shape, b.shape)
        diff = (a - b).abs().max().item() if a.numel() else 0.0
        if not diff <= TOLERANCE:
            sys.exit(f"{label}: '{name}' differs by {diff:.3e}")


def make_data(generator, spec):
    lengths = spec["lengths"]
    layers_directions = spec["layers"] * spec["directions"]
    mask = valid_mask(lengths, T)
    data = {"lengths": lengths}
    if spec.get("vocabulary"):
        data["tokens"] = torch.randint(0, spec["vocabulary"], (T, B), generator=generator).double()
    else:
        # Padded steps hold large non-zero junk: a model that reads them changes every result.
        values = uniform(generator, (T, B, I), -1.0, 1.0)
        junk = nonzero_uniform(generator, (T, B, I), 2.0, 4.0)
        data["input"] = torch.where(mask.unsqueeze(2), values, junk)
    data["h0"] = nonzero_uniform(generator, (layers_directions, B, H), 0.1, 0.6)
    if spec["cell"] == "lstm":
        data["c0"] = nonzero_uniform(generator, (layers_directions, B, H), 0.1, 0.6)
    if spec["loss"] == "mse":
        values = uniform(generator, (T, B, spec["O"]), -1.0, 1.0)
        junk = nonzero_uniform(generator, (T, B, spec["O"]), 2.0, 4.0)
        data["target"] = torch.where(mask.unsqueeze(2), values, junk)
    elif spec["readout"] == "last_step":
        data["target_class"] = torch.randint(0, spec["O"], (B,), generator=generator).double()
    else:
        # Padded steps carry a valid but meaningless class, so counting them changes the loss.
        data["target_class"] = torch.randint(0, spec["O"], (T, B), generator=generator).double()
    return data


def build_recurrent(stem, spec, seed, description):
    generator = torch.Generator().manual_seed(seed)
    model = Model(spec["cell"], I, spec["layers"], spec["directions"] == 2, spec["O"],
                  spec.get("vocabulary"))
    initialise(model, generator)
    params = {n: p.detach().clone() for n, p in model.named_parameters()}
    data = make_data(generator, spec)

    packed = evaluate(model, params, spec, data, "packed")
    alone = evaluate(model, params, spec, data, "one_by_one")
    explicit = evaluate(model, params, spec, data, "explicit")
    assert_close(f"{stem}: packed vs one sequence at a time", packed, alone)
    assert_close(f"{stem}: packed vs explicit loop", packed, explicit)

    mask = valid_mask(data["lengths"], T)
    padded = ~mask
    assert packed["output"][padded].abs().max().item() == 0.0 if padded.any() else True
    assert packed["grad.input"][padded].abs().max().item() == 0.0 if padded.any() else True
    largest = packed["output"].abs().max().item()
    assert largest < 0.99, f"{stem}: |output| up to {largest}, too close to saturation"

    tensors = {}
    if "tokens" in data:
        tensors["tokens"] = data["tokens"]
    tensors["input"] = packed["input"] if "tokens" in data else data["input"]
    tensors["lengths"] = torch.tensor(data["lengths"], dtype=torch.float64)
    tensors["h0"] = data["h0"]
    if spec["cell"] == "lstm":
        tensors["c0"] = data["c0"]
    tensors.update({k: data[k] for k in ("target", "target_class") if k in data})
    tensors.update(params)
    for name in ("output", "prediction", "h_n", "c_n", "loss"):
        if name in packed:
            tensors[name] = packed[name]
    for name in params:
        tensors["grad." + name] = packed["grad." + name]
    tensors["grad.h0"] = packed["grad.h0"]
    if spec["cell"] == "lstm":
        tensors["grad.c0"] = packed["grad.c0"]
    tensors["grad.input"] = packed["grad.input"]

    header = {"cell": spec["cell"]}
    if spec["cell"] == "rnn":
        header["activation"] = "tanh"
    header.update({"layers": spec["layers"], "bidirectional": spec["directions"] == 2,
                   "loss": spec["loss"], "readout": spec["readout"]})
    sizes = {"T": T, "B": B, "I": I, "H": H, "O": spec["O"]}
    if spec.get("vocabulary"):
        sizes["V"] = spec["vocabulary"]
    full = (f"{description} PyTorch {torch.__version__}, float64, seed {seed}; lengths "
            f"{data['lengths']}. Checked before writing against each sequence run alone through "
            f"the same module and against an explicit loop of the cell equations (to "
            f"{TOLERANCE:g}). Time-major tensors, row-major data. Generated by "
            f"scripts/reference/recurrent_golden.py.")
    path = write_fixture(stem, full, header, sizes, tensors)
    print(f"{path}: loss {packed['loss'].item():.17g}, max|output| {largest:.3f}")


GRID_DESCRIPTION = (
    "{cell_text}, {layers} layer(s), {direction_text}, {length_text}; head nn.Linear(dirs*H, O) "
    "applied to the last layer's output at every step. loss = sum over valid (t, b, o) of "
    "(prediction - target)^2 / (n_valid_steps * O); padded steps do not count. At padded steps "
    "input and target hold non-zero junk (ignored), output is zero (as pad_packed_sequence gives), "
    "prediction is the head applied to that zero output (= head.bias) and grad.input is zero. "
    "h_n / c_n hold each sequence's state at its own last step (reverse direction: after running "
    "back to t = 0); layout [layer * dirs + dir, B, H].")


def grid():
    index = 0
    for cell in CELLS:
        for layers in (1, 2):
            for directions in (1, 2):
                for varying in (False, True):
                    index += 1
                    stem = (f"{cell}_l{layers}_{'bi' if directions == 2 else 'uni'}_"
                            f"{'varying' if varying else 'equal'}")
                    spec = {"cell": cell, "layers": layers, "directions": directions, "O": O,
                            "lengths": VARYING_LENGTHS if varying else [T] * B,
                            "loss": "mse", "readout": "every_step"}
                    cell_text = {"rnn": "torch.nn.RNN(nonlinearity='tanh')",
                                 "lstm": "torch.nn.LSTM", "gru": "torch.nn.GRU"}[cell]
                    description = GRID_DESCRIPTION.format(
                        cell_text=cell_text, layers=layers,
                        direction_text="bidirectional" if directions == 2 else "unidirectional",
                        length_text=("varying lengths via pack_padded_sequence(enforce_sorted="
                                     "False)") if varying else "all sequences of length T")
                    yield stem, spec, 3000 + index, description


def classification():
    yield ("lstm_classify_per_step",
           {"cell": "lstm", "layers": 1, "directions": 1, "O": CLASSES, "lengths": VARYING_LENGTHS,
            "loss": "cross_entropy", "readout": "every_step"},
           3101,
           "torch.nn.LSTM, 1 layer, unidirectional, varying lengths via pack_padded_sequence("
           "enforce_sorted=False); head nn.Linear(H, O) gives O class logits at every step. "
           "loss = nn.CrossEntropyLoss() over the valid (t, b) positions only (softmax cross-"
           "entropy, mean over valid steps). target_class [T, B] holds class indices as floats; "
           "at padded steps it holds a valid but meaningless class that must be ignored. At padded "
           "steps output is zero and prediction is head.bias.")
    yield ("lstm_classify_last",
           {"cell": "lstm", "layers": 1, "directions": 1, "O": CLASSES, "lengths": VARYING_LENGTHS,
            "loss": "cross_entropy", "readout": "last_step"},
           3102,
           "torch.nn.LSTM, 1 layer, unidirectional, varying lengths via pack_padded_sequence("
           "enforce_sorted=False); many-to-one: head nn.Linear(H, O) applied to each sequence's "
           "output at its own last valid step, prediction [B, O] logits. loss = nn.CrossEntropyLoss() "
           "over the batch (mean of B terms), target_class [B] class indices as floats.")
    yield ("gru_embedding_per_step",
           {"cell": "gru", "layers": 1, "directions": 1, "O": VOCABULARY, "lengths": [T] * B,
            "loss": "cross_entropy", "readout": "every_step", "vocabulary": VOCABULARY},
           3103,
           "Token ids (tokens [T, B], as floats) through nn.Embedding(V, I) (embedding.weight "
           "[V, I]), then torch.nn.GRU, 1 layer, unidirectional, all sequences of length T; head "
           "nn.Linear(H, O) gives O = V class logits at every step. loss = nn.CrossEntropyLoss() "
           "over all T*B steps. input is the embedded sequence embedding.weight[tokens] and "
           "grad.input the gradient with respect to it; grad.embedding.weight is grad.input "
           "summed per token id.")


# --------------------------------------------------------------------------------------------
# Jordan network

JORDAN_NAMES = ["rnn.weight_ih_l0", "rnn.weight_yh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0",
                "head.weight", "head.bias"]


def jordan_forward(w_ih, w_yh, b_ih, b_hh, w_head, b_head, x, y0, target, teacher_forcing):
    previous = y0
    states, predictions = [], []
    for t in range(x.shape[0]):
        h = torch.tanh(x[t] @ w_ih.T + b_ih + previous @ w_yh.T + b_hh)
        y = h @ w_head.T + b_head
        states.append(h)
        predictions.append(y)
        previous = target[t] if teacher_forcing else y
    output, prediction = torch.stack(states), torch.stack(predictions)
    loss = ((prediction - target) ** 2).mean()
    return output, prediction, loss


def make_jordan_case(seed):
    g = torch.Generator().manual_seed(seed)
    params = {
        "rnn.weight_ih_l0": uniform(g, (H, I), -0.5, 0.5),
        "rnn.weight_yh_l0": uniform(g, (H, O), -0.5, 0.5),
        "rnn.bias_ih_l0": nonzero_uniform(g, (H,), 0.05, 0.5),
        "rnn.bias_hh_l0": nonzero_uniform(g, (H,), 0.05, 0.5),
        "head.weight": uniform(g, (O, H), -0.5, 0.5),
        "head.bias": nonzero_uniform(g, (O,), 0.05, 0.5),
    }
    data = {"input": uniform(g, (T, B, I), -1.0, 1.0),
            "y0": nonzero_uniform(g, (B, O), 0.1, 0.6),
            "target": uniform(g, (T, B, O), -1.0, 1.0)}
    return params, data


def run_jordan(params, data, teacher_forcing):
    leaves = {n: params[n].clone().requires_grad_(True) for n in JORDAN_NAMES}
    x = data["input"].clone().requires_grad_(True)
    y0 = data["y0"].clone().requires_grad_(True)
    output, prediction, loss = jordan_forward(*(leaves[n] for n in JORDAN_NAMES), x, y0,
                                              data["target"], teacher_forcing)
    loss.backward()
    result = {"output": output, "prediction": prediction, "h_n": output[-1:], "loss": loss}
    result = {k: v.detach().clone() for k, v in result.items()}
    for n in JORDAN_NAMES:
        result["grad." + n] = leaves[n].grad.detach().clone()
    result["grad.y0"] = y0.grad.detach().clone()
    result["grad.input"] = x.grad.detach().clone()
    return result


def verify_jordan(params, data, teacher_forcing, label):
    args = tuple(params[n].clone().requires_grad_(True) for n in JORDAN_NAMES) + (
        data["input"].clone().requires_grad_(True), data["y0"].clone().requires_grad_(True))

    def loss_only(*a):
        return jordan_forward(*a, data["target"], teacher_forcing)[2]

    if not torch.autograd.gradcheck(loss_only, args, eps=1e-6, atol=1e-8, rtol=1e-6):
        sys.exit(f"{label}: gradcheck failed")
    if not teacher_forcing:
        return
    # With teacher forcing the fed-back values are data, so the network is an Elman RNN on
    # [x_t; y_(t-1)] with W_hh = 0: compare with nn.RNN, forward and gradients.
    rnn = nn.RNN(I + O, H)
    head = nn.Linear(H, O)
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(torch.cat([params["rnn.weight_ih_l0"], params["rnn.weight_yh_l0"]], 1))
        rnn.weight_hh_l0.zero_()
        rnn.bias_ih_l0.copy_(params["rnn.bias_ih_l0"])
        rnn.bias_hh_l0.copy_(params["rnn.bias_hh_l0"])
        head.weight.copy_(params["head.weight"])
        head.bias.copy_(params["head.bias"])
    x = data["input"].clone().requires_grad_(True)
    y0 = data["y0"].clone().requires_grad_(True)
    fed_back = torch.cat([y0.unsqueeze(0), data["target"][:-1]])
    output, h_n = rnn(torch.cat([x, fed_back], 2), torch.zeros(1, B, H))
    prediction = head(output)
    loss = nn.MSELoss()(prediction, data["target"])
    loss.backward()
    reference = {"output": output, "prediction": prediction, "h_n": h_n, "loss": loss}
    reference = {k: v.detach() for k, v in reference.items()}
    reference.update({
        "grad.rnn.weight_ih_l0": rnn.weight_ih_l0.grad[:, :I], "grad.rnn.weight_yh_l0": rnn.weight_ih_l0.grad[:, I:],
        "grad.rnn.bias_ih_l0": rnn.bias_ih_l0.grad, "grad.rnn.bias_hh_l0": rnn.bias_hh_l0.grad,
        "grad.head.weight": head.weight.grad, "grad.head.bias": head.bias.grad,
        "grad.y0": y0.grad, "grad.input": x.grad})
    assert_close(f"{label}: loop vs nn.RNN on [x; y_prev]", reference, run_jordan(params, data, True))


def build_jordan(stem, teacher_forcing, seed):
    params, data = make_jordan_case(seed)
    verify_jordan(params, data, teacher_forcing, stem)
    result = run_jordan(params, data, teacher_forcing)
    largest = result["output"].abs().max().item()
    assert largest < 0.99, f"{stem}: |output| up to {largest}, too close to saturation"
    feedback = ("teacher forcing: y_(t-1) is the TRUE previous target, target[t-1]"
                if teacher_forcing else
                "free running: y_(t-1) is the model's own previous prediction (the gradient flows "
                "through it)")
    description = (
        "Jordan (output-recurrent) network by an explicit time loop: h_t = tanh(W_ih x_t + b_ih "
        "+ W_yh y_(t-1) + b_hh), prediction_t = head.weight h_t + head.bias, with " + feedback +
        "; y_(-1) = y0 [B, O]. loss = nn.MSELoss() (mean over all T*B*O elements). output holds "
        "h_t, h_n the last h_t. Checked by torch.autograd.gradcheck" +
        (" and against nn.RNN on [x_t; y_(t-1)] with weight_hh = 0 (to 1e-12)" if teacher_forcing else "") +
        f". PyTorch {torch.__version__}, float64, seed {seed}; all lengths T. Time-major tensors, "
        "row-major data. Generated by scripts/reference/recurrent_golden.py.")
    tensors = {"input": data["input"], "lengths": torch.full((B,), float(T)), "y0": data["y0"],
               "target": data["target"]}
    tensors.update(params)
    for name in ("output", "prediction", "h_n", "loss"):
        tensors[name] = result[name]
    for name in JORDAN_NAMES:
        tensors["grad." + name] = result["grad." + name]
    tensors["grad.y0"] = result["grad.y0"]
    tensors["grad.input"] = result["grad.input"]
    header = {"cell": "jordan", "activation": "tanh", "layers": 1, "bidirectional": False,
              "loss": "mse", "readout": "every_step",
              "feedback": "teacher_forcing" if teacher_forcing else "free_running"}
    path = write_fixture(stem, description, header, {"T": T, "B": B, "I": I, "H": H, "O": O}, tensors)
    print(f"{path}: loss {result['loss'].item():.17g}, max|output| {largest:.3f}")


# --------------------------------------------------------------------------------------------
# Output


def tensor_entry(t):
    t = t.detach().contiguous()
    data = [float(v) for v in t.reshape(-1).tolist()]
    assert all(math.isfinite(v) for v in data)
    return {"shape": list(t.shape), "data": data}


def write_fixture(stem, description, header, sizes, tensors):
    path = os.path.normpath(os.path.join(OUT_DIR, f"{stem}.json"))
    # One tensor per line keeps diffs readable; json.dumps of a Python float is its shortest
    # round-trip repr, so the float64 values are stored exactly.
    lines = ["{", f'  "description": {json.dumps(description)},']
    lines += [f"  {json.dumps(key)}: {json.dumps(value)}," for key, value in header.items()]
    lines += [f'  "sizes": {json.dumps(sizes)},', '  "tensors": {']
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


def main():
    cases = list(grid()) + list(classification())
    for stem, spec, seed, description in cases:
        build_recurrent(stem, spec, seed, description)
    build_jordan("jordan_teacher_forcing", True, 3201)
    build_jordan("jordan_free_running", False, 3202)


if __name__ == "__main__":
    main()
