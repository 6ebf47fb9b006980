#!/usr/bin/env node
// Time ONNX Runtime (npm onnxruntime-node) on a case's model.onnx.
//
// usage: node ort_run.js CASE_DIR --threads T --runs N [--warmup W] [--trivial] [--output Y.npy]
//
// One InferenceSession (intraOpNumThreads = T, interOpNumThreads = 1, all graph
// optimizations, sequential), W warm-up and N timed session.run() on input.npy
// (trivial.npy with --trivial: the load cost), prints one JSON line:
//   {"runner": "ort", "median_ms": …, "min_ms": …, "max_ms": …, "runs": N, …}
'use strict';
const fs = require('fs');
const path = require('path');
let ort;
try {
  ort = require(path.join(__dirname, 'node_modules', 'onnxruntime-node'));
} catch (e) {
  console.error('ort_run.js: onnxruntime-node not installed: cd bench && npm install --ignore-scripts onnxruntime-node');
  process.exit(3);
}

function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not an .npy file`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const hoff = major === 1 ? 10 : 12;
  const header = b.toString('latin1', hoff, hoff + hlen);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: want float32 little-endian C order, got ${header.trim()}`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(s => s).map(Number);
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  const body = b.subarray(hoff + hlen, hoff + hlen + 4 * n);
  for (let i = 0; i < n; i++) data[i] = body.readFloatLE(4 * i);
  return { shape, data };
}

function writeNpy(file, shape, data) {
  let h = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + h.length + 1;
  h += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1'); pre[6] = 1; pre[7] = 0; pre.writeUInt16LE(h.length, 8);
  const body = Buffer.alloc(4 * data.length);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(h, 'latin1'), body]));
}

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
}

async function main() {
  const dir = process.argv[2];
  const threads = parseInt(arg('--threads', '1'), 10);
  const runs = parseInt(arg('--runs', '20'), 10);
  const warmup = parseInt(arg('--warmup', '3'), 10);
  const trivial = process.argv.includes('--trivial');
  const output = arg('--output', null);
  const t_load = process.hrtime.bigint();   // load = session creation (the "load" row)
  const sess = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const load_ms = Number(process.hrtime.bigint() - t_load) / 1e6;
  const x = readNpy(path.join(dir, trivial ? 'trivial.npy' : 'input.npy'));
  const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  let out;
  for (let i = 0; i < warmup; i++) out = await sess.run(feeds);
  const times = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    out = await sess.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  const y = out[sess.outputNames[0]];
  if (output) writeNpy(output, y.dims, y.data);
  const s = [...times].sort((a, b) => a - b);
  const med = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  console.log(JSON.stringify({ runner: 'ort', version: ort.env.versions ? ort.env.versions.common : undefined,
    threads, median_ms: med, min_ms: s[0], max_ms: s[s.length - 1], runs, trivial, load_ms }));
}

main().catch(e => { console.error('ort_run.js: ' + (e && e.message ? e.message : e)); process.exit(1); });
