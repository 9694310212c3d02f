// The masks explorer: choose the number of inputs, the order, the hidden sizes, how hidden
// degrees are chosen and a seed; see MADE's degrees, the mask of every layer and the
// connectivity (the number of paths from each input to each output), recomputed in the page
// with the arithmetic of `arbook.masks` (masks.mjs). An anywidget module: `render({ model, el })`.
//
// Settings: num_inputs, hidden_sizes ("10, 10"), order ("natural", "reversed", "random"),
// degrees ("random", "sequential"), seed. What it writes back: order_values, degree_values,
// masks, connectivity, message and error.

import { generator } from "./core.mjs";
import { allowed, connectivity, madeDegrees, madeMasks } from "./masks.mjs";
import { addStyle, choice, element, setValue, slider, textField } from "./ui.mjs";

/** `"12, 10"` -> [12, 10] (an empty text: no hidden layers), with the limits of
 * `arbook.widgets.parse_sizes`; throws an Error that says what is wrong. */
export function parseSizes(text) {
  const parts = text.replace(/;/g, ",").split(",").map((p) => p.trim()).filter((p) => p);
  if (!parts.every((p) => /^[+-]?\d+$/.test(p))) {
    throw new Error(`hidden sizes must be whole numbers separated by commas, got ${JSON.stringify(text)}`);
  }
  const sizes = parts.map(Number);
  if (sizes.some((s) => s < 1 || s > 256)) throw new Error(`each hidden size must be between 1 and 256, got [${sizes.join(", ")}]`);
  if (sizes.length > 4) throw new Error(`at most 4 hidden layers in the explorer, got ${sizes.length}`);
  return sizes;
}

/** The order of the inputs: natural, reversed, or a uniformly random permutation. */
function inputOrder(kind, count, random) {
  const order = Array.from({ length: count }, (_, i) => i);
  if (kind === "reversed") return order.reverse();
  if (kind === "random") {
    for (let i = count - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
  }
  return order;
}

function grid(matrix, className, cell) {
  const node = element("div", `x-grid ${className}`);
  node.style.gridTemplateColumns = `repeat(${matrix[0].length}, auto)`;
  matrix.forEach((row, i) => row.forEach((value, j) => node.append(cell(value, i, j))));
  return node;
}

function render({ model, el }) {
  addStyle();
  const root = element("div", "arbook-x arbook-masks");
  const first = element("div", "x-row");
  first.append(
    slider(model, "num_inputs", "inputs D", { min: 2, max: 16 }),
    choice(model, "order", "order", ["natural", "reversed", "random"]),
    textField(model, "hidden_sizes", "hidden sizes"),
  );
  const second = element("div", "x-row");
  second.append(
    choice(model, "degrees", "hidden degrees", ["random", "sequential"]),
    slider(model, "seed", "seed", { min: 0, max: 50 }),
  );
  const status = element("div", "x-status");
  const layers = element("div", "x-grids");
  const note = element("div", "x-note");
  note.textContent =
    "Each grid is a mask [outputs \u00d7 inputs] (dark: connected). The last grid counts the " +
    "paths from input j (column) to output i (row); shaded cells are the pairs the order " +
    "forbids, so a causal network never writes a number there.";
  root.append(first, second, status, layers, note);
  el.replaceChildren(root);

  function update() {
    let sizes;
    try {
      sizes = parseSizes(model.get("hidden_sizes"));
    } catch (error) {
      status.className = "x-status x-error";
      status.textContent = `error: ${error.message}`;
      setValue(model, "error", error.message);
      return;
    }
    const D = model.get("num_inputs");
    const random = generator(model.get("seed"));
    const order = inputOrder(model.get("order"), D, random);
    const degrees = madeDegrees(order, sizes, model.get("degrees"), random);
    const masks = madeMasks(degrees);
    const paths = connectivity(masks);
    const allow = allowed(order);
    let causal = true;
    let connected = 0;
    paths.forEach((row, i) => row.forEach((v, j) => {
      if (v > 0 && !allow[i][j]) causal = false;
      if (v > 0) connected += 1;
    }));
    const message =
      `order [${order.join(", ")}]: ${causal ? "causal" : "NOT causal"}; ` +
      `${connected} of ${(D * (D - 1)) / 2} allowed input-output dependencies are connected`;
    status.className = "x-status";
    status.textContent = message;

    layers.replaceChildren();
    masks.forEach((mask, l) => {
      const box = element("div");
      const last = l === masks.length - 1;
      box.append(element("div", "x-chart-title", `${last ? "output" : `hidden ${l + 1}`} mask ${mask.length} \u00d7 ${mask[0].length}`));
      box.append(grid(mask, "x-mask", (v) => element("div", v ? "x-cell x-on" : "x-cell")));
      layers.append(box);
    });
    const top = Math.max(1, ...paths.flat());
    const box = element("div", "x-conn");
    box.append(element("div", "x-chart-title", "paths from input j to output i"));
    box.append(grid(paths, "x-connectivity", (v, i, j) => {
      const cell = element("div", allow[i][j] ? "x-cell" : "x-cell x-forbidden", v ? String(v) : "");
      cell.dataset.paths = String(v);
      if (v) cell.style.background = `rgba(55, 71, 79, ${0.25 + (0.75 * v) / top})`;
      return cell;
    }));
    layers.append(box);
    if (!root.dataset.firstDrawMs) root.dataset.firstDrawMs = String(performance.now());

    model.set("error", "");
    model.set("order_values", order);
    model.set("degree_values", degrees);
    model.set("masks", masks);
    model.set("connectivity", paths);
    model.set("message", message);
    model.save_changes();
  }

  for (const name of ["num_inputs", "hidden_sizes", "order", "degrees", "seed"]) model.on(`change:${name}`, update);
  update();
  return () => el.replaceChildren();
}

export default { render };
