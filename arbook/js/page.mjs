// What a static page of the book needs to show an explorer without Jupyter: a model object
// with the part of the anywidget model interface the explorers use (`get`, `set`, `on`, `off`,
// `save_changes`), filled from the values the page carries, and the weights decoded from base64.
// `arbook.bundle.static_html` writes the page's markup and a classic script that calls `mount`.

/** The bytes of a base64 text, as a DataView (what anywidget gives for a bytes setting). */
export function base64Bytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new DataView(bytes.buffer);
}

/** An anywidget-style model over `values`: `set` notifies the `change:NAME` listeners at once,
 * as a Jupyter widget model does in the front end. */
export function staticModel(values) {
  const listeners = new Map();
  return {
    get: (name) => values[name],
    set(name, value) {
      if (Object.is(values[name], value)) return;
      values[name] = value;
      for (const callback of [...(listeners.get(`change:${name}`) ?? [])]) callback();
    },
    on(event, callback) {
      if (!listeners.has(event)) listeners.set(event, []);
      listeners.get(event).push(callback);
    },
    off(event, callback) {
      if (!event) return listeners.clear();
      listeners.set(event, (listeners.get(event) ?? []).filter((c) => callback && c !== callback));
    },
    save_changes() {},
    send() {},
  };
}

/** Show `explorer` in the element `id`, from the JSON values in the element `id-values`
 * (bytes settings given as {"base64": ...}). Returns the model, which a test can drive. */
export function mount(explorer, id) {
  const el = document.getElementById(id);
  const values = JSON.parse(document.getElementById(`${id}-values`).textContent);
  for (const [name, value] of Object.entries(values)) {
    if (value && typeof value === "object" && typeof value.base64 === "string") values[name] = base64Bytes(value.base64);
  }
  const model = staticModel(values);
  try {
    explorer.render({ model, el });
  } catch (error) {
    el.textContent = `The explorer could not start: ${error.message}`;
    throw error;
  }
  el.arbookModel = model;
  return model;
}
