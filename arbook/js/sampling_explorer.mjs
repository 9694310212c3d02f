// The sampling explorer: a sequence model exported by `arbook.export` generates a text after a
// prompt with a temperature, top-k and top-p, and the reader steps through the conditionals
// p(x_t | x_<t): the model's own (before the filters) and the one the symbol was drawn from
// (after), with the chosen symbol marked. An anywidget module: `render({ model, el })`.
//
// Settings (the model's values): header, weights, prompt, temperature, top_k (0: off), top_p
// (1: off), seed, length, step. What it writes back: text, tokens, steps (per generated
// symbol: position, probs, filtered, token), error and ms_per_symbol.

import { generate, loadModel, softmax } from "./core.mjs";
import { addStyle, barChart, element, setValue, slider, textField } from "./ui.mjs";

const VISIBLE = { " ": "\u2423", "\n": "\u21b5", "\t": "\u21e5" };
const visible = (symbol) => VISIBLE[symbol] ?? symbol;

/** Most symbols the charts show one by one; the rest share one bar. */
const MAX_BARS = 40;

/** The prompt as symbol indices; throws an Error that names a character the model lacks. */
function encodePrompt(text, symbols, stopIndex) {
  const index = new Map(symbols.map((s, i) => [s, i]));
  const tokens = [];
  for (const character of text) {
    if (!index.has(character)) {
      throw new Error(`the prompt has ${JSON.stringify(character)}, which is not one of the model's symbols`);
    }
    tokens.push(index.get(character));
  }
  if (stopIndex !== null && tokens.includes(stopIndex)) {
    throw new Error(`the prompt contains the end marker ${JSON.stringify(symbols[stopIndex])}, so the text would already be finished`);
  }
  return tokens;
}

/** The sampling options of the settings, in the core's terms. */
function options(model) {
  const k = model.get("top_k");
  const p = model.get("top_p");
  return { temperature: model.get("temperature"), topK: k > 0 ? k : null, topP: p < 1 ? p : null };
}

/** The bars of one step: every symbol when there are few, else the most probable ones and one
 * bar for the rest, so that the bars of each chart always sum to 1. */
function bars(record, labels, which) {
  const K = record.probs.length;
  let shown = Array.from({ length: K }, (_, i) => i);
  if (K > MAX_BARS) {
    shown = shown.sort((a, b) => record.probs[b] - record.probs[a] || a - b).slice(0, MAX_BARS - 1);
    if (!shown.includes(record.token)) shown[shown.length - 1] = record.token;
    shown.sort((a, b) => record.probs[b] - record.probs[a] || a - b);
  }
  const values = record[which];
  const out = shown.map((i) => ({
    index: i,
    label: labels[i],
    p: values[i],
    className: i === record.token ? "x-chosen" : which === "filtered" && values[i] === 0 ? "x-removed" : "",
  }));
  if (K > shown.length) {
    const inShown = new Set(shown);
    let rest = 0;
    for (let i = 0; i < K; i++) if (!inShown.has(i)) rest += values[i];
    out.push({ index: -1, label: "\u2026", p: rest, className: "x-rest" });
  }
  return out;
}

