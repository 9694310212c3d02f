// arbook's inference core for the browser: the forward step of the exported models and the
// sampling filters, in plain JavaScript (no framework, no dependencies).
//
// A model comes from `arbook.export.export_model`: a JSON header and a binary file of weights
// (little-endian float32, float16, or int8 with a float32 scale per row; see `readTensors`).
// `loadModel(header, buffer)` returns an object with
//
//   * `numClasses`, `symbols` (the text of each symbol, or null) and `stopIndex`;
//   * for sequence models (the character RNNs and GPT): `prefill(tokens)` -> a state whose
//     `logits` are those of the position after `tokens`, and `extend(state, token)` -> the next
//     state (a new object; the one given stays valid for RNNs, not for GPT);
//   * for MADE: `logits(values)` -> one Float64Array of logits per position, and `order`.
//
// The arithmetic is that of the PyTorch modules (the same equations, in float64), so the
// conditionals agree to 1e-5 with PyTorch's for the weights the file holds
// (`arbook.export.rounded_copy(model, dtype)`; tests/js/core.test.mjs). The filters follow
// `arbook.sampling`: temperature, then top-k (exactly k; the lower index wins a tie), then top-p
// (the smallest set of most probable values whose mass reaches p); greedy takes the most
// probable value.

// -- weights -------------------------------------------------------------------------------------

function halfToFloat(h) {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The header versions this reader reads: 1 (float32 and float16 files) and 2 (int8 files). */
export const VERSIONS = [1, 2];

/** The tensors of an exported model, by name: `{shape, data}` with `data` a Float64Array. An
 * entry's `dtype` (in version 1 headers, the file's `dtype` if the entry has none) says how it
 * is stored: float32, float16, or int8 with one float32 scale per row at `scale_offset` (a row
 * is an index along the first dimension; each value is the integer times its row's scale,
 * rounded to float32 as `arbook.export.stored_tensor` does). */
export function readTensors(header, buffer) {
  if (header.format !== "arbook-weights") {
    throw new Error(`not an arbook weights header (format ${header.format})`);
  }
  if (!VERSIONS.includes(header.version)) {
    const known = VERSIONS.join(" and ");
    throw new Error(`arbook weights of version ${header.version}: this reader reads versions ${known} (a newer arbook?)`);
  }
  const bytes = buffer instanceof ArrayBuffer ? buffer : buffer.buffer.slice(buffer.byteOffset, buffer.byteOffset + buffer.byteLength);
  const view = new DataView(bytes);
  const tensors = {};
  for (const entry of header.tensors) {
    const count = entry.shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(count);
    const dtype = entry.dtype ?? header.dtype;
    if (dtype === "float32") {
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(entry.offset + 4 * i, true);
    } else if (dtype === "float16") {
      for (let i = 0; i < count; i++) data[i] = halfToFloat(view.getUint16(entry.offset + 2 * i, true));
    } else if (dtype === "int8") {
      const rows = entry.shape[0];
      const width = rows ? count / rows : 0;
      for (let r = 0; r < rows; r++) {
        const scale = view.getFloat32(entry.scale_offset + 4 * r, true);
        for (let i = r * width; i < (r + 1) * width; i++) {
          data[i] = Math.fround(view.getInt8(entry.offset + i) * scale);
        }
      }
    } else {
      throw new Error(`unknown weight type ${dtype} (tensor ${entry.name})`);
    }
    tensors[entry.name] = { shape: entry.shape, data };
  }
  return tensors;
}

// -- arithmetic ----------------------------------------------------------------------------------

/** `W x + b` for `W [out, in]` stored row by row (as PyTorch's Linear) and `x [in]`. */
function linear(W, b, x, out, inp, offset = 0) {
  const y = new Float64Array(out);
  for (let o = 0; o < out; o++) {
    let s = b ? b[offset + o] : 0;
    const row = (offset + o) * inp;
    for (let i = 0; i < inp; i++) s += W[row + i] * x[i];
    y[o] = s;
  }
  return y;
}

const sigmoid = (v) => 1 / (1 + Math.exp(-v));

function layerNorm(x, gamma, beta, eps = 1e-5) {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i];
  mean /= n;
  let variance = 0;
  for (let i = 0; i < n; i++) variance += (x[i] - mean) ** 2;
  variance /= n;
  const scale = 1 / Math.sqrt(variance + eps);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) y[i] = (x[i] - mean) * scale * gamma[i] + beta[i];
  return y;
}

