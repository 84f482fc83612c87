// edgekit browser demo: draw on the canvas, classify with a TF.js graph model that
// edgekit produced. Everything model-specific comes from model/edgekit.json.
/* global tf */
(() => {
  'use strict';
  const pad = document.getElementById('pad');
  const ctx = pad.getContext('2d');
  const ui = {
    info: document.getElementById('model-info'), backend: document.getElementById('backend'),
    top3: document.getElementById('top3'), timing: document.getElementById('timing'),
    status: document.getElementById('status'),
  };
  let model = null;
  let meta = null;
  let drawing = false;
  let drawn = false;

  function clearPad() {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    drawn = false;
    ui.top3.innerHTML = '';
    ui.timing.textContent = '';
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return [(event.clientX - box.left) * pad.width / box.width,
            (event.clientY - box.top) * pad.height / box.height];
  }

  pad.addEventListener('pointerdown', (event) => {
    drawing = true;
    pad.setPointerCapture(event.pointerId);
    ctx.beginPath();
    ctx.moveTo(...point(event));
  });
  pad.addEventListener('pointermove', (event) => {
    if (!drawing) return;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = pad.width / 12;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.lineTo(...point(event));
    ctx.stroke();
    drawn = true;
  });
  pad.addEventListener('pointerup', () => {
    drawing = false;
    if (drawn) predict();
  });
  document.getElementById('clear').addEventListener('click', clearPad);
  ui.backend.addEventListener('change', () => setBackend(ui.backend.value).then(() => drawn && predict()));

  // The canvas as the model's input: resized, grayscale or RGB, scaled into the input
  // range edgekit recorded, in the model's layout (NHWC or NCHW), batch of one.
  function canvasTensor() {
    const [, a, b, c] = meta.input.shape;
    const nchw = meta.input.layout === 'NCHW';
    const [height, width, channels] = nchw ? [b, c, a] : [a, b, c];
    const [low, high] = meta.preprocessing.range;
    return tf.tidy(() => {
      let image = tf.browser.fromPixels(pad, channels === 1 ? 1 : 3).toFloat();
      image = tf.image.resizeBilinear(image, [height, width], true);
      image = image.div(255).mul(high - low).add(low);
      if (nchw) image = image.transpose([2, 0, 1]);
      return image.expandDims(0);
    });
  }

  function probabilities(scores) {
    const sum = scores.reduce((s, v) => s + v, 0);
    const isProbability = scores.every((v) => v >= 0) && Math.abs(sum - 1) < 1e-3;
    if (isProbability) return scores;
    const max = Math.max(...scores);
    const exps = scores.map((v) => Math.exp(v - max));
    const total = exps.reduce((s, v) => s + v, 0);
    return exps.map((v) => v / total);
  }

  async function predict() {
    const input = canvasTensor();
    const started = performance.now();
    const output = await model.executeAsync(input);
    const scores = Array.from(await (Array.isArray(output) ? output[0] : output).data());
    const elapsed = performance.now() - started;
    tf.dispose([input, output]);
    const probs = probabilities(scores);
    const ranked = probs.map((p, i) => [p, i]).sort((x, y) => y[0] - x[0]).slice(0, 3);
    ui.top3.innerHTML = '';
    for (const [p, i] of ranked) {
      const item = document.createElement('li');
      item.dataset.label = meta.labels[i] ?? String(i);
      item.textContent = `${item.dataset.label}: ${(100 * p).toFixed(1)}%`;
      ui.top3.appendChild(item);
    }
    ui.timing.textContent = `${elapsed.toFixed(1)} ms on ${tf.getBackend()}`;
    return { label: ranked[0] ? meta.labels[ranked[0][1]] ?? String(ranked[0][1]) : null,
             top3: ranked.map(([p, i]) => [meta.labels[i] ?? String(i), p]), ms: elapsed,
             backend: tf.getBackend() };
  }

  async function setBackend(name) {
    if (name === 'wasm') tf.wasm.setWasmPaths('vendor/tfjs-backend-wasm/dist/');
    const ok = await tf.setBackend(name);
    await tf.ready();
    ui.status.textContent = ok ? '' : `${name} is not available here; using ${tf.getBackend()}`;
    ui.backend.value = tf.getBackend();
    return tf.getBackend();
  }

  async function start() {
    clearPad();
    meta = await (await fetch('model/edgekit.json')).json();
    await setBackend('webgl');
    model = await tf.loadGraphModel('model/model.json');
    tf.dispose(await model.executeAsync(canvasTensor()));  // warm-up: compiles webgl shaders
    const dims = meta.input.shape.map((d) => (d === null ? 'N' : d)).join('x');
    ui.info.textContent = `${meta.source || 'model'}: input ${dims} ` +
      `${meta.input.layout || ''}, ${meta.labels.length} classes, precision ${meta.precision}`;
  }

  // For tests and scripts: the same operations the controls perform.
  window.edgekitDemo = { ready: start(), predict, setBackend, clear: clearPad };
})();
