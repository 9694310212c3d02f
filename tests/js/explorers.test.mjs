// The parts of the explorers that need no page: the hidden sizes the masks explorer reads (the
// rules of arbook.widgets.parse_sizes) and the static page's stand-in for a widget model.
import { test } from "node:test";
import assert from "node:assert/strict";

import { parseSizes } from "../../arbook/js/masks_explorer.mjs";
import { base64Bytes, staticModel } from "../../arbook/js/page.mjs";

test("hidden sizes are read as arbook.widgets.parse_sizes reads them", () => {
  assert.deepEqual(parseSizes("12, 10"), [12, 10]);
  assert.deepEqual(parseSizes(" 3;4 "), [3, 4]);
  assert.deepEqual(parseSizes(""), []);
  assert.throws(() => parseSizes("ten"), /whole numbers/);
  assert.throws(() => parseSizes("2.5"), /whole numbers/);
  assert.throws(() => parseSizes("0"), /between 1 and 256/);
  assert.throws(() => parseSizes("1000"), /between 1 and 256/);
  assert.throws(() => parseSizes("1,2,3,4,5"), /at most 4/);
});

test("the static model notifies listeners of a change, once, and only of a change", () => {
  const model = staticModel({ seed: 1, prompt: "a" });
  const seen = [];
  const listener = () => seen.push(model.get("seed"));
  model.on("change:seed", listener);
  model.set("seed", 2);
  model.set("seed", 2); // no change, no event
  model.set("prompt", "b");
  assert.deepEqual(seen, [2]);
  model.off("change:seed", listener);
  model.set("seed", 3);
  assert.deepEqual(seen, [2]);
  assert.equal(model.get("prompt"), "b");
});

test("weights in base64 arrive as a DataView of their bytes", () => {
  const view = base64Bytes(Buffer.from([0, 1, 254, 255]).toString("base64"));
  assert.ok(view instanceof DataView);
  assert.deepEqual([0, 1, 2, 3].map((i) => view.getUint8(i)), [0, 1, 254, 255]);
});
