// dlwp's browser demo (see index.html). It reads the export layout that `dlwp run` writes:
//   /exports/<model>/latest.json             {"version": N}
//   /exports/<model>/<N>/golden.json         test images and the SavedModel's answers
//   /exports/<model>/<N>/<format>/model.json the TF.js graph model
//   /reports/<model>/<N>/                     the version's report, linked when it answers
//   /reports/<model>/latest/                  the newest report, when no export names a version
// For tests, the page publishes its state: body[data-status] is "loading", "ready" or "error";
// body[data-report] is "shown" or "none" once the report link is settled;
// window.dlwpResults holds the golden images' predictions, window.dlwpLast the latest drawing
// or upload, and window.dlwpPredictPixels(rows) predicts rows of 784 pixels (0-255).
'use strict';

const SIDE = 28;
const PIXELS = SIDE * SIDE;

const params = new URLSearchParams(location.search);
const settings = {
  model: params.get('model') || 'fashion_mnist',
  format: params.get('format') || 'tfjs_float32',
  backend: params.get('backend') || '',
};

// linkReport's promise, once main() knows the export's version; a page that fails before
// then links the newest report instead.
let reportLinked = null;

class DemoError extends Error {}

function setStatus(status, message) {
  document.body.dataset.status = status;
  document.getElementById('status').textContent = message;
}

function fail(error) {
  const message = error instanceof DemoError ? error.message : `Unexpected error: ${error}`;
  window.dlwpError = message;
  setStatus('error', message);
  console.error(error);
}

async function fetchJson(url, whatIfMissing) {
  let response;
  try {
    response = await fetch(url, {cache: 'no-store'});
  } catch (error) {
    throw new DemoError(`Cannot reach the server for ${url}: ${error.message}`);
  }
  if (response.status === 404) throw new DemoError(whatIfMissing);
  if (!response.ok) throw new DemoError(`${url} answered HTTP ${response.status}`);
  try {
    return await response.json();
  } catch (error) {
    throw new DemoError(`${url} is not valid JSON: ${error.message}`);
  }
}

// The model's input and outputs, from its signature (keys are the SavedModel's, values graph
// tensor names), the way web/predict.mjs feeds it.
function describeSignature(model) {
  const signature = model.modelSignature;
  if (!signature || !signature.inputs || !signature.outputs) {
    throw new DemoError('The TF.js model has no signature: re-export it with dlwp run');
  }
  const inputKeys = Object.keys(signature.inputs);
  if (inputKeys.length !== 1) {
    throw new DemoError(`The model takes ${inputKeys.join(', ')}; the page feeds one image input`);
  }
  const input = signature.inputs[inputKeys[0]];
  const width = Number(((input.tensorShape || {}).dim || [])[1]?.size);
  if (width !== PIXELS) {
    throw new DemoError(`The model's input ${inputKeys[0]} has ${width} values per example; ` +
      `the page draws ${SIDE}x${SIDE} images (${PIXELS})`);
  }
  const outputs = signature.outputs;
  if (!outputs.scores) throw new DemoError('The model has no "scores" output');
  return {
    inputKey: inputKeys[0],
    inputNode: input.name.replace(/:0$/, ''),
    inputDtype: input.dtype === 'DT_FLOAT' ? 'float32' : 'int32',
    scoresNode: outputs.scores.name,
    classIdsNode: outputs.class_ids ? outputs.class_ids.name : null,
  };
}

function argmax(values) {
  return values.reduce((best, v, i) => (v > values[best] ? i : best), 0);
}

// execute() is synchronous and quicker; a graph with control flow needs executeAsync().
async function execute(model, feed, outputNames) {
  try {
    return model.execute(feed, outputNames);
  } catch (error) {
    if (!/executeAsync/.test(String(error && error.message))) throw error;
    return model.executeAsync(feed, outputNames);
  }
}

async function predictRows(model, spec, rows) {
  const flat = spec.inputDtype === 'int32' ? new Int32Array(rows.length * PIXELS)
    : new Float32Array(rows.length * PIXELS);
  rows.forEach((row, i) => flat.set(row, i * PIXELS));
  const input = tf.tensor2d(flat, [rows.length, PIXELS], spec.inputDtype);
  const wanted = spec.classIdsNode ? [spec.scoresNode, spec.classIdsNode] : [spec.scoresNode];
  let outputs;
  try {
    outputs = await execute(model, {[spec.inputNode]: input}, wanted);
    outputs = Array.isArray(outputs) ? outputs : [outputs];
    const scores = await outputs[0].array();
    const classIds = outputs[1] ? Array.from(await outputs[1].data(), Number)
      : scores.map(argmax);
    return {scores, classIds};
  } finally {
    input.dispose();
    (outputs || []).forEach((t) => t.dispose());
  }
}

function className(names, id) {
  return names && names[id] !== undefined ? `${names[id]} (${id})` : `class ${id}`;
}

