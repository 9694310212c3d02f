// The controls and charts the explorers share, in plain DOM (no framework). Every explorer
// keeps its settings in an anywidget-style model (`get`, `set`, `save_changes`, `on`): in
// Jupyter that is the widget's model, synced with Python; in a static page of the book it is
// a plain object made by the page loader. The controls here write to that model, and the
// explorer redraws when it changes.

const STYLE = `
.arbook-x { font: 14px/1.4 system-ui, sans-serif; color: #222; background: #fff;
  border: 1px solid #ddd; border-radius: 6px; padding: 10px 12px; max-width: 860px; }
.arbook-x .x-row { display: flex; flex-wrap: wrap; gap: 6px 18px; align-items: center;
  margin: 4px 0; }
.arbook-x label { display: inline-flex; gap: 6px; align-items: center; }
.arbook-x input[type=range] { width: 130px; }
.arbook-x input[type=text], .arbook-x textarea { width: 150px; font-family: monospace; }
.arbook-x input[type=number] { width: 64px; }
.arbook-x .x-value { font-family: monospace; min-width: 3.2em; display: inline-block; }
.arbook-x .x-status { margin: 6px 0; min-height: 1.4em; }
.arbook-x .x-error { color: #b00; font-weight: bold; }
.arbook-x .x-note { color: #666; font-size: 12px; }
.arbook-x .x-text { font-family: monospace; font-size: 16px; white-space: pre-wrap;
  word-break: break-all; margin: 6px 0; }
.arbook-x .x-text span { padding: 1px 1px; border-radius: 3px; }
.arbook-x .x-text .x-prompt { color: #888; }
.arbook-x .x-text .x-generated { cursor: pointer; }
.arbook-x .x-text .x-selected { background: #ffd54f; outline: 1px solid #c79a00; }
.arbook-x .x-charts { display: flex; flex-direction: column; gap: 8px; }
.arbook-x .x-chart-title { font-size: 12px; color: #444; margin-bottom: 2px; }
.arbook-x .x-bars { display: flex; align-items: flex-end; height: 110px; gap: 1px;
  border-bottom: 1px solid #999; }
.arbook-x .x-bar { flex: 1 1 0; min-width: 6px; display: flex; flex-direction: column;
  justify-content: flex-end; height: 100%; position: relative; }
.arbook-x .x-fill { background: #6b8fc7; width: 100%; }
.arbook-x .x-bar.x-chosen .x-fill { background: #e65100; }
.arbook-x .x-bar.x-removed .x-fill { background: #ccc; }
.arbook-x .x-labels { display: flex; gap: 1px; font: 11px monospace; }
.arbook-x .x-labels span { flex: 1 1 0; min-width: 6px; text-align: center; overflow: hidden; }
.arbook-x .x-labels span.x-chosen { color: #e65100; font-weight: bold; }
.arbook-x .x-grids { display: flex; flex-wrap: wrap; gap: 14px; align-items: flex-start; }
.arbook-x .x-grid { display: grid; gap: 1px; background: #eee; padding: 1px; }
.arbook-x .x-cell { width: 9px; height: 9px; background: #fff; }
.arbook-x .x-cell.x-on { background: #37474f; }
.arbook-x .x-cell.x-forbidden { background: #fbe9e7; }
.arbook-x .x-conn .x-cell { width: 16px; height: 16px; font: 9px/16px monospace;
  text-align: center; color: #fff; }
`;

/** Add the explorers' style sheet to the document once. */
export function addStyle(doc = document) {
  if (doc.getElementById("arbook-explorer-style")) return;
  const style = doc.createElement("style");
  style.id = "arbook-explorer-style";
  style.textContent = STYLE;
  doc.head.appendChild(style);
}

/** An element with a class and optional text. */
export function element(tag, className = "", text = "") {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text) node.textContent = text;
  return node;
}

/** Write `value` to the model's setting `name`, as a Jupyter front end does. */
export function setValue(model, name, value) {
  model.set(name, value);
  model.save_changes();
}

/** A labelled range input bound to the model's setting `name`; `show` formats its value
 * (`off` values are written by the caller's format). Returns the label element. */
export function slider(model, name, text, { min, max, step = 1, show = String }) {
  const label = element("label");
  label.append(text);
  const input = element("input");
  Object.assign(input, { type: "range", min, max, step, name });
  input.value = model.get(name);
  const value = element("span", "x-value", show(Number(input.value)));
  input.addEventListener("input", () => {
    value.textContent = show(Number(input.value));
    setValue(model, name, Number(input.value));
  });
  model.on(`change:${name}`, () => {
    if (Number(input.value) !== model.get(name)) input.value = model.get(name);
    value.textContent = show(Number(model.get(name)));
  });
  label.append(input, value);
  return label;
}

/** A labelled text input bound to the setting `name`, written when Enter is pressed or the
 * field loses focus; `multiline` makes it a text area (Enter types a line break, the text is
 * written when the field loses focus). */
export function textField(model, name, text, { multiline = false } = {}) {
  const label = element("label");
  label.append(text);
  const input = element(multiline ? "textarea" : "input");
  if (multiline) input.rows = 2;
  else input.type = "text";
  Object.assign(input, { name, value: model.get(name), spellcheck: false });
  input.addEventListener("change", () => setValue(model, name, input.value));
  model.on(`change:${name}`, () => {
    if (input.value !== model.get(name)) input.value = model.get(name);
  });
  label.append(input);
  return label;
}

/** A labelled drop-down list bound to the setting `name`. */
export function choice(model, name, text, options) {
  const label = element("label");
  label.append(text);
  const select = element("select");
  select.name = name;
  for (const option of options) select.append(new Option(option, option));
  select.value = model.get(name);
  select.addEventListener("change", () => setValue(model, name, select.value));
  model.on(`change:${name}`, () => (select.value = model.get(name)));
  label.append(select);
  return label;
}

/** A bar chart of the probabilities `bars` ({label, p, index, className}) drawn into `node`;
 * the tallest bar sets the scale. Each bar carries its probability in `data-p`. */
export function barChart(node, title, bars) {
  node.replaceChildren();
  node.append(element("div", "x-chart-title", title));
  const area = element("div", "x-bars");
  const labels = element("div", "x-labels");
  const top = Math.max(...bars.map((b) => b.p), 1e-12);
  for (const bar of bars) {
    const column = element("div", `x-bar ${bar.className || ""}`);
    column.dataset.p = String(bar.p);
    column.dataset.index = String(bar.index);
    column.title = `${bar.label}: p = ${bar.p.toFixed(4)}`;
    const fill = element("div", "x-fill");
    fill.style.height = `${(100 * bar.p) / top}%`;
    column.append(fill);
    area.append(column);
    labels.append(element("span", bar.className || "", bar.label));
  }
  node.append(area, labels);
}