function render({ model, el }) {
  addStyle();
  const header = model.get("header");
  const net = loadModel(header, model.get("weights"));
  if (!net.symbols) throw new Error("the sampling explorer needs a model exported with its symbols");
  const labels = net.symbols.map(visible);
  const K = net.numClasses;

  const root = element("div", "arbook-x arbook-sampling");
  const fmt = (v) => v.toFixed(2);
  const controls = element("div", "x-row");
  const seed = element("label");
  const seedInput = element("input");
  Object.assign(seedInput, { type: "number", name: "seed", min: 0, max: 1000000, step: 1, value: model.get("seed") });
  seedInput.addEventListener("change", () => setValue(model, "seed", Math.max(0, Math.round(Number(seedInput.value) || 0))));
  model.on("change:seed", () => (seedInput.value = model.get("seed")));
  seed.append("seed", seedInput);
  controls.append(textField(model, "prompt", "prompt", { multiline: net.symbols.includes("\n") }), seed);
  const filters = element("div", "x-row");
  filters.append(
    slider(model, "temperature", "temperature", { min: 0.1, max: 2, step: 0.05, show: fmt }),
    slider(model, "top_k", "top-k", { min: 0, max: K, step: 1, show: (v) => (v > 0 ? String(v) : "off") }),
    slider(model, "top_p", "top-p", { min: 0.05, max: 1, step: 0.05, show: (v) => (v < 1 ? fmt(v) : "off") }),
  );
  const stepRow = element("div", "x-row");
  const stepSlider = slider(model, "step", "step", { min: 0, max: 1, step: 1 });
  stepRow.append(stepSlider);
  const status = element("div", "x-status");
  const text = element("div", "x-text");
  const detail = element("div", "x-status");
  const charts = element("div", "x-charts");
  const before = element("div", "x-chart x-before");
  const after = element("div", "x-chart x-after");
  charts.append(before, after);
  const note = element("div", "x-note");
  root.append(controls, filters, stepRow, status, text, detail, charts, note);
  el.replaceChildren(root);

  let result = null; // the last valid generation: {tokens, steps, numPrompt}

  function generateText() {
    let tokens;
    let opts;
    try {
      tokens = encodePrompt(model.get("prompt"), net.symbols, net.stopIndex);
      opts = options(model);
      const start = performance.now();
      const out = generate(net, tokens, model.get("length"), opts, model.get("seed"));
      const elapsed = performance.now() - start;
      result = { ...out, numPrompt: tokens.length, options: opts, ms: elapsed / out.steps.length };
    } catch (error) {
      status.className = "x-status x-error";
      status.textContent = `error: ${error.message}`;
      setValue(model, "error", error.message);
      return;
    }
    const steps = result.steps.map((s) => ({
      position: s.position,
      token: s.token,
      probs: Array.from(softmax(s.logits)),
      filtered: Array.from(s.probs),
    }));
    result.records = steps;
    let logp = 0;
    for (const s of steps) logp += Math.log(s.probs[s.token]);
    const generated = result.tokens.slice(tokens.length).map((t) => net.symbols[t]).join("");
    const ended = net.stopIndex !== null && result.tokens.at(-1) === net.stopIndex;
    const tail = ended || net.stopIndex === null ? "" : ` (no end marker within ${model.get("length")})`;
    status.className = "x-status";
    status.textContent =
      `${steps.length} symbol${steps.length === 1 ? "" : "s"} generated${tail}; ` +
      `log p = ${logp.toFixed(2)} nats under the model`;
    note.textContent = `${result.ms.toFixed(2)} ms per symbol in this browser`;
    note.dataset.msPerSymbol = String(result.ms);
    model.set("error", "");
    model.set("text", model.get("prompt") + generated);
    model.set("tokens", result.tokens);
    model.set("steps", steps);
    model.set("ms_per_symbol", result.ms);
    model.save_changes();
    stepSlider.querySelector("input").max = Math.max(steps.length - 1, 1);
    if (model.get("step") > steps.length - 1) setValue(model, "step", steps.length - 1);
  }

  function draw() {
    if (!result) return;
    const records = result.records;
    const selected = Math.min(Math.max(model.get("step"), 0), records.length - 1);
    const record = records[selected];
    text.replaceChildren();
    result.tokens.forEach((token, i) => {
      const generatedAt = i - result.numPrompt;
      const span = element("span", generatedAt < 0 ? "x-prompt" : "x-generated", visible(net.symbols[token]));
      if (generatedAt >= 0) {
        span.dataset.step = String(generatedAt);
        span.addEventListener("click", () => setValue(model, "step", generatedAt));
        if (generatedAt === selected) span.classList.add("x-selected");
      }
      text.append(span);
    });
    const prefix = result.tokens.slice(0, record.position).map((t) => net.symbols[t]).join("");
    const kept = record.filtered.filter((v) => v > 0).length;
    detail.textContent =
      `step ${selected}: after ${JSON.stringify(prefix)} drew ${JSON.stringify(net.symbols[record.token])}, ` +
      `p = ${record.probs[record.token].toFixed(3)} under the model; ${kept} of ${K} symbols kept`;
    barChart(before, "the model's p(x_t | x_<t)", bars(record, labels, "probs"));
    const o = result.options;
    const settings = `temperature ${o.temperature}, top-k ${o.topK ?? "off"}, top-p ${o.topP ?? "off"}`;
    barChart(after, `sampled from, after the filters (${settings})`, bars(record, labels, "filtered"));
    root.dataset.step = String(selected);
    if (!root.dataset.firstBarsMs) root.dataset.firstBarsMs = String(performance.now());
  }

  const update = () => {
    generateText();
    draw();
  };
  for (const name of ["prompt", "temperature", "top_k", "top_p", "seed", "length"]) {
    model.on(`change:${name}`, update);
  }
  model.on("change:step", draw);
  update();
  return () => el.replaceChildren();
}

export default { render };
