// The zoo's web client: reads signature.json, loads one exported .tflite file with LiteRT.js (WebAssembly, CPU)
// and runs it on what the user gives it. Everything the page knows about the model comes from signature.json,
// labels.txt and vocab.txt beside it, as it would for an app on a phone.
//
// window.zoo is the page's own code path, also used by the tests: classifyImageData(imageData),
// classifyText(text), tokenize(text), generateFrom(noise), write(prompt, options) (a language model's decoding loop),
// rewrite(text) (an encoder-decoder's loop, greedy) and `ready` (a promise of the first prediction).
import {loadLiteRt, loadAndCompile, Tensor} from '@litertjs/core';

// The text clean-ups this page implements, by signature.json's `text.tokenizer`; its `text.standardize` must list
// exactly these steps (zoo/data/text.py).
const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const DELIMITER = '(?:<br />|[^A-Za-z0-9])+';  // tokenizer=regex: the same RE2 pattern reads the same in JavaScript
const STANDARDIZE = {
  keras: [
    'lowercase (Unicode)',
    "replace each '<br />' with a space",
    `delete these ASCII punctuation characters: ${PUNCTUATION}`,
    'split on whitespace',
  ],
  regex: [`split wherever the delimiter regex ${DELIMITER} matches (case kept)`],
};
const DELIMITER_RE = new RegExp(DELIMITER);
const PUNCTUATION_RE = new RegExp(`[${PUNCTUATION.replace(/[\\\]\[^-]/g, '\\$&')}]`, 'g');
const WHITESPACE_RE = /[ \t\n\v\f\r]+/;  // TensorFlow's whitespace split: ASCII whitespace only
const FEEDS = ['float32', 'int32', 'uint8'];  // the tensor types LiteRT.js 2.5 creates and reads
const TOP = 5;
const SAMPLES = 16;

const $ = (id) => document.getElementById(id);
const page = {firstPredictionMs: null, predictions: 0};

// ---- what signature.json says ----------------------------------------------------------------------------------
function roleOf(graph) {
  const {input, output} = graph;
  if (output.labels && input.kind === 'image') return 'image';
  if (output.labels && input.kind === 'tokens') return 'text';
  if (output.name === 'image' && input.sample === 'standard normal') return 'generator';
  if (graph.loop && input.kind === 'prompt') return 'writer';
  if (graph.loop && input.kind === 'characters') return 'rewriter';
  return null;
}

function chooseGraph(signature, wantedFile) {
  const graphs = Object.entries(signature.graphs).filter(([, g]) => roleOf(g) && Object.keys(g.files).length);
  if (!graphs.length) {
    throw new Error(`this page runs classifiers, generators and language models; ${signature.recipe}'s graphs ` +
      `(${Object.keys(signature.graphs).join(', ')}) are none of them`);
  }
  const found = graphs.find(([, g]) => wantedFile && wantedFile in g.files);
  if (wantedFile && !found) throw new Error(`no file ${wantedFile} in signature.json`);
  const [name, graph] = found || graphs[0];
  const file = wantedFile || Object.keys(graph.files)[0];
  return {name, graph, file, io: graph.files[file], role: roleOf(graph)};
}

function checkFeedable(file, io) {
  for (const t of [...io.inputs, ...io.outputs]) {
    if (!FEEDS.includes(t.dtype)) {
      throw new Error(`${file} has a ${t.dtype} tensor (${t.name}); LiteRT.js feeds only ${FEEDS.join(', ')}: ` +
        'export the int8 file with --int8-io float32');
    }
  }
}

