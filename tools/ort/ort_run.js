#!/usr/bin/env node
// Runs an ONNX model in ONNX Runtime (onnxruntime-node, CPU) with .npy inputs and writes each
// output as <dir>/<output name>.npy, named as `compress run` names them. It is the oracle of
// Dyad's cross-checks and the peer of its benchmarks.
//
//   node tools/ort/ort_run.js MODEL --out DIR [--threads N] [--opt all|disabled]
//        [--time REPEATS] [NAME=FILE.npy ...]
//
// With --time it also runs the model REPEATS more times and prints "median_ms <value>".
// onnxruntime-node is found in $DYAD_CACHE/ort (see scripts/install_ort.sh).
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');

const cache = process.env.DYAD_CACHE || path.join(os.homedir(), '.cache', 'dyad');
const ort = require(path.join(cache, 'ort', 'node_modules', 'onnxruntime-node'));

const DESCR = {
  '<f4': ['float32', Float32Array], '<f8': ['float64', Float64Array], '|i1': ['int8', Int8Array],
  '|u1': ['uint8', Uint8Array], '<i2': ['int16', Int16Array], '<u2': ['uint16', Uint16Array],
  '<i4': ['int32', Int32Array], '<u4': ['uint32', Uint32Array], '<i8': ['int64', BigInt64Array],
  '<u8': ['uint64', BigUint64Array], '|b1': ['bool', Uint8Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  const major = buf[6];
  const headerLen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const start = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr':\s*'([^']+)'/.exec(header)[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)[1];
  const dims = shapeText.split(',').map((s) => s.trim()).filter((s) => s.length).map(Number);
  const [type, Ctor] = DESCR[descr] || [];
  if (!type) throw new Error(`${file}: unsupported npy type ${descr}`);
  const offset = start + headerLen;
  const bytes = buf.subarray(offset);
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  let data = new Ctor(copy.buffer, 0, bytes.length / Ctor.BYTES_PER_ELEMENT);
  if (type === 'bool') data = Uint8Array.from(data);
  return new ort.Tensor(type, type === 'bool' ? Array.from(data, (v) => v !== 0) : data, dims);
}

function writeNpy(file, tensor) {
  const entry = Object.entries(DESCR).find(([, [t]]) => t === tensor.type);
  if (!entry) throw new Error(`cannot write output of type ${tensor.type}`);
  const shape = tensor.dims.length === 1 ? `(${tensor.dims[0]},)` : `(${tensor.dims.join(', ')})`;
  let header = `{'descr': '${entry[0]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const pre = Buffer.alloc(10);
  pre.write('\x93NUMPY', 0, 'latin1');
  pre[6] = 1;
  pre[7] = 0;
  pre.writeUInt16LE(header.length, 8);
  let data = tensor.data;
  if (tensor.type === 'bool') data = Uint8Array.from(data, (v) => (v ? 1 : 0));
  fs.writeFileSync(file, Buffer.concat([pre, Buffer.from(header, 'latin1'),
    Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
}

function fileNameFor(name) {
  let s = (name || 'output').replace(/[^A-Za-z0-9_.-]/g, '_');
  if (s === '.' || s === '..') s = '_' + s;
  return s + '.npy';
}

async function main() {
  const args = process.argv.slice(2);
  const model = args.shift();
  let out = null, threads = 1, opt = 'all', repeats = 0;
  const inputs = {};
  while (args.length) {
    const a = args.shift();
    if (a === '--out') out = args.shift();
    else if (a === '--threads') threads = Number(args.shift());
    else if (a === '--opt') opt = args.shift();
    else if (a === '--time') repeats = Number(args.shift());
    else {
      const eq = a.indexOf('=');
      inputs[a.slice(0, eq)] = readNpy(a.slice(eq + 1));
    }
  }
  const session = await ort.InferenceSession.create(model, {
    intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: opt, executionMode: 'sequential',
  });
  const results = await session.run(inputs);
  if (out) {
    fs.mkdirSync(out, { recursive: true });
    for (const name of session.outputNames) writeNpy(path.join(out, fileNameFor(name)), results[name]);
  }
  if (repeats > 0) {
    const times = [];
    for (let i = 0; i < repeats; ++i) {
      const t0 = process.hrtime.bigint();
      await session.run(inputs);
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    }
    times.sort((a, b) => a - b);
    console.log(`median_ms ${times[Math.floor(times.length / 2)]}`);
  }
}

main().catch((e) => {
  console.error(`ort_run: ${e.message.split('\n')[0]}`);
  process.exit(1);
});
