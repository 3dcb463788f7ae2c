"""Keras-layout recurrent weights in an .npz and the outputs of Keras' equations, in plain numpy.

Usage: keras_reference.py ROOT KIND-LAYERS-BIDIRECTIONAL...  (e.g. ROOT lstm-2-1 gru-1-0)
KIND is simple_rnn, lstm or gru (reset_after=True, the Keras 2 default). Writes, for each case, OUT_DIR = ROOT/CASE/model.npz
with the keys layer{k}/kernel [in, G*H], layer{k}/recurrent_kernel [H, G*H], layer{k}/bias ([G*H],
or [2, G*H] for the GRU), layer{k}_backward/... for Bidirectional layers, dense/kernel [D*H, O] and
dense/bias [O]; OUT_DIR/in.csv and OUT_DIR/expected.csv. Keras is not needed: the forward pass
below transcribes keras.layers.SimpleRNNCell, LSTMCell and GRUCell(reset_after=True) and
Bidirectional(merge_mode="concat"), gate orders i,f,c,o and z,r,h.
"""
import csv
import os
import sys

import numpy as np

INPUT, HIDDEN, OUTPUT = 3, 5, 2
GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def run_layer(kind, weights, xs):
    kernel, recurrent, bias = (w.astype(np.float64) for w in weights)
    h = np.zeros(HIDDEN)
    c = np.zeros(HIDDEN)
    outputs = []
    for x in xs:
        if kind == "simple_rnn":
            h = np.tanh(x @ kernel + h @ recurrent + bias)
        elif kind == "lstm":
            z = x @ kernel + h @ recurrent + bias
            i, f, g, o = np.split(z, 4)
            c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
            h = sigmoid(o) * np.tanh(c)
        else:
            x_z, x_r, x_h = np.split(x @ kernel + bias[0], 3)
            r_z, r_r, r_h = np.split(h @ recurrent + bias[1], 3)
            z = sigmoid(x_z + r_z)
            r = sigmoid(x_r + r_r)
            candidate = np.tanh(x_h + r * r_h)
            h = z * h + (1 - z) * candidate
        outputs.append(h)
    return np.array(outputs)


def main(kind, layers, bidirectional, out_dir):
    rng = np.random.default_rng(11)
    layers, directions = int(layers), 2 if bidirectional == "1" else 1
    gates = GATES[kind]
    arrays = {}
    for layer in range(layers):
        width = INPUT if layer == 0 else directions * HIDDEN
        for key in ["layer%d" % layer] + (["layer%d_backward" % layer] if directions == 2 else []):
            arrays[key + "/kernel"] = rng.uniform(-0.5, 0.5, (width, gates * HIDDEN)).astype("<f4")
            arrays[key + "/recurrent_kernel"] = rng.uniform(-0.5, 0.5, (HIDDEN, gates * HIDDEN)).astype("<f4")
            shape = (2, gates * HIDDEN) if kind == "gru" else (gates * HIDDEN,)
            arrays[key + "/bias"] = rng.uniform(-0.5, 0.5, shape).astype("<f4")
    arrays["dense/kernel"] = rng.uniform(-0.5, 0.5, (directions * HIDDEN, OUTPUT)).astype("<f4")
    arrays["dense/bias"] = rng.uniform(-0.5, 0.5, (OUTPUT,)).astype("<f4")
    np.savez(os.path.join(out_dir, "model.npz"), **arrays)

    def weights(key):
        return arrays[key + "/kernel"], arrays[key + "/recurrent_kernel"], arrays[key + "/bias"]

    sequences = {"a": rng.normal(size=(6, INPUT)), "b": rng.normal(size=(3, INPUT))}
    with open(os.path.join(out_dir, "in.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seq", "t", "input0", "input1", "input2"])
        for seq, xs in sequences.items():
            xs[:] = xs.astype(np.float32)  # the CSV's values, exactly as Unroll will read them
            for t, row in enumerate(xs):
                out.writerow([seq, t] + [repr(float(v)) for v in row])
    with open(os.path.join(out_dir, "expected.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seq", "t", "output0", "output1"])
        for seq, xs in sequences.items():
            hs = xs
            for layer in range(layers):
                forward = run_layer(kind, weights("layer%d" % layer), hs)
                if directions == 2:
                    backward = run_layer(kind, weights("layer%d_backward" % layer), hs[::-1])[::-1]
                    hs = np.concatenate([forward, backward], axis=1)
                else:
                    hs = forward
            ys = hs @ arrays["dense/kernel"].astype(np.float64) + arrays["dense/bias"]
            for t, row in enumerate(ys):
                out.writerow([seq, t] + [repr(float(v)) for v in row])


if __name__ == "__main__":
    # One process for every case: importing the framework is the slow part.
    for case in sys.argv[2:]:
        directory = os.path.join(sys.argv[1], case)
        os.makedirs(directory, exist_ok=True)
        main(*case.rsplit("-", 2), directory)