// ---- tensors in and out: quantized I/O by the file's own scale and zero point -------------------------------------
function roundHalfEven(x) {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function toInput(values, detail) {
  const q = detail.quantization;
  if (detail.dtype === 'float32') return new Float32Array(values);
  if (detail.dtype === 'int32') return Int32Array.from(values);
  // uint8 input: q = round(x / scale + zero_point) to the nearest even on ties, clipped to 0..255, computed in float32
  // as the Python interpreter's checks compute it
  const f = Math.fround;
  return Uint8Array.from(values, (v) => Math.min(255, Math.max(0,
    roundHalfEven(f(f(f(v) / f(q.scale)) + q.zero_point)))));
}

function fromOutput(array, detail) {
  const q = detail.quantization;
  return q ? Float32Array.from(array, (v) => (v - q.zero_point) * q.scale) : Float32Array.from(array);
}

async function run(values) {
  const {inputs, outputs} = page.io;
  const tensor = new Tensor(toInput(values, inputs[0]), inputs[0].shape);
  const start = performance.now();
  const results = await page.model.run(tensor);
  const raw = results[0].toTypedArray();
  const ms = performance.now() - start;
  tensor.delete();
  results.forEach((t) => t.delete());
  return {output: fromOutput(raw, outputs[0]), ms};
}

// ---- images --------------------------------------------------------------------------------------------------------
// An RGBA ImageData of the model's input size -> the model's input values (NHWC): grey or RGB pixels 0..255 mapped
// onto input.range. A grey pixel (r = g = b) keeps its value; colour goes to grey by ITU-R 601 weights.
function pixelsFromImageData(image) {
  const [, height, width, channels] = page.graph.input.shape;
  if (image.width !== width || image.height !== height) {
    throw new Error(`the model takes ${width}x${height} images, got ${image.width}x${image.height}`);
  }
  const [lo, hi] = page.graph.input.range;
  const out = new Float32Array(width * height * channels);
  const d = image.data;
  for (let i = 0; i < width * height; i++) {
    const [r, g, b] = [d[4 * i], d[4 * i + 1], d[4 * i + 2]];
    if (channels === 1) {
      const grey = r === g && g === b ? r : 0.299 * r + 0.587 * g + 0.114 * b;
      out[i] = lo + (hi - lo) * grey / 255;
    } else {
      [r, g, b].forEach((v, c) => { out[3 * i + c] = lo + (hi - lo) * v / 255; });
    }
  }
  return out;
}

// Any drawable (the drawing pad, a decoded file) scaled onto black at the model's input size, as the model sees it.
function imageDataOf(source) {
  const [, height, width] = page.graph.input.shape;
  const seen = $('seen');
  seen.width = width;
  seen.height = height;
  const ctx = seen.getContext('2d', {willReadFrequently: true});
  ctx.imageSmoothingEnabled = true;
  ctx.imageSmoothingQuality = 'high';
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, width, height);
  ctx.drawImage(source, 0, 0, width, height);
  return ctx.getImageData(0, 0, width, height);
}

async function classifyImageData(image) {
  return show(await classify(pixelsFromImageData(image)));
}

function setUpDrawing() {
  const pad = $('pad');
  const ctx = pad.getContext('2d');
  const clear = () => { ctx.fillStyle = '#000'; ctx.fillRect(0, 0, pad.width, pad.height); };
  clear();
  let last = null;
  const at = (e) => { const r = pad.getBoundingClientRect(); return [(e.clientX - r.left) * pad.width / r.width,
    (e.clientY - r.top) * pad.height / r.height]; };
  pad.addEventListener('pointerdown', (e) => { last = at(e); pad.setPointerCapture(e.pointerId); });
  pad.addEventListener('pointermove', (e) => {
    if (!last) return;
    const next = at(e);
    Object.assign(ctx, {strokeStyle: '#fff', lineWidth: pad.width / 12, lineCap: 'round', lineJoin: 'round'});
    ctx.beginPath();
    ctx.moveTo(...last);
    ctx.lineTo(...next);
    ctx.stroke();
    last = next;
  });
  const done = () => { if (last) { last = null; classifyImageData(imageDataOf(pad)).catch(fail); } };
  pad.addEventListener('pointerup', done);
  pad.addEventListener('pointercancel', done);
  $('clear').addEventListener('click', () => { clear(); classifyImageData(imageDataOf(pad)).catch(fail); });
  $('image-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (!file) return;
    try {
      const bitmap = await createImageBitmap(file);
      classifyImageData(imageDataOf(bitmap)).catch(fail);
    } catch (err) {
      fail(new Error(`${file.name} is not an image this browser can decode`));
    }
  });
}

// ---- text ----------------------------------------------------------------------------------------------------------
function standardize(text) {
  return text.toLowerCase().split('<br />').join(' ').replace(PUNCTUATION_RE, '');
}

