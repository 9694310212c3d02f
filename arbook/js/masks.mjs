// MADE's degrees and masks in the page, as arbook.masks computes them (pure arithmetic, no
// weights): the inputs get degrees 1..D in the order, each hidden unit a degree in
// [min(previous), D - 1], a hidden connection is kept where d_out >= d_in and an output one
// where d_out > d_in; the product of the masks counts the paths from each input to each output.
// Masks are arrays of rows, [n_out][n_in] of 0/1, like torch.nn.Linear.weight.

/** Throws unless `order` is a permutation of 0..D-1. */
export function checkOrder(order) {
  const sorted = [...order].sort((a, b) => a - b);
  if (!sorted.every((v, i) => v === i)) {
    throw new Error(`order must be a permutation of 0..${order.length - 1}, got ${order.join(", ")}`);
  }
  return order;
}

/** Input order[k] gets degree k + 1. */
export function inputDegrees(order) {
  checkOrder(order);
  const degrees = new Array(order.length);
  order.forEach((input, k) => (degrees[input] = k + 1));
  return degrees;
}

/** Degrees of a hidden layer of `size` units after a layer with degrees `previous`:
 * "sequential" cycles through [min(previous), D - 1] (as arbook.masks.hidden_degrees);
 * "random" draws them uniformly with `random`, a generator of numbers in [0, 1). */
export function hiddenDegrees(size, numInputs, previous, method = "sequential", random = Math.random) {
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`a hidden layer needs at least one unit, got ${size}`);
  if (numInputs < 2) throw new Error("MADE hidden layers need at least 2 inputs");
  const low = Math.min(Math.min(...previous), numInputs - 1);
  const span = numInputs - low;
  if (method === "sequential") return Array.from({ length: size }, (_, i) => low + (i % span));
  if (method === "random") return Array.from({ length: size }, () => low + Math.floor(random() * span));
  throw new Error(`unknown degree method ${method}; choose "random" or "sequential"`);
}

/** [d_input, d_hidden_1, ...] for an order and hidden sizes. */
export function madeDegrees(order, hiddenSizes, method = "sequential", random = Math.random) {
  const degrees = [inputDegrees(order)];
  for (const size of hiddenSizes) degrees.push(hiddenDegrees(size, order.length, degrees.at(-1), method, random));
  return degrees;
}

/** The masks of every layer: hidden ones d_out >= d_in, the output one d_out > d_in. */
export function madeMasks(degrees) {
  if (degrees.length < 1) throw new Error("need at least the input degrees");
  const mask = (dIn, dOut, strict) => dOut.map((o) => dIn.map((i) => (strict ? o > i : o >= i) ? 1 : 0));
  const masks = [];
  for (let l = 1; l < degrees.length; l++) masks.push(mask(degrees[l - 1], degrees[l], false));
  masks.push(mask(degrees.at(-1), degrees[0], true));
  return masks;
}

/** The product of the masks, M_L ... M_1: entry [i][j] counts the paths from input j to output i. */
export function connectivity(masks) {
  let result = masks[0].map((r) => [...r]);
  for (const m of masks.slice(1)) {
    if (m[0].length !== result.length) throw new Error("masks do not chain");
    result = m.map((r) => result[0].map((_, j) => r.reduce((s, v, k) => s + v * result[k][j], 0)));
  }
  return result;
}

/** [i][j] true where input j comes before output i in the order. */
export function allowed(order) {
  const d = inputDegrees(order);
  return d.map((di) => d.map((dj) => di > dj));
}
