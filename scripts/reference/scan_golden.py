#!/usr/bin/python3
"""Golden fixtures for Unroll's scan-trained layers: the Linear Recurrent Unit (Orvieto et al. 2023,
arXiv:2303.06349) with its GELU + GLU output, minGRU and minLSTM (Feng et al. 2024, arXiv:2410.01201),
stacked, bidirectional, with varying lengths, computed with PyTorch in float64.

No torch module exists for these cells, so each is written here from its equations, the LRU in
complex tensors (torch.complex128), the min-cells as the plain sequential loop:

    lru      lambda = exp(-exp(nu_log) + i exp(theta_log)),  gamma = exp(gamma_log)      [N], N = H/2
             v_t = lambda * v_{t-1} + gamma * ((B_re + i B_im) x_t)                       v in C^N
             y_t = Re((C_re + i C_im) v_t) + D x_t
             z_t = gelu(y_t, approximate="tanh")
             [a; g] = weight_glu z_t + bias_glu,  out_t = a * sigmoid(g)
             state (h0, h_n) = [Re v; Im v], H reals
    mingru   [g_z; h~] = weight_ih x_t + bias_ih,  z = sigmoid(g_z)
             h_t = (1 - z) * h_{t-1} + z * h~
    minlstm  [g_f; g_i; h~] = weight_ih x_t + bias_ih,  f = sigmoid(g_f),  i = sigmoid(g_i)
             h_t = f / (f + i) * h_{t-1} + i / (f + i) * h~

A padded step (t >= length) keeps the state and outputs zero; the reverse direction starts at
each sequence's own last step. Layer l > 0 reads [forward; reverse] outputs. Head nn.Linear at
every step; loss = sum over valid (t, b, o) of (prediction - target)^2 / (n_valid_steps * O).

Before writing anything the script checks, to 1e-12:
  * the batched, masked run against each sequence run alone (batch of one, its own length):
    output, h_n, and every gradient (the per-sequence gradients summed);
  * the LRU in complex tensors against the same LRU in explicit real and imaginary parts;
  * the min-cells' loop against the closed form of the linear recurrence,
    h_t = A_t h_0 + sum_{k<=t} (A_t / A_k) b_k with A_t = prod_{j<=t} a_j;
  * every cell by torch.autograd.gradcheck (finite differences) on a small case.

Run by hand:  /usr/bin/python3 scripts/reference/scan_golden.py
"""

import json
import math
import os

import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)

T, B, I, H, O = 7, 3, 3, 4, 2
N = H // 2
VARYING_LENGTHS = [4, 7, 1]
TOLERANCE = 1e-12
CELLS = ("lru", "mingru", "minlstm")
GATES = {"mingru": 2, "minlstm": 3}

OUT_DIR = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "Unroll.Tests", "Golden"
)


def uniform(generator, shape, low, high):
    return low + (high - low) * torch.rand(shape, generator=generator, dtype=torch.float64)


def nonzero_uniform(generator, shape, low, high):
    magnitude = uniform(generator, shape, low, high)
    sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0)
    return sign * magnitude


# --------------------------------------------------------------------------------------------
# Parameters


def direction_layout(cell, input_size, suffix):
    if cell == "lru":
        return [(f"rnn.nu_log{suffix}", [N]), (f"rnn.theta_log{suffix}", [N]), (f"rnn.gamma_log{suffix}", [N]),
                (f"rnn.B_re{suffix}", [N, input_size]), (f"rnn.B_im{suffix}", [N, input_size]),
                (f"rnn.D{suffix}", [H, input_size]), (f"rnn.C_re{suffix}", [H, N]), (f"rnn.C_im{suffix}", [H, N]),
                (f"rnn.weight_glu{suffix}", [2 * H, H]), (f"rnn.bias_glu{suffix}", [2 * H])]
    return [(f"rnn.weight_ih{suffix}", [GATES[cell] * H, input_size]), (f"rnn.bias_ih{suffix}", [GATES[cell] * H])]


def layout(cell, layers, directions):
    names = []
    for layer in range(layers):
        input_size = I if layer == 0 else directions * H
        for d in range(directions):
            names += direction_layout(cell, input_size, f"_l{layer}" + ("_reverse" if d == 1 else ""))
    return names + [("head.weight", [O, directions * H]), ("head.bias", [O])]