function tokenize(text) {
  const t = page.graph.input.text;
  const tokens = (t.tokenizer === 'regex' ? text.split(DELIMITER_RE) : standardize(text).split(WHITESPACE_RE))
    .filter((s) => s.length);
  let ids = tokens.map((s) => page.vocab.get(s) ?? t.oov_id);
  const n = t.sequence_length;
  if (ids.length > n) ids = t.truncating === 'pre' ? ids.slice(ids.length - n) : ids.slice(0, n);
  return ids.concat(new Array(n - ids.length).fill(t.pad_id));
}

async function classifyText(text) {
  const ids = tokenize(text);
  const known = ids.filter((id) => id !== page.graph.input.text.pad_id);
  $('tokens').textContent = `${known.length} token(s), ${known.filter((id) => id === page.graph.input.text.oov_id)
    .length} not in the vocabulary`;
  return show(await classify(ids));
}

async function loadVocabulary(text) {
  const steps = STANDARDIZE[text.tokenizer ?? 'keras'] ?? [];
  const same = text.standardize.length === steps.length && text.standardize.every((s, i) => s === steps[i]);
  if (!same) throw new Error(`this page cannot standardise text as signature.json asks: ${text.standardize}`);
  return vocabularyAt(text.vocabulary);
}

async function vocabularyAt(url) {  // line i is the token (word or character) of id i
  const lines = (await fetchOk(url)).split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const vocab = new Map();
  lines.forEach((token, id) => { if (!vocab.has(token)) vocab.set(token, id); });
  return vocab;
}

// ---- classifiers and generators ------------------------------------------------------------------------------------
async function classify(values) {
  const {output, ms} = await run(values);
  const probabilities = Array.from(output);
  const argmax = probabilities.indexOf(Math.max(...probabilities));
  return {probabilities, argmax, label: page.graph.output.labels[argmax], ms};
}

function show(result) {
  const labels = page.graph.output.labels;
  const order = result.probabilities.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, TOP);
  $('top').replaceChildren(...order.map(([p, i]) => {
    const li = document.createElement('li');
    li.innerHTML = '<span class="label"></span><span class="track"><span class="bar"></span></span><span class="p"></span>';
    li.querySelector('.label').textContent = labels[i];
    li.querySelector('.bar').style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector('.p').textContent = `${(100 * p).toFixed(1)}%`;
    return li;
  }));
  latency(result.ms);
  return result;
}

function latency(ms) {
  if (page.firstPredictionMs === null) page.firstPredictionMs = performance.now();
  page.predictions += 1;
  $('latency').textContent = `model call ${ms.toFixed(2)} ms · page load to first prediction ` +
    `${page.firstPredictionMs.toFixed(0)} ms`;
}

// A standard normal draw per number (Box-Muller), clipped to input.range.
function noise() {
  const [lo, hi] = page.graph.input.range;
  return Array.from({length: page.graph.input.shape.slice(1).reduce((a, b) => a * b)}, () => {
    const z = Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
    return Math.min(hi, Math.max(lo, z));
  });
}

// One noise vector -> the generated image's intensities 0..1 (H x W x C), drawn as a new tile.
async function generateFrom(values) {
  const {output, ms} = await run(values);
  const [, height, width, channels] = page.graph.output.shape;
  const canvas = document.createElement('canvas');
  Object.assign(canvas, {width, height});
  const ctx = canvas.getContext('2d');
  const image = ctx.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      image.data[4 * i + c] = 255 * output[channels * i + (channels === 1 ? 0 : c)];
    }
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
  return {image: Array.from(output), canvas, ms};
}

async function generate() {
  const results = [];
  for (let i = 0; i < SAMPLES; i++) results.push(await generateFrom(noise()));
  $('samples').replaceChildren(...results.map((r) => r.canvas));
  latency(results.reduce((s, r) => s + r.ms, 0) / results.length);
  return results;
}