function gelu(v) {
  // GPT-2's tanh approximation, as nn.GELU(approximate="tanh")
  return 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
}

function row(tensor, index) {
  const width = tensor.shape[tensor.shape.length - 1];
  return tensor.data.subarray(index * width, (index + 1) * width);
}

// -- character RNNs ------------------------------------------------------------------------------

function charRNN(header, t) {
  const cfg = header.config;
  const cell = cfg.cell;
  const layers = cfg.num_layers;
  const H = cfg.hidden_size;
  const gates = { rnn: 1, gru: 3, lstm: 4 }[cell];
  const K = header.num_classes;

  function step(input, state) {
    const h = [];
    const c = [];
    let x = input;
    for (let l = 0; l < layers; l++) {
      const Wi = t[`rnn.weight_ih_l${l}`].data;
      const Wh = t[`rnn.weight_hh_l${l}`].data;
      const bi = t[`rnn.bias_ih_l${l}`].data;
      const bh = t[`rnn.bias_hh_l${l}`].data;
      const gi = linear(Wi, bi, x, gates * H, x.length);
      const gh = linear(Wh, bh, state.h[l], gates * H, H);
      const hNew = new Float64Array(H);
      if (cell === "rnn") {
        for (let j = 0; j < H; j++) hNew[j] = Math.tanh(gi[j] + gh[j]);
      } else if (cell === "gru") {
        // gates in PyTorch's order: reset, update, new
        for (let j = 0; j < H; j++) {
          const r = sigmoid(gi[j] + gh[j]);
          const z = sigmoid(gi[H + j] + gh[H + j]);
          const n = Math.tanh(gi[2 * H + j] + r * gh[2 * H + j]);
          hNew[j] = (1 - z) * n + z * state.h[l][j];
        }
      } else {
        // input, forget, cell, output
        const cNew = new Float64Array(H);
        for (let j = 0; j < H; j++) {
          const i = sigmoid(gi[j] + gh[j]);
          const f = sigmoid(gi[H + j] + gh[H + j]);
          const g = Math.tanh(gi[2 * H + j] + gh[2 * H + j]);
          const o = sigmoid(gi[3 * H + j] + gh[3 * H + j]);
          cNew[j] = f * state.c[l][j] + i * g;
          hNew[j] = o * Math.tanh(cNew[j]);
        }
        c.push(cNew);
      }
      h.push(hNew);
      x = hNew;
    }
    const logits = linear(t["head.weight"].data, t["head.bias"].data, x, K, H);
    return { h, c, logits };
  }

  const initial = {
    h: Array.from({ length: layers }, (_, l) => Float64Array.from(t.h0.data.subarray(l * H, (l + 1) * H))),
    c: cell === "lstm" ? Array.from({ length: layers }, (_, l) => Float64Array.from(t.c0.data.subarray(l * H, (l + 1) * H))) : [],
  };
  const embed = t["embed.weight"];

  return {
    prefill(tokens) {
      let state = step(t.start.data, initial);
      for (const token of tokens) state = step(row(embed, token), state);
      return state;
    },
    extend(state, token) {
      return step(row(embed, token), state);
    },
  };
}

// -- GPT -----------------------------------------------------------------------------------------

