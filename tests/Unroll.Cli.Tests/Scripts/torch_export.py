"""Builds a torch.nn.RNN/LSTM/GRU + nn.Linear, saves its state_dict as safetensors and its outputs.

Usage: torch_export.py ROOT KIND-LAYERS-BIDIRECTIONAL...  (e.g. ROOT lstm-2-1 gru-1-0)
KIND is rnn-tanh, rnn-relu, lstm or gru; BIDIRECTIONAL is 0 or 1. Writes, for each case, OUT_DIR = ROOT/CASE/model.safetensors
(names "<kind>.weight_ih_l0", ..., "fc.weight", "fc.bias": a module prefix and a head that is not
called "head"), OUT_DIR/in.csv (seq,t,input0..2) and OUT_DIR/expected.csv (seq,t,output0..1), each
sequence run on its own from a zero state. The file is written with safetensors.torch.save_file
when the package is installed, else with struct and json in the same layout.
"""
import csv
import json
import os
import struct
import sys

import torch


class Net(torch.nn.Module):
    def __init__(self, kind, layers, bidirectional):
        super().__init__()
        cell = kind.split("-")[0]
        extra = {"nonlinearity": kind.split("-")[1]} if cell == "rnn" else {}
        module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[cell](
            3, 5, num_layers=layers, bidirectional=bidirectional, batch_first=True, **extra)
        setattr(self, cell, module)
        self.recurrent = module
        self.fc = torch.nn.Linear(5 * (2 if bidirectional else 1), 2)

    def forward(self, x):
        return self.fc(self.recurrent(x)[0])


def save_safetensors(state, path):
    try:
        from safetensors.torch import save_file
        save_file({k: v.contiguous() for k, v in state.items()}, path)
        return
    except ImportError:
        pass
    header, offset, blobs = {}, 0, []
    for name, tensor in state.items():
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def main(kind, layers, bidirectional, out_dir):
    torch.manual_seed(7)
    net = Net(kind, int(layers), bidirectional == "1")
    # The registered module appears once in the state_dict under its cell name ("recurrent" is an alias).
    state = {k: v for k, v in net.state_dict().items() if not k.startswith("recurrent.")}
    save_safetensors(state, os.path.join(out_dir, "model.safetensors"))
    sequences = {"a": torch.randn(6, 3), "b": torch.randn(3, 3)}
    with open(os.path.join(out_dir, "in.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seq", "t", "input0", "input1", "input2"])
        for seq, x in sequences.items():
            for t, row in enumerate(x.tolist()):
                out.writerow([seq, t] + [repr(v) for v in row])
    with open(os.path.join(out_dir, "expected.csv"), "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seq", "t", "output0", "output1"])
        with torch.no_grad():
            for seq, x in sequences.items():
                for t, row in enumerate(net(x.unsqueeze(0))[0].tolist()):
                    out.writerow([seq, t] + [repr(v) for v in row])


if __name__ == "__main__":
    # One process for every case: importing the framework is the slow part.
    for case in sys.argv[2:]:
        directory = os.path.join(sys.argv[1], case)
        os.makedirs(directory, exist_ok=True)
        main(*case.rsplit("-", 2), directory)