function drawPixels(canvas, pixels) {
  const context = canvas.getContext('2d');
  const image = context.createImageData(SIDE, SIDE);
  pixels.forEach((value, i) => {
    image.data.set([value, value, value, 255], i * 4);
  });
  context.putImageData(image, 0, 0);
}

// One image with what the model says (and the truth when known); the data- attributes are for
// tests: data-predicted (class id), data-label, data-score (the top score).
function card(pixels, classId, scores, names, label) {
  const figure = document.createElement('figure');
  const canvas = document.createElement('canvas');
  canvas.width = SIDE;
  canvas.height = SIDE;
  drawPixels(canvas, pixels);
  const caption = document.createElement('figcaption');
  const predicted = document.createElement('span');
  predicted.className = 'predicted';
  const score = scores[classId];
  predicted.textContent = `${className(names, classId)} · ${(100 * score).toFixed(1)}%`;
  caption.append(predicted);
  figure.dataset.predicted = String(classId);
  figure.dataset.score = String(score);
  if (label !== undefined && label !== null) {
    const truth = document.createElement('span');
    truth.textContent = `true: ${className(names, label)}`;
    caption.append(truth);
    figure.dataset.label = String(label);
    if (label !== classId) figure.classList.add('mismatch');
  }
  figure.append(canvas, caption);
  return figure;
}

function setupDrawing(canvas) {
  const context = canvas.getContext('2d');
  const clear = () => {
    context.fillStyle = '#000';
    context.fillRect(0, 0, canvas.width, canvas.height);
  };
  clear();
  context.strokeStyle = '#fff';
  context.lineWidth = canvas.width / 12;
  context.lineCap = 'round';
  context.lineJoin = 'round';
  let last = null;
  const point = (event) => {
    const box = canvas.getBoundingClientRect();
    return [(event.clientX - box.left) * canvas.width / box.width,
      (event.clientY - box.top) * canvas.height / box.height];
  };
  canvas.addEventListener('pointerdown', (event) => {
    canvas.setPointerCapture(event.pointerId);
    last = point(event);
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...last);
    context.stroke();
  });
  canvas.addEventListener('pointermove', (event) => {
    if (!last) return;
    const next = point(event);
    context.beginPath();
    context.moveTo(...last);
    context.lineTo(...next);
    context.stroke();
    last = next;
  });
  const stop = () => { last = null; };
  canvas.addEventListener('pointerup', stop);
  canvas.addEventListener('pointercancel', stop);
  return clear;
}

// Any image source, shrunk to SIDE x SIDE grayscale (0-255) on `background`.
function grayscale(source, width, height, background) {
  const canvas = document.createElement('canvas');
  canvas.width = SIDE;
  canvas.height = SIDE;
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.fillStyle = background;
  context.fillRect(0, 0, SIDE, SIDE);
  context.imageSmoothingQuality = 'high';
  const scale = SIDE / Math.max(width, height);
  const w = width * scale;
  const h = height * scale;
  context.drawImage(source, (SIDE - w) / 2, (SIDE - h) / 2, w, h);
  const data = context.getImageData(0, 0, SIDE, SIDE).data;
  const pixels = new Array(PIXELS);
  for (let i = 0; i < PIXELS; i++) {
    const [r, g, b] = data.subarray(i * 4, i * 4 + 3);
    pixels[i] = Math.round(0.299 * r + 0.587 * g + 0.114 * b);
  }
  return pixels;
}

