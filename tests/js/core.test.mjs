// The JavaScript inference core against PyTorch, on fixtures written by tests/test_js_core.py
// (run through it: `python -m pytest tests/test_js_core.py`).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { filterLogits, generate, loadModel, probabilities, readTensors, softmax } from "../../arbook/js/core.mjs";
import { allowed, connectivity, madeDegrees, madeMasks } from "../../arbook/js/masks.mjs";

const folder = process.env.ARBOOK_JS_FIXTURES;
const TOLERANCE = 1e-5;

function closeTo(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const gap = Math.abs(actual[i] - expected[i]);
    assert.ok(gap <= TOLERANCE, `${what}[${i}]: ${actual[i]} against ${expected[i]} (gap ${gap})`);
  }
}

const read = (name) => JSON.parse(readFileSync(join(folder, name), "utf8"));
const load = (stem) => loadModel(read(`${stem}.json`), readFileSync(join(folder, `${stem}.bin`)));

if (!folder) {
  test("fixtures", { skip: "run through tests/test_js_core.py, which writes the fixtures" }, () => {});
} else {
  for (const stem of read("models.json")) {
    test(`${stem}: conditionals equal PyTorch's`, () => {
      const model = load(stem);
      const expected = read(`${stem}.expected.json`);
      if (model.kind === "MADE") {
        assert.deepEqual(model.order, expected.order);
        expected.values.forEach((values, b) => {
          const logits = model.logits(values);
          logits.forEach((l, i) => closeTo(softmax(l), expected.probs[b][i], `example ${b}, position ${i}`));
        });
        return;
      }
      // one position at a time through the state (caches, hidden states) ...
      const tokens = expected.tokens;
      let state = model.prefill([]);
      for (let t = 0; t < tokens.length; t++) {
        closeTo(softmax(state.logits), expected.probs[t], `step ${t}`);
        state = model.extend(state, tokens[t]);
      }
      // ... and from a prompt read whole
      for (const m of [1, 5, 9, 13]) {
        closeTo(softmax(model.prefill(tokens.slice(0, m)).logits), expected.probs[m], `prefill of ${m}`);
      }
      // greedy decoding (and top-k = 1) continues as PyTorch's greedy sampling does
      const length = expected.greedy.length - expected.greedy_prompt.length;
      const greedy = generate(model, expected.greedy_prompt, length, { greedy: true });
      const topOne = generate(model, expected.greedy_prompt, length, { topK: 1 }, 7);
      const stop = model.stopIndex;
      const trimmed = (xs) => (stop === null ? xs : xs.slice(0, xs.includes(stop) ? xs.indexOf(stop) + 1 : xs.length));
      assert.deepEqual(greedy.tokens, trimmed(expected.greedy));
      assert.deepEqual(topOne.tokens, greedy.tokens);
    });
  }

  test("MADE degrees, masks and connectivity equal arbook.masks'", () => {
    for (const c of read("masks.json")) {
      if (c.method === "sequential") assert.deepEqual(madeDegrees(c.order, c.hidden), c.degrees);
      const masks = madeMasks(c.degrees);
      assert.deepEqual(masks, c.masks);
      assert.deepEqual(connectivity(masks), c.connectivity);
      assert.deepEqual(allowed(c.order), c.allowed);
      // autoregressive: no path where the order forbids one
      connectivity(masks).forEach((r, i) => r.forEach((paths, j) => assert.ok(paths === 0 || c.allowed[i][j])));
    }
  });

  test("filters equal arbook.sampling.filter_logits, ties included", () => {
    for (const { logits, options, probs } of read("filters.json")) {
      const opts = { temperature: options.temperature ?? 1, topK: options.top_k ?? null, topP: options.top_p ?? null };
      const what = `${JSON.stringify(options)} on ${JSON.stringify(logits)}`;
      closeTo(softmax(filterLogits(logits, opts)), probs, what);
      closeTo(probabilities(logits, opts), probs, what);
      const kept = probs.filter((p) => p > 0).length;
      if (opts.topK !== null) assert.ok(kept <= opts.topK, `${what}: at most k kept`);
    }
  });
}

test("bad options are clear errors", () => {
  assert.throws(() => filterLogits([0, 1], { temperature: 0 }), /temperature/);
  assert.throws(() => filterLogits([0, 1], { topK: 0 }), /topK/);
  assert.throws(() => filterLogits([0, 1], { topP: 1.5 }), /topP/);
});

test("readTensors: int8 rows times their scales, version 1 headers, unknown versions refused", () => {
  // a [2, 3] int8 matrix (two rows, padded to 8 bytes), its two scales, then a float32 vector
  const buffer = new ArrayBuffer(8 + 8 + 8);
  new Int8Array(buffer, 0, 6).set([127, -127, 0, 1, -2, 3]);
  new Float32Array(buffer, 8, 2).set([0.5, 0.25]);
  new Float32Array(buffer, 16, 2).set([1.5, -2]);
  const header = {
    format: "arbook-weights",
    version: 2,
    dtype: "int8",
    tensors: [
      { name: "w", shape: [2, 3], dtype: "int8", offset: 0, bytes: 6, scale_offset: 8 },
      { name: "b", shape: [2], dtype: "float32", offset: 16, bytes: 8 },
    ],
  };
  const t = readTensors(header, new Uint8Array(buffer));
  assert.deepEqual(Array.from(t.w.data), [63.5, -63.5, 0, 0.25, -0.5, 0.75]);
  assert.deepEqual(Array.from(t.b.data), [1.5, -2]);
  // a version 1 header (entries without a dtype: the file's)
  const entry = { name: "b", shape: [2], offset: 16, bytes: 8 };
  const old = { format: "arbook-weights", version: 1, dtype: "float32", tensors: [entry] };
  assert.deepEqual(Array.from(readTensors(old, buffer).b.data), [1.5, -2]);
  assert.throws(() => readTensors({ ...header, version: 3 }, buffer), /version 3: this reader reads versions 1 and 2/);
  assert.throws(() => readTensors({ ...header, format: "other" }, buffer), /not an arbook weights header/);
  const bad = { ...header, tensors: [{ ...header.tensors[1], dtype: "int4" }] };
  assert.throws(() => readTensors(bad, buffer), /unknown weight type int4/);
});
