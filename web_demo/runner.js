// Runs model/model.json on raw input arrays served under data/, on one backend, and
// returns the outputs as plain arrays: the browser side of `edgekit validate --browser`.
/* global tf */
const ARRAYS = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

window.edgekitRun = async ({ backend, inputs, outputs }) => {
  tf.wasm.setWasmPaths('vendor/tfjs-backend-wasm/dist/');
  const available = await tf.setBackend(backend);
  await tf.ready();
  if (!available || tf.getBackend() !== backend) {
    return { backend, available: false, reason: `tf.setBackend('${backend}') failed in this browser` };
  }
  const model = await tf.loadGraphModel('model/model.json');
  const feed = {};
  for (const input of inputs) {
    const buffer = await (await fetch(input.url)).arrayBuffer();
    feed[input.name] = tf.tensor(new ARRAYS[input.dtype](buffer), input.shape, input.dtype);
  }
  let result = await model.executeAsync(feed, outputs);
  if (!Array.isArray(result)) result = [result];
  const arrays = [];
  for (const tensor of result) arrays.push({ shape: tensor.shape, data: Array.from(await tensor.data()) });
  tf.dispose([...Object.values(feed), ...result]);
  model.dispose();
  return { backend, available: true, outputs: arrays };
};