def make_parameters(generator, cell, layers, directions):
    params = {}
    for name, shape in layout(cell, layers, directions):
        base = name.split(".")[1].rsplit("_l", 1)[0]
        if base == "nu_log":
            # |lambda| uniform on the ring 0.5 <= |lambda| <= 0.95 (in |lambda|^2), as the LRU's initialisation.
            u = uniform(generator, shape, 0.0, 1.0)
            params[name] = torch.log(-0.5 * torch.log(u * (0.95 ** 2 - 0.5 ** 2) + 0.5 ** 2))
        elif base == "theta_log":
            params[name] = torch.log(uniform(generator, shape, 0.05, math.pi))
        elif base == "gamma_log":
            # Near the normalisation log sqrt(1 - |lambda|^2), but its own value.
            params[name] = uniform(generator, shape, -1.0, 0.0)
        elif "bias" in base or name == "head.bias":
            params[name] = nonzero_uniform(generator, shape, 0.05, 0.5)
        else:
            params[name] = uniform(generator, shape, -0.8, 0.8)
    return params


# --------------------------------------------------------------------------------------------
# Cells, one direction over [T, B, in] with lengths; returns outputs [T, B, H] and the final state [B, H]


def run_lru(p, suffix, x, lengths, h0, complex_arithmetic=True):
    steps, batch = x.shape[0], x.shape[1]
    nu, theta, gamma = p[f"rnn.nu_log{suffix}"], p[f"rnn.theta_log{suffix}"], torch.exp(p[f"rnn.gamma_log{suffix}"])
    b_re, b_im, d = p[f"rnn.B_re{suffix}"], p[f"rnn.B_im{suffix}"], p[f"rnn.D{suffix}"]
    c_re, c_im = p[f"rnn.C_re{suffix}"], p[f"rnn.C_im{suffix}"]
    w_glu, b_glu = p[f"rnn.weight_glu{suffix}"], p[f"rnn.bias_glu{suffix}"]
    reverse = suffix.endswith("_reverse")
    outputs = [None] * steps
    if complex_arithmetic:
        lam = torch.exp(torch.complex(-torch.exp(nu), torch.exp(theta)))
        b_c, c_c = torch.complex(b_re, b_im), torch.complex(c_re, c_im)
        v = torch.complex(h0[:, :N], h0[:, N:])
    else:
        modulus, phase = torch.exp(-torch.exp(nu)), torch.exp(theta)
        lr, li = modulus * torch.cos(phase), modulus * torch.sin(phase)
        vr, vi = h0[:, :N], h0[:, N:]
    for t in (reversed(range(steps)) if reverse else range(steps)):
        active = (t < torch.tensor(lengths)).unsqueeze(1)
        if complex_arithmetic:
            v = torch.where(active, lam * v + gamma * (x[t].to(torch.complex128) @ b_c.T), v)
            y = (v @ c_c.T).real + x[t] @ d.T
        else:
            pr, pi = x[t] @ b_re.T, x[t] @ b_im.T
            vr, vi = (torch.where(active, lr * vr - li * vi + gamma * pr, vr),
                      torch.where(active, li * vr + lr * vi + gamma * pi, vi))
            y = vr @ c_re.T - vi @ c_im.T + x[t] @ d.T
        a = F.gelu(y, approximate="tanh") @ w_glu.T + b_glu
        out = a[:, :H] * torch.sigmoid(a[:, H:])
        outputs[t] = torch.where(active, out, torch.zeros_like(out))
    final = torch.cat([v.real, v.imag], 1) if complex_arithmetic else torch.cat([vr, vi], 1)
    return torch.stack(outputs), final


def min_coefficients(cell, p, suffix, x):
    """a_t and b_t of h_t = a_t h_{t-1} + b_t for every step, [T, B, H] each."""
    g = x @ p[f"rnn.weight_ih{suffix}"].T + p[f"rnn.bias_ih{suffix}"]
    if cell == "mingru":
        z, candidate = torch.sigmoid(g[..., :H]), g[..., H:]
        return 1 - z, z * candidate
    f, i, candidate = torch.sigmoid(g[..., :H]), torch.sigmoid(g[..., H:2 * H]), g[..., 2 * H:]
    return f / (f + i), i / (f + i) * candidate


def run_min(cell, p, suffix, x, lengths, h0):
    a, b = min_coefficients(cell, p, suffix, x)
    reverse = suffix.endswith("_reverse")
    h, outputs = h0, [None] * x.shape[0]
    for t in (reversed(range(x.shape[0])) if reverse else range(x.shape[0])):
        active = (t < torch.tensor(lengths)).unsqueeze(1)
        h = torch.where(active, a[t] * h + b[t], h)
        outputs[t] = torch.where(active, h, torch.zeros_like(h))
    return torch.stack(outputs), h