// ---- language models: prefill once, then one step per id (signature.json's `loop`) ---------------------------------
async function runSignature(name, feeds) {
  const inputs = page.graph.signatures[name].inputs;
  const tensors = Object.fromEntries(Object.entries(feeds).map(([k, values]) => [k,
    new Tensor(inputs[k].dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values), inputs[k].shape)]));
  const start = performance.now();
  const results = await page.model.run(name, tensors);
  const arrays = Object.fromEntries(Object.entries(results).map(([k, t]) => [k, t.toTypedArray()]));
  const ms = performance.now() - start;
  Object.values(tensors).forEach((t) => t.delete());
  Object.values(results).forEach((t) => t.delete());
  return {arrays, ms};
}

// The next id: the largest probability (temperature 0; the lowest id on a tie), or a draw from the top-k
// probabilities raised to 1 / temperature.
function pick(probabilities, temperature, topK) {
  const p = Float64Array.from(probabilities);
  for (const id of page.graph.loop.never) p[id] = 0;
  if (temperature === 0) return p.indexOf(Math.max(...p));
  const order = Array.from(p.keys()).sort((a, b) => p[b] - p[a]).slice(0, topK > 0 ? topK : p.length);
  const weights = order.map((i) => Math.pow(Math.max(p[i], 1e-30), 1 / temperature));
  let r = Math.random() * weights.reduce((a, b) => a + b, 0);
  for (let j = 0; j < order.length; j++) { r -= weights[j]; if (r <= 0) return order[j]; }
  return order[order.length - 1];
}

async function write(prompt, {words = 20, temperature = 0, topK = 0} = {}) {
  const {loop, input} = page.graph;
  const tokens = standardize(prompt).split(WHITESPACE_RE).filter((s) => s.length);
  if (!tokens.length) throw new Error('the prompt has no words: type a few');
  if (tokens.length > loop.max_length - 1) throw new Error(`the prompt has ${tokens.length} words; the model reads at ` +
    `most ${loop.max_length - 1}`);
  const ids = [loop.start_id, ...tokens.map((s) => page.vocab.get(s) ?? input.text.oov_id)];
  const padded = new Array(loop.max_length).fill(0);
  ids.forEach((id, i) => { padded[i] = id; });
  let {arrays, ms} = await runSignature('prefill', {ids: padded, length: [ids.length]});
  const cache = Object.keys(page.graph.signatures.step.inputs).filter((k) => k !== 'token' && k !== 'position');
  const written = [];
  const stepMs = [];
  for (let position = ids.length; written.length < words && position < loop.max_length; position++) {
    written.push(pick(arrays.probabilities, temperature, topK));
    if (written.length === words || position + 1 === loop.max_length) break;
    const feeds = {token: [written[written.length - 1]], position: [position]};
    cache.forEach((k) => { feeds[k] = arrays[k]; });
    ({arrays, ms} = await runSignature('step', feeds));
    stepMs.push(ms);
  }
  const text = [...tokens, ...written.map((id) => page.words[id])].join(' ');
  const msPerId = stepMs.length ? stepMs.reduce((a, b) => a + b, 0) / stepMs.length : ms;
  $('written').textContent = text;
  latency(msPerId);
  return {ids: written, text, msPerId};
}

// ---- encoder-decoders: the text's characters, prefill once, then one step per character written (greedy) ----------
async function rewrite(text) {
  const {loop, input} = page.graph;
  const length = input.text.sequence_length;
  const characters = Array.from(text);
  if (!characters.length) throw new Error('the text is empty: type a date');
  if (characters.length > length) {
    throw new Error(`the text is ${characters.length} characters; the model reads at most ${length}`);
  }
  const source = new Array(length).fill(input.text.pad_id);
  characters.forEach((c, i) => { source[i] = page.vocab.get(c) ?? loop.unknown_id; });
  let {arrays, ms} = await runSignature('prefill', {source});
  const cache = {...arrays};  // step gives back only the state: the encoding stays prefill's
  const written = [];
  const stepMs = [];
  for (let position = 0; position < loop.max_length; position++) {
    const id = pick(cache.probabilities, 0, 0);
    if (id === loop.end_id || id === input.text.pad_id) break;
    written.push(id);
    const feeds = {token: [id], position: [position]};
    for (const k of Object.keys(page.graph.signatures.step.inputs)) if (!(k in feeds)) feeds[k] = cache[k];
    ({arrays, ms} = await runSignature('step', feeds));
    Object.assign(cache, arrays);
    stepMs.push(ms);
  }
  const output = written.filter((id) => id !== loop.start_id).map((id) => page.words[id]).join('');
  const msPerId = stepMs.length ? stepMs.reduce((a, b) => a + b, 0) / stepMs.length : ms;
  $('rewritten').textContent = output;
  latency(msPerId);
  return {ids: written, text: output, msPerId};
}

