// Runs a TF.js graph model in Node on a batch of inputs, for dlwp's parity gate:
// `node predict.mjs REQUEST.json RESPONSE.json`. The backend is TF.js's WebAssembly one
// (XNNPACK, what a browser runs without WebGL) unless the request names another ("cpu": the
// pure-JS kernels, about 30 times slower on a dense net: docs/exports.md).
//
// REQUEST: {"model_dir": DIR, "batch_size": N, "latency_examples": K, "backend": "wasm"|"cpu",
//           "inputs": {KEY: {"dtype": "int32"|"float32"|"string", "shape": [n, ...],
//                            "file": BIN (little-endian, int32/float32) | "values": [...]}}}
// RESPONSE: {"outputs": {KEY: {"shape": [...], "values": [...]}},
//            "latency_ms": [K single-example times], "backend": NAME}
// Input and output KEYs are the signature's (model.json `signature`), not graph node names.
import fs from 'node:fs';
import path from 'node:path';
// Core and the graph-model loader only: the whole @tensorflow/tfjs (layers, data, WebGL) takes
// 0.5 s longer to import, once per format.
import * as tf from '@tensorflow/tfjs-core';
import {loadGraphModel} from '@tensorflow/tfjs-converter';

function loadModelFiles(modelDir) {
  const model = JSON.parse(fs.readFileSync(path.join(modelDir, 'model.json'), 'utf8'));
  const specs = [];
  const buffers = [];
  for (const group of model.weightsManifest) {
    specs.push(...group.weights);
    for (const file of group.paths) buffers.push(fs.readFileSync(path.join(modelDir, file)));
  }
  const all = Buffer.concat(buffers);
  const weightData = all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength);
  return {model, artifacts: {
    modelTopology: model.modelTopology, weightSpecs: specs, weightData,
    format: model.format, generatedBy: model.generatedBy, convertedBy: model.convertedBy,
    signature: model.signature, userDefinedMetadata: model.userDefinedMetadata,
  }};
}

function readInput(spec) {
  if (spec.values !== undefined) return {values: spec.values, shape: spec.shape, dtype: spec.dtype};
  const bytes = fs.readFileSync(spec.file);
  const buffer = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const values = spec.dtype === 'int32' ? new Int32Array(buffer) : new Float32Array(buffer);
  return {values, shape: spec.shape, dtype: spec.dtype};
}

function rows(input, start, end) {
  const width = input.shape.slice(1).reduce((a, b) => a * b, 1);
  const values = input.values.slice(start * width, end * width);
  return tf.tensor(values, [end - start, ...input.shape.slice(1)], input.dtype);
}

async function loadOn(backend, artifacts) {
  await import(backend === 'wasm' ? '@tensorflow/tfjs-backend-wasm' : '@tensorflow/tfjs-backend-cpu');
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend ${backend} is not available`);
  return loadGraphModel(tf.io.fromMemory(artifacts));
}

function nodeName(tensorName) {
  return tensorName.replace(/:0$/, '');
}

async function main() {
  const [requestPath, responsePath] = process.argv.slice(2);
  const request = JSON.parse(fs.readFileSync(requestPath, 'utf8'));
  const {model: manifest, artifacts} = loadModelFiles(request.model_dir);
  const inputKeys = Object.keys(manifest.signature.inputs);
  const outputKeys = Object.keys(manifest.signature.outputs);
  const outputNodes = outputKeys.map((k) => manifest.signature.outputs[k].name);
  // The converter sometimes keys an input by its tensor name ("area:0") instead of "area".
  const inputs = Object.fromEntries(inputKeys.map((k) => {
    const spec = request.inputs[k] || request.inputs[nodeName(k)];
    if (!spec) throw new Error(`the request has no input ${nodeName(k)}`);
    return [k, readInput(spec)];
  }));
  const n = inputs[inputKeys[0]].shape[0];
  const batch = request.batch_size || 256;

  let model = await loadOn(request.backend || 'wasm', artifacts);
  const run = (start, end) => tf.tidy(() => {
    const feed = {};
    for (const k of inputKeys) feed[nodeName(manifest.signature.inputs[k].name)] = rows(inputs[k], start, end);
    const result = model.execute(feed, outputNodes);
    return (Array.isArray(result) ? result : [result]).map((t) => ({shape: t.shape, values: t.dataSync()}));
  });
  let first;
  try {
    first = run(0, Math.min(n, batch));
  } catch (error) {
    // The WebAssembly backend lacks some kernels of the pure-JS one (Einsum, the ragged and
    // FFT ops, UnsortedSegmentSum in TF.js 4.17): a graph that needs one runs on the pure-JS one.
    if (tf.getBackend() === 'cpu' || !/not registered for backend/.test(String(error))) throw error;
    model = await loadOn('cpu', artifacts);
    first = run(0, Math.min(n, batch));
  }

  const collected = outputKeys.map(() => ({shape: null, values: []}));
  for (let start = 0; start < n; start += batch) {
    const parts = start === 0 ? first : run(start, Math.min(n, start + batch));
    parts.forEach((part, i) => {
      collected[i].shape = [n, ...part.shape.slice(1)];
      for (const v of part.values) collected[i].values.push(Number(v));
    });
  }
  const latency = [];
  for (let i = 0; i < Math.min(n, request.latency_examples || 0); i++) {
    const t0 = process.hrtime.bigint();
    run(i, i + 1);
    latency.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const outputs = Object.fromEntries(outputKeys.map((k, i) => [k, collected[i]]));
  fs.writeFileSync(responsePath, JSON.stringify({outputs, latency_ms: latency, backend: tf.getBackend()}));
}

main().catch((error) => {
  console.error(error && error.stack ? error.stack : String(error));
  process.exit(1);
});