def run_direction(cell, p, suffix, x, lengths, h0):
    if cell == "lru":
        return run_lru(p, suffix, x, lengths, h0)
    return run_min(cell, p, suffix, x, lengths, h0)


def run_model(cell, p, layers, directions, x, lengths, h0, direction_runner=None):
    runner = direction_runner or (lambda suffix, inp, h: run_direction(cell, p, suffix, inp, lengths, h))
    layer_input, finals = x, []
    for layer in range(layers):
        outs = []
        for d in range(directions):
            suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
            out, final = runner(suffix, layer_input, h0[layer * directions + d])
            outs.append(out)
            finals.append(final)
        layer_input = torch.cat(outs, 2)
    prediction = layer_input @ p["head.weight"].T + p["head.bias"]
    return layer_input, torch.stack(finals), prediction


def masked_sum_of_squares(prediction, target, lengths):
    mask = (torch.arange(prediction.shape[0]).unsqueeze(1) < torch.tensor(lengths).unsqueeze(0)).unsqueeze(2)
    return torch.where(mask, (prediction - target) ** 2, torch.zeros_like(prediction)).sum()


# --------------------------------------------------------------------------------------------
# Checks


def assert_close(label, reference, other):
    error = (reference - other).abs().max().item() if reference.numel() else 0.0
    if not error <= TOLERANCE:
        raise SystemExit(f"check failed: {label}: max difference {error:.3e} > {TOLERANCE:.0e}")


def evaluate(cell, params, layers, directions, x, target, lengths, h0, runner=None):
    leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
    x_leaf, h0_leaf = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
    output, h_n, prediction = run_model(cell, leaves, layers, directions, x_leaf, lengths, h0_leaf,
                                        None if runner is None else runner(leaves, lengths))
    loss = masked_sum_of_squares(prediction, target, lengths) / (sum(lengths) * O)
    loss.backward()
    grads = {name: leaf.grad for name, leaf in leaves.items()}
    grads["input"], grads["h0"] = x_leaf.grad, h0_leaf.grad
    return output.detach(), h_n.detach(), prediction.detach(), loss.detach(), grads


def check_alone(cell, params, layers, directions, x, target, lengths, h0, batched):
    """Each sequence alone, its own length, no padding: outputs, h_n and summed gradients match."""
    output, h_n, _, _, grads = batched
    summed = {name: torch.zeros_like(g) for name, g in grads.items() if name not in ("input", "h0")}
    for b, length in enumerate(lengths):
        leaves = {name: value.clone().requires_grad_(True) for name, value in params.items()}
        xb = x[:length, b:b + 1].clone().requires_grad_(True)
        h0b = h0[:, b:b + 1].clone().requires_grad_(True)
        out_b, hn_b, pred_b = run_model(cell, leaves, layers, directions, xb, [length], h0b)
        loss_b = ((pred_b - target[:length, b:b + 1]) ** 2).sum() / (sum(lengths) * O)
        loss_b.backward()
        assert_close(f"{cell} output of sequence {b} alone", output[:length, b:b + 1], out_b.detach())
        assert_close(f"{cell} h_n of sequence {b} alone", h_n[:, b:b + 1], hn_b.detach())
        assert_close(f"{cell} grad.input of sequence {b} alone", grads["input"][:length, b:b + 1], xb.grad)
        assert_close(f"{cell} grad.h0 of sequence {b} alone", grads["h0"][:, b:b + 1], h0b.grad)
        for name in summed:
            summed[name] += leaves[name].grad
    for name, value in summed.items():
        assert_close(f"{cell} grad.{name}, sequences alone and summed", grads[name], value)


def check_lru_real_arithmetic(params, layers, directions, x, target, lengths, h0, batched):
    def runner(leaves, lens):
        return lambda suffix, inp, h: run_lru(leaves, suffix, inp, lens, h, complex_arithmetic=False)
    real = evaluate("lru", params, layers, directions, x, target, lengths, h0, runner)
    for label, a, b in (("output", batched[0], real[0]), ("h_n", batched[1], real[1]), ("loss", batched[3], real[3])):
        assert_close(f"lru {label}, complex against real arithmetic", a, b)
    for name in batched[4]:
        assert_close(f"lru grad.{name}, complex against real arithmetic", batched[4][name], real[4][name])