function gpt(header, t) {
  const cfg = header.config;
  const C = cfg.embed_dim;
  const heads = cfg.num_heads;
  const d = C / heads;
  const block = cfg.block_size;
  const stride = cfg.stride;
  const layers = cfg.num_layers;
  const K = header.num_classes;
  const wte = t["wte.weight"];
  const wpe = t["wpe.weight"];
  const p = (l, name) => t[`blocks.${l}.${name}`].data;

  // where the window that predicts x_t starts in s = (start, x_0, x_1, ...), as GPT.window_start
  const windowStart = (position) =>
    position < block ? 0 : stride * (Math.floor((position - block) / stride) + 1);

  // One new position of the window (input features x [C]) through every block, appending its
  // keys and values to the caches; returns the logits read there.
  function append(x, caches) {
    for (let l = 0; l < layers; l++) {
      const u = layerNorm(x, p(l, "ln1.weight"), p(l, "ln1.bias"));
      const qkv = linear(p(l, "attn.qkv.weight"), p(l, "attn.qkv.bias"), u, 3 * C, C);
      caches[l].keys.push(qkv.slice(C, 2 * C));
      caches[l].values.push(qkv.slice(2 * C, 3 * C));
      const y = new Float64Array(C);
      const n = caches[l].keys.length;
      for (let h = 0; h < heads; h++) {
        const scores = new Float64Array(n);
        let max = -Infinity;
        for (let j = 0; j < n; j++) {
          let s = 0;
          const key = caches[l].keys[j];
          for (let i = 0; i < d; i++) s += qkv[h * d + i] * key[h * d + i];
          scores[j] = s / Math.sqrt(d);
          if (scores[j] > max) max = scores[j];
        }
        let total = 0;
        for (let j = 0; j < n; j++) total += (scores[j] = Math.exp(scores[j] - max));
        for (let j = 0; j < n; j++) {
          const weight = scores[j] / total;
          const value = caches[l].values[j];
          for (let i = 0; i < d; i++) y[h * d + i] += weight * value[h * d + i];
        }
      }
      const attended = linear(p(l, "attn.proj.weight"), p(l, "attn.proj.bias"), y, C, C);
      for (let i = 0; i < C; i++) x[i] += attended[i];
      const v = layerNorm(x, p(l, "ln2.weight"), p(l, "ln2.bias"));
      const hidden = linear(p(l, "mlp.0.weight"), p(l, "mlp.0.bias"), v, 4 * C, C).map(gelu);
      const out = linear(p(l, "mlp.2.weight"), p(l, "mlp.2.bias"), hidden, C, 4 * C);
      for (let i = 0; i < C; i++) x[i] += out[i];
    }
    const z = layerNorm(x, t["ln_f.weight"].data, t["ln_f.bias"].data);
    return linear(wte.data, null, z, K, C); // tied weights: the transposed input embedding
  }

  // The input features of s_j in the window that starts at w.
  function input(tokens, j, w) {
    const x = Float64Array.from(j === 0 ? t.start.data : row(wte, tokens[j - 1]));
    const position = row(wpe, j - w);
    for (let i = 0; i < C; i++) x[i] += position[i];
    return x;
  }

  // The logits of x_t, t = tokens.length, continuing `state` (its caches hold s_w .. s_{t-1}
  // of the current window) or reading the new window whole when it slides.
  function next(tokens, state) {
    const position = tokens.length;
    const w = windowStart(position);
    let caches = state ? state.caches : null;
    let logits;
    if (!state || w !== state.start) {
      caches = Array.from({ length: layers }, () => ({ keys: [], values: [] }));
      for (let j = w; j <= position; j++) logits = append(input(tokens, j, w), caches);
    } else {
      logits = append(input(tokens, position, w), caches);
    }
    return { tokens, start: w, caches, logits };
  }

  return {
    windowStart,
    prefill(tokens) {
      return next(Array.from(tokens), null);
    },
    extend(state, token) {
      return next([...state.tokens, token], state);
    },
  };
}

// -- MADE ----------------------------------------------------------------------------------------

function made(header, t) {
  const cfg = header.config;
  const D = cfg.num_inputs;
  const K = header.num_classes;
  const count = cfg.hidden_sizes.length + 1;
  const order = Array.from(t.order.data, Math.round);
  return {
    order,
    logits(values) {
      let x;
      if (K === 2) {
        x = Float64Array.from(values);
      } else {
        x = new Float64Array(D * K);
        values.forEach((v, i) => (x[i * K + v] = 1));
      }
      for (let l = 0; l < count; l++) {
        const W = t[`layers.${l}.weight`];
        x = linear(W.data, t[`layers.${l}.bias`].data, x, W.shape[0], W.shape[1]);
        if (l < count - 1) x = x.map((v) => Math.max(v, 0));
      }
      return Array.from({ length: D }, (_, i) => x.slice(i * K, (i + 1) * K));
    },
  };
}

