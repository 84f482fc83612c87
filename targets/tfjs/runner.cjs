// Runs a TF.js graph model in Node.js for edgekit: node tfjs_runner.cjs REQUEST.json
// REQUEST: {model_dir, backend, inputs: [{name, shape, dtype, file}], outputs: [name],
//           result_dir, batch_size?, warmup?, repeats?} (repeats > 0: also time that many
//           runs; batch_size: the model's fixed batch, inputs are fed in slices of it). Inputs and outputs are raw little-endian arrays; the result
// (output shapes/dtypes/files and timings) is printed as one JSON line on stdout.
// No tfjs-node (its install downloads libtensorflow): a small IOHandler reads the files.
const fs = require('fs');
const path = require('path');
const tf = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

function fileHandler(modelDir) {
  return {
    load: async () => {
      const json = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
      const specs = [];
      const buffers = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const shard of group.paths) buffers.push(fs.readFileSync(path.join(modelDir, shard)));
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology, format: json.format,
        generatedBy: json.generatedBy, convertedBy: json.convertedBy,
        signature: json.signature, userDefinedMetadata: json.userDefinedMetadata,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
      };
    },
  };
}

// A model with a fixed batch (e.g. converted through onnx2tf with static shapes) takes
// `batchSize` samples at a time: run slices and concatenate the outputs.
async function runInBatches(model, feed, outputNames, batchSize) {
  const total = Object.values(feed)[0].shape[0];
  if (!batchSize || batchSize >= total) {
    const result = await model.executeAsync(feed, outputNames);
    return Array.isArray(result) ? result : [result];
  }
  const parts = [];
  for (let start = 0; start < total; start += batchSize) {
    const slice = {};
    for (const [name, tensor] of Object.entries(feed)) {
      slice[name] = tensor.slice(start, Math.min(batchSize, total - start));
    }
    const result = await model.executeAsync(slice, outputNames);
    parts.push(Array.isArray(result) ? result : [result]);
    tf.dispose(Object.values(slice));
  }
  return parts[0].map((_, i) => tf.concat(parts.map((p) => p[i]), 0));
}

async function main() {
  const request = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  await tf.setBackend(request.backend || 'wasm');
  await tf.ready();
  const started = Date.now();
  const model = await tf.loadGraphModel(fileHandler(request.model_dir));
  const loadMs = Date.now() - started;
  const feed = {};
  for (const input of request.inputs) {
    const raw = fs.readFileSync(input.file);
    const Type = ARRAYS[input.dtype];
    const values = new Type(raw.buffer, raw.byteOffset, raw.byteLength / Type.BYTES_PER_ELEMENT);
    feed[input.name] = tf.tensor(values, input.shape, input.dtype);
  }
  const runStarted = Date.now();
  let outputs = await runInBatches(model, feed, request.outputs, request.batch_size);
  // Benchmark mode: warm-up, then timed runs (one sample), each waiting for its results.
  // A time budget (max_ms, after min_runs) keeps a slow model from taking minutes.
  const times = [];
  const benchStarted = Date.now();
  for (let i = 0; i < (request.warmup || 0) + (request.repeats || 0); i++) {
    const started = process.hrtime.bigint();
    const result = await model.executeAsync(feed, request.outputs);
    await Promise.all((Array.isArray(result) ? result : [result]).map((t) => t.data()));
    tf.dispose(result);
    if (i >= (request.warmup || 0)) times.push(Number(process.hrtime.bigint() - started) / 1e6);
    if (request.max_ms && times.length >= (request.min_runs || 1) &&
        Date.now() - benchStarted > request.max_ms) break;
  }
  const results = [];
  for (let i = 0; i < outputs.length; i++) {
    const data = await outputs[i].data();
    const file = path.join(request.result_dir, `output_${i}.bin`);
    fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    results.push({ shape: outputs[i].shape, dtype: outputs[i].dtype, file });
  }
  const runMs = Date.now() - runStarted;
  process.stdout.write(JSON.stringify({ backend: tf.getBackend(), load_ms: loadMs, run_ms: runMs,
                                        tfjs: tf.version.tfjs, outputs: results, times,
                                        peak_rss: process.memoryUsage().rss }) + '\n');
}

main().catch((error) => {
  process.stderr.write(`tfjs runner error: ${error.message}\n`);
  process.exit(1);
});
