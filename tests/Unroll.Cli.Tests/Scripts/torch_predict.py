"""Loads an Unroll model file into torch.nn.RNN + nn.Linear and predicts a long-format CSV.

Usage: torch_predict.py MODEL.safetensors IN.csv OUT.csv
The reader uses only struct and json (the loader shown in docs/formats.md); load_state_dict is
strict, so a successful load proves the names and shapes are PyTorch's.
"""
import csv
import json
import struct
import sys

import torch


def read_safetensors(path):
    with open(path, "rb") as f:
        (header_length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(header_length).decode("utf-8"))
        data = f.read()
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        code, dtype = {"F32": ("f", torch.float32), "F64": ("d", torch.float64)}[info["dtype"]]
        count = (end - begin) // struct.calcsize(code)
        values = struct.unpack("<%d%s" % (count, code), data[begin:end])
        tensors[name] = torch.tensor(values, dtype=dtype).reshape(info["shape"])
    return tensors, metadata


def main(model_path, input_path, output_path):
    tensors, metadata = read_safetensors(model_path)
    config = json.loads(metadata["unroll.config"])
    input_size = tensors["rnn.weight_ih_l0"].shape[1]
    output_size = tensors["head.weight"].shape[0]
    kind = config.get("architecture", "rnn")
    extra = {"nonlinearity": config["activation"]} if kind == "rnn" else {}
    module = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}[kind]
    hidden_size = tensors["rnn.weight_hh_l0"].shape[1]
    rnn = module(input_size, hidden_size, num_layers=config.get("layers", 1),
                 bidirectional=config.get("bidirectional", False), batch_first=True, **extra)
    head = torch.nn.Linear(hidden_size, output_size)
    rnn.load_state_dict({k[len("rnn."):]: v for k, v in tensors.items() if k.startswith("rnn.")})
    head.load_state_dict({k[len("head."):]: v for k, v in tensors.items() if k.startswith("head.")})

    with open(input_path, newline="") as f:
        rows = list(csv.DictReader(f))
    sequences = {}
    for row in rows:
        sequences.setdefault(row["seq"], []).append([float(row[name]) for name in config["inputNames"]])

    with open(output_path, "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["seq", "t"] + config["outputNames"])
        with torch.no_grad():
            for seq, steps in sequences.items():
                y = head(rnn(torch.tensor([steps]))[0])[0]
                for t, values in enumerate(y.tolist()):
                    out.writerow([seq, t] + [repr(v) for v in values])


if __name__ == "__main__":
    main(*sys.argv[1:])
