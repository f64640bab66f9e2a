// Unit tests of src/money.ts (run by web/unit_test.go, or `node --test unit/` in web/): the
// amounts a resident types become the cents they meant, exactly, or are refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const { parseCents, ibanGroups, newKey, Attempt, MAX_CENTS } = await load("src/money.ts");

test("German amounts become whole cents", () => {
  const cases = {
    "12,50": 1250,
    "12": 1200,
    "1.000,00": 100000,
    "1.000": 100000,
    "1.234.567,89": 123456789,
    "0,01": 1,
    "0,1": 10,
    ",5": null,
    "12,5": 1250,
    "12.50": 1250,
    "12.5": 1250,
    " 12,50 € ": 1250,
    "12,50€": 1250,
    "€ 3": 300,
    "1 000,00": 100000,
    "007,00": 700,
    // Where a float would go wrong: 0.29 * 100 = 28.999999999999996, 1.005 * 100 = 100.49999999999999.
    "0,29": 29,
    "19,99": 1999,
    "1.000.000,00": MAX_CENTS,
  };
  for (const [text, cents] of Object.entries(cases)) assert.equal(parseCents(text), cents, JSON.stringify(text));
});

test("anything else is refused, not guessed", () => {
  for (const text of ["", " ", "-5", "-5,00", "+5", "12,505", "12,", "1.00,00", "1.0000", "10.00.00", "12,50,00", "1,000.50", "zwölf", "12a", "1e3", "0x10", "12 EURO", "Infinity", "NaN", "12..5", "9999999999"]) {
    assert.equal(parseCents(text), null, JSON.stringify(text));
  }
});

test("IBANs are printed in groups of four", () => {
  assert.equal(ibanGroups("DE02120300000000202051"), "DE02 1203 0000 0000 2020 51");
  assert.equal(ibanGroups("DE02 1203 0000 0000 2020 51"), "DE02 1203 0000 0000 2020 51");
  assert.equal(ibanGroups("DE021203"), "DE02 1203");
});

test("an Idempotency-Key stays for the same attempt and changes for a new one", () => {
  const a = new Attempt();
  const body = { amount_cents: 1250, visible: true };
  const k1 = a.keyFor(body);
  assert.match(k1, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(a.keyFor({ ...body }), k1, "retried after a network error: the same key");
  const k2 = a.keyFor({ ...body, visible: false });
  assert.notEqual(k2, k1, "another donation: a new key");
  a.done();
  assert.notEqual(a.keyFor({ ...body, visible: false }), k2, "answered: the next submission is a new attempt");
  assert.notEqual(newKey(), newKey());
});