def check_closed_form(cell, generator):
    """The loop against h_t = A_t h0 + sum_k (A_t / A_k) b_k, one direction, all lengths T."""
    p = make_parameters(generator, cell, 1, 1)
    x, h0 = uniform(generator, (T, B, I), -1, 1), uniform(generator, (B, H), -0.6, 0.6)
    a, b = min_coefficients(cell, p, "_l0", x)
    products = torch.cumprod(a, 0)
    closed = torch.stack([products[t] * h0 + sum(products[t] / products[k] * b[k] for k in range(t + 1)) for t in range(T)])
    loop, _ = run_min(cell, p, "_l0", x, [T] * B, h0)
    assert_close(f"{cell} loop against the closed form", closed, loop)


def check_gradcheck(cell, generator):
    p = make_parameters(generator, cell, 1, 2)
    names = list(p)
    x, h0 = uniform(generator, (4, 2, I), -1, 1), uniform(generator, (2, 2, H), -0.6, 0.6)

    def function(*tensors):
        leaves = dict(zip(names, tensors[:len(names)]))
        _, h_n, prediction = run_model(cell, leaves, 1, 2, tensors[-2], [4, 2], tensors[-1])
        return prediction, h_n

    inputs = tuple(p[name].clone().requires_grad_(True) for name in names) + (x.requires_grad_(True), h0.requires_grad_(True))
    if not torch.autograd.gradcheck(function, inputs, eps=1e-6, atol=1e-8):
        raise SystemExit(f"check failed: gradcheck of {cell}")


# --------------------------------------------------------------------------------------------
# Fixtures


def tensor_entry(t):
    return {"shape": list(t.shape), "data": [float(v) for v in t.detach().reshape(-1).tolist()]}


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


def build(cell, layers, bidirectional, varying, seed):
    generator = torch.Generator().manual_seed(seed)
    directions = 2 if bidirectional else 1
    lengths = VARYING_LENGTHS if varying else [T] * B
    params = make_parameters(generator, cell, layers, directions)
    valid = (torch.arange(T).unsqueeze(1) < torch.tensor(lengths).unsqueeze(0)).unsqueeze(2)
    # Padded steps hold junk of magnitude 2-4, to show that they are ignored.
    x = torch.where(valid, uniform(generator, (T, B, I), -1, 1), nonzero_uniform(generator, (T, B, I), 2, 4))
    target = torch.where(valid, uniform(generator, (T, B, O), -1, 1), nonzero_uniform(generator, (T, B, O), 2, 4))
    h0 = nonzero_uniform(generator, (layers * directions, B, H), 0.1, 0.6)

    batched = evaluate(cell, params, layers, directions, x, target, lengths, h0)
    check_alone(cell, params, layers, directions, x, target, lengths, h0, batched)
    if cell == "lru":
        check_lru_real_arithmetic(params, layers, directions, x, target, lengths, h0, batched)
    output, h_n, prediction, loss, grads = batched
    if (output.abs() * (~valid)).max().item() != 0 or (grads["input"].abs() * (~valid)).max().item() != 0:
        raise SystemExit(f"check failed: {cell}: non-zero output or input gradient at a padded step")

    tensors = {"input": x, "lengths": torch.tensor(lengths, dtype=torch.float64), "h0": h0, "target": target}
    tensors.update(params)
    tensors.update({"output": output, "prediction": prediction, "h_n": h_n, "loss": loss})
    for name in params:
        tensors[f"grad.{name}"] = grads[name]
    tensors["grad.h0"], tensors["grad.input"] = grads["h0"], grads["input"]
    stem = f"{cell}_l{layers}_{'bi' if bidirectional else 'uni'}_{'varying' if varying else 'equal'}"
    description = (f"scripts/reference/scan_golden.py: {cell}, {layers} layer(s), "
                   f"{'bidirectional' if bidirectional else 'unidirectional'}, lengths {lengths}; "
                   f"PyTorch {torch.__version__}, float64, seed {seed}")
    header = {"cell": cell, "layers": layers, "bidirectional": bidirectional, "loss": "mse", "readout": "every_step"}
    return write_fixture(stem, description, header, {"T": T, "B": B, "I": I, "H": H, "O": O}, tensors)


CASES = [(1, False, False), (1, False, True), (2, True, True), (2, False, False)]


def main():
    checks = torch.Generator().manual_seed(17)
    for cell in CELLS:
        if cell != "lru":
            check_closed_form(cell, checks)
        check_gradcheck(cell, checks)
    written = []
    for index, cell in enumerate(CELLS):
        for case, (layers, bidirectional, varying) in enumerate(CASES):
            written.append(build(cell, layers, bidirectional, varying, 7000 + 10 * index + case))
    for path in written:
        print(path)


if __name__ == "__main__":
    main()