// An uploaded picture as the dataset's images look: dark background, light object. Shrunk in
// two steps (smoother than one), transparency counts as white, and the border's mean gray
// decides whether the background is light.
async function uploadedPixels(file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch (error) {
    throw new DemoError(`${file.name} is not an image the browser can read`);
  }
  const scale = Math.min(1, 112 / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  const context = canvas.getContext('2d', {willReadFrequently: true});
  context.fillStyle = '#fff';
  context.fillRect(0, 0, canvas.width, canvas.height);
  context.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0;
  let count = 0;
  for (let y = 0; y < canvas.height; y++) {
    for (let x = 0; x < canvas.width; x++) {
      if (x > 0 && y > 0 && x < canvas.width - 1 && y < canvas.height - 1) continue;
      const i = (y * canvas.width + x) * 4;
      sum += 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
      count++;
    }
  }
  const background = Math.round(sum / count);
  const gray = `rgb(${background},${background},${background})`;
  const pixels = grayscale(canvas, canvas.width, canvas.height, gray);
  return background > 127 ? pixels.map((v) => 255 - v) : pixels;
}

function showResult(containerId, make) {
  const container = document.getElementById(containerId);
  container.replaceChildren();
  return make().then((figure) => container.append(figure)).catch((error) => {
    const message = document.createElement('p');
    message.className = 'result-error';
    message.textContent = error instanceof DemoError ? error.message : `Failed: ${error}`;
    container.append(message);
    console.error(error);
  });
}

// The link to the report of `version` (null: the newest report), shown only when the server
// answers for it, so the page never offers a broken link. A server without reports (no
// --reports-dir) answers 404 like a missing one.
async function linkReport(model, version) {
  const root = `/reports/${encodeURIComponent(model)}`;
  const url = version === null ? `${root}/latest/` : `${root}/${version}/`;
  const link = document.getElementById('report-link');
  const response = await fetch(url, {method: 'HEAD', cache: 'no-store'}).catch(() => null);
  if (response && response.ok) {
    // `latest/` redirects to the version's own folder: link that, and name its version.
    const target = new URL(response.url);
    const shown = version === null ? target.pathname.split('/').at(-2) : String(version);
    link.href = version === null ? target.pathname : url;
    link.textContent = `Report of version ${shown}`;
    link.hidden = false;
  } else {
    link.hidden = true;
  }
  document.body.dataset.report = link.hidden ? 'none' : 'shown';
}

async function loadModel(base) {
  const url = `${base}/${settings.format}/model.json`;
  const check = await fetch(url, {method: 'HEAD', cache: 'no-store'}).catch(() => null);
  if (check && check.status === 404) {
    throw new DemoError(`This export has no ${settings.format} model (${url}); a format that ` +
      'failed the parity gate is not written. Try ?format=tfjs_float32');
  }
  try {
    return await tf.loadGraphModel(url);
  } catch (error) {
    throw new DemoError(`Could not load the TF.js model ${url}: ${error.message}`);
  }
}

async function main() {
  if (typeof tf === 'undefined' || window.dlwpTfjsMissing) {
    throw new DemoError('TF.js did not load from /demo/tf.min.js: run make install (it installs ' +
      'web/node_modules), then reload');
  }
  if (settings.backend && !(await tf.setBackend(settings.backend))) {
    throw new DemoError(`TF.js backend "${settings.backend}" is not available here`);
  }
  await tf.ready();
  const root = `/exports/${encodeURIComponent(settings.model)}`;
  const latest = await fetchJson(`${root}/latest.json`,
    `No export of model "${settings.model}" is served (${root}/latest.json). Export it with ` +
    `dlwp run ${settings.model}, then serve its home: dlwp serve --home HOME ` +
    '(or --exports-dir HOME/exports)');
  const version = latest.version;
  reportLinked = linkReport(settings.model, version);
  const base = `${root}/${version}`;
  const golden = await fetchJson(`${base}/golden.json`,
    `Version ${version} of "${settings.model}" has no golden.json (${base}/golden.json)`);
  if (golden.input !== 'raw') {
    throw new DemoError(`This export takes ${golden.input} inputs; the page can only feed raw ` +
      'pixels (the model must include its Transform layer)');
  }
  setStatus('loading', `Loading ${settings.model} version ${version} (${settings.format})…`);
  const model = await loadModel(base);
  const spec = describeSignature(model);
  const names = golden.class_names || null;  // from the task spec, when it names classes
  const images = golden.inputs[spec.inputKey];
  if (!Array.isArray(images)) {
    throw new DemoError(`golden.json has no "${spec.inputKey}" input, the model's input`);
  }
  const predicted = await predictRows(model, spec, images);
  const grid = document.getElementById('golden');
  images.forEach((pixels, i) => {
    grid.append(card(pixels, predicted.classIds[i], predicted.scores[i], names,
      (golden.labels || [])[i]));
  });
  const agree = predicted.classIds.filter((id, i) => id === golden.outputs.class_ids[i]).length;
  document.getElementById('golden-note').textContent = `The export's ${images.length} test ` +
    `examples, predicted here by TF.js (${tf.getBackend()}); ${agree} of ${images.length} ` +
    'classes agree with the SavedModel in golden.json.';

  window.dlwpResults = {
    model: settings.model, version, format: settings.format, backend: tf.getBackend(),
    classIds: predicted.classIds, scores: predicted.scores,
  };
  window.dlwpPredictPixels = (rows) => predictRows(model, spec, rows);

  const predictOne = async (source, pixels) => {
    const result = await predictRows(model, spec, [pixels]);
    const [classId, scores] = [result.classIds[0], result.scores[0]];
    window.dlwpLast = {source, pixels, classId, scores};
    return card(pixels, classId, scores, names);
  };
  const drawing = document.getElementById('draw');
  const clear = setupDrawing(drawing);
  document.getElementById('clear-drawing').addEventListener('click', () => {
    clear();
    document.getElementById('draw-result').replaceChildren();
  });
  const predictButton = document.getElementById('predict-drawing');
  predictButton.addEventListener('click', () => showResult('draw-result', () => predictOne(
    'draw', grayscale(drawing, drawing.width, drawing.height, '#000'))));
  const upload = document.getElementById('upload');
  upload.addEventListener('change', () => {
    const file = upload.files[0];
    if (file) {
      showResult('upload-result', async () => predictOne('upload', await uploadedPixels(file)));
    }
  });
  predictButton.disabled = false;
  upload.disabled = false;
  setStatus('ready', `${settings.model} version ${version} (${settings.format}, TF.js ` +
    `${tf.version.tfjs}, ${tf.getBackend()} backend)`);
}

main().catch(fail).finally(() => reportLinked || linkReport(settings.model, null));