/** A model from its exported header (parsed JSON) and weights (ArrayBuffer or Uint8Array). */
export function loadModel(header, buffer) {
  const tensors = readTensors(header, buffer);
  const build = { CharRNN: charRNN, GPT: gpt, MADE: made }[header.model];
  if (!build) throw new Error(`the core runs CharRNN, GPT and MADE, not ${header.model}`);
  return {
    kind: header.model,
    numClasses: header.num_classes,
    stopIndex: header.stop_index,
    symbols: header.symbols,
    config: header.config,
    metadata: header.metadata,
    ...build(header, tensors),
  };
}

// -- sampling ------------------------------------------------------------------------------------

/** Check sampling options and fill in the defaults; throws an Error that names a bad one. */
export function checkOptions({ temperature = 1, topK = null, topP = null, greedy = false } = {}) {
  if (!(Number.isFinite(temperature) && temperature > 0)) {
    throw new Error(`temperature must be a finite number > 0, got ${temperature}`);
  }
  if (topK !== null && !(Number.isInteger(topK) && topK >= 1)) {
    throw new Error(`topK must be an integer >= 1 or null, got ${topK}`);
  }
  if (topP !== null && !(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`);
  return { temperature, topK, topP, greedy: Boolean(greedy) };
}

/** Indices of `values` from the largest down; equal values keep their index order. */
function descending(values) {
  return Array.from(values.keys()).sort((a, b) => values[b] - values[a] || a - b);
}

export function softmax(logits) {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  const p = Float64Array.from(logits, (v) => Math.exp(v - max));
  const total = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / total);
}

/** Temperature, top-k and top-p applied to `logits`: removed values become -Infinity (as
 * `arbook.sampling.filter_logits`; the logits are shifted so that the largest is 0 first,
 * which changes no probability and never overflows). */
export function filterLogits(logits, options = {}) {
  const { temperature, topK, topP } = checkOptions(options);
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let out = Float64Array.from(logits, (v) => (v - max) / temperature);
  const K = out.length;
  if (topK !== null && topK < K) {
    const kept = new Float64Array(K).fill(-Infinity);
    for (const i of descending(out).slice(0, topK)) kept[i] = out[i];
    out = kept;
  }
  if (topP !== null && topP < 1) {
    const order = descending(out);
    const p = softmax(out);
    let before = 0;
    order.forEach((i, rank) => {
      if (rank > 0 && before >= topP) out[i] = -Infinity;
      before += p[i];
    });
  }
  return out;
}

/** The distribution each value is drawn from: the filtered softmax, or with `greedy` all the
 * mass on the most probable value (the lowest index among equals). */
export function probabilities(logits, options = {}) {
  const checked = checkOptions(options);
  if (checked.greedy) {
    const p = new Float64Array(logits.length);
    p[descending(logits)[0]] = 1;
    return p;
  }
  return softmax(filterLogits(logits, checked));
}

/** A seeded generator of uniform numbers in [0, 1) (mulberry32). */
export function generator(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** One value drawn from the distribution `probs` with the uniform generator `random`. */
export function draw(probs, random) {
  const u = random();
  let total = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] > 0) {
      total += probs[i];
      last = i;
      if (u < total) return i;
    }
  }
  return last;
}

/** Generate `length` symbols after `prompt` with a sequence model; returns every step's
 * position, logits (before filters), distribution (after) and the symbol drawn. Stops after
 * the stop marker. */
export function generate(model, prompt, length, options = {}, seed = 0) {
  const checked = checkOptions(options);
  const random = generator(seed);
  const tokens = Array.from(prompt);
  const steps = [];
  let state = model.prefill(tokens);
  for (let i = 0; i < length; i++) {
    const probs = probabilities(state.logits, checked);
    const token = checked.greedy ? probs.indexOf(1) : draw(probs, random);
    steps.push({ position: tokens.length, logits: state.logits, probs, token });
    tokens.push(token);
    if (token === model.stopIndex || i + 1 === length) break;
    state = model.extend(state, token);
  }
  return { tokens, steps };
}