function writeFromPanel() {
  return write($('prompt').value || $('prompt').placeholder, {words: Number($('words').value),
    temperature: Number($('temperature').value), topK: Number($('top-k').value)});
}

// ---- start-up ------------------------------------------------------------------------------------------------------
async function fetchOk(url, kind = 'text') {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: ${response.status} ${response.statusText}`);
  return response[kind]();
}

function fail(error) {
  const message = error && error.message ? error.message : String(error);
  $('error').textContent = `Error: ${message}`;
  $('error').hidden = false;
  window.zoo.error = message;
}

// The signature.json format this page reads (export/schemas/signature.schema.json); another is refused, not guessed.
const SIGNATURE_FORMAT = 2;

async function start() {
  const signature = await fetchOk('signature.json', 'json');
  if (signature.format !== SIGNATURE_FORMAT) {
    throw new Error(`signature.json is format ${signature.format ?? '1 (no format field)'}; this page reads format ` +
      `${SIGNATURE_FORMAT}: export the run again with this zoo (python -m export RUN_DIR --web)`);
  }
  const wanted = new URLSearchParams(location.search).get('file');
  Object.assign(page, chooseGraph(signature, wanted));
  checkFeedable(page.file, page.io);
  $('title').textContent = `${signature.recipe}: ${page.name}`;
  $('subtitle').textContent = `${page.file} · ${page.graph.output.meaning || ''}`;
  const picker = $('file');
  for (const name of Object.keys(page.graph.files)) picker.add(new Option(name, name, false, name === page.file));
  $('file-picker').hidden = picker.options.length < 2;
  picker.addEventListener('change', () => { location.search = `?file=${encodeURIComponent(picker.value)}`; });

  await loadLiteRt('./litertjs/wasm/');
  page.model = await loadAndCompile(page.file, {accelerator: 'wasm'});
  if (page.role === 'writer') {
    page.vocab = await loadVocabulary(page.graph.input.text);
    page.words = (await fetchOk(page.graph.loop.vocabulary)).split('\n');
    $('writer-panel').hidden = false;
    $('result-panel').querySelector('#top').hidden = true;
    $('write').addEventListener('click', () => writeFromPanel().catch(fail));
    return writeFromPanel();
  }
  if (page.role === 'rewriter') {
    page.vocab = await vocabularyAt(page.graph.loop.source_vocabulary);
    page.words = (await fetchOk(page.graph.loop.vocabulary)).split('\n');
    $('rewriter-panel').hidden = false;
    $('result-panel').querySelector('#top').hidden = true;
    $('rewrite').addEventListener('click', () => rewrite($('source').value).catch(fail));
    return rewrite($('source').value || $('source').placeholder);
  }
  if (page.role === 'text') {
    page.vocab = await loadVocabulary(page.graph.input.text);
    $('text-panel').hidden = false;
    $('classify').addEventListener('click', () => classifyText($('text').value).catch(fail));
    return classifyText($('text').value || $('text').placeholder);
  }
  if (page.role === 'generator') {
    $('generator-panel').hidden = false;
    $('result-panel').querySelector('#top').hidden = true;
    $('generator-hint').textContent = `Each tile: one standard normal draw of ${page.graph.input.shape[1]} numbers.`;
    $('generate').addEventListener('click', () => generate().catch(fail));
    return generate();
  }
  $('image-panel').hidden = false;
  setUpDrawing();
  return classifyImageData(imageDataOf($('pad')));
}

window.zoo = {classifyImageData, classifyText, tokenize, generateFrom, write, rewrite, page, error: null};
window.zoo.ready = start().then((first) => ({first, readyMs: page.firstPredictionMs}), (error) => {
  fail(error);
  throw error;
});
