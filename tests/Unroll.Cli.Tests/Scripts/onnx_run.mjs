// Runs exported ONNX models in ONNX Runtime (the onnxruntime-node package) for OnnxExportTests.
// Usage: node onnx_run.mjs RUNTIME_DIR CASES.json RESULTS.json
//   RUNTIME_DIR  a folder whose node_modules holds onnxruntime-node (.ci/run installs it in ~/.cache/unroll-onnx)
//   CASES.json   [{name, model, input, type: "float32" | "int64", dims, data, lengths (int32 [batch]) or null, output}]
//   RESULTS.json {name: {inputNames, outputNames, dims, data} or {error}}
// One process runs every model, so the runtime loads once.
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const [runtimeDir, casesPath, resultsPath] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(runtimeDir), 'index.js'));
const ort = require('onnxruntime-node');

const cases = JSON.parse(readFileSync(casesPath, 'utf8'));
const results = {};
for (const c of cases) {
  try {
    const session = await ort.InferenceSession.create(c.model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
    const values = c.type === 'int64' ? BigInt64Array.from(c.data, (v) => BigInt(v)) : Float32Array.from(c.data);
    const feeds = { [c.input]: new ort.Tensor(c.type, values, c.dims) };
    if (c.lengths) {
      feeds.lengths = new ort.Tensor('int32', Int32Array.from(c.lengths), [c.lengths.length]);
    }
    const outputs = await session.run(feeds);
    const y = outputs[c.output];
    results[c.name] = {
      inputNames: session.inputNames,
      outputNames: session.outputNames,
      dims: Array.from(y.dims, Number),
      data: Array.from(y.data),
    };
  } catch (e) {
    results[c.name] = { error: String(e && e.message ? e.message : e) };
  }
}
writeFileSync(resultsPath, JSON.stringify(results));
