"""Checks exported ONNX files with onnx.checker (python3-onnx), for OnnxExportTests.

Usage: python3 onnx_check.py MODEL.onnx ...
Prints one line per file: "ok<TAB>path" or "error<TAB>path<TAB>message"; exits 0 when all pass.
full_check=True also runs strict shape inference, so a declared output shape that the graph
does not produce is an error.
"""
import sys

import onnx

failures = 0
for path in sys.argv[1:]:
    try:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        print("ok\t%s" % path)
    except Exception as error:  # noqa: BLE001 - every failure is reported with its file
        failures += 1
        print("error\t%s\t%s" % (path, str(error).replace("\n", " ")))
sys.exit(1 if failures else 0)
