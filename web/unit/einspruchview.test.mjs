// Unit tests of src/einspruchview.ts: an Einspruch shows its author's name and is reported by
// what the instance resolves, for our Anträge and for a neighbouring Ortsweberei's alike.
import assert from "node:assert/strict";
import { test } from "node:test";
import { load } from "./load.mjs";

const { einspruchWho, antragReportTarget } = await load("src/einspruchview.ts");

const ours = { id: "0193a000-0000-7000-8000-000000000001", remote: false, fediverse: { id: "https://lindenau.example/ap/antraege/0193a000-0000-7000-8000-000000000001" } };
const theirs = {
  id: "0193a000-0000-7000-8000-000000000002",
  remote: true,
  origin: "plagwitz.example",
  fediverse: { id: "https://plagwitz.example/ap/antraege/0193b000-0000-7000-8000-000000000009" },
};

test("our Einspruch: its account's name, reported as <antrag>/<account>", () => {
  const e = { account_id: "0193a000-0000-7000-8000-0000000000aa", name: "Bea", reason: "…", created_at: "2026-12-05T10:00:00Z" };
  assert.deepEqual(einspruchWho(ours, e), { id: e.account_id, name: "Bea", report: `${ours.id}/${e.account_id}` });
  assert.equal(antragReportTarget(ours), ours.id);
});

test("a neighbour's Einspruch: its author's name, reported by the author's actor (a remote account)", () => {
  const e = { author: { id: "https://plagwitz.example/ap/accounts/0193c", name: "Carla" }, reason: "…", created_at: "2026-12-05T10:00:00Z" };
  assert.deepEqual(einspruchWho(theirs, e), { id: e.author.id, name: "Carla", report: e.author.id });
});

test("a neighbour's Antrag is reported by its ActivityPub id, which the instance takes as a remote object", () => {
  assert.equal(antragReportTarget(theirs), theirs.fediverse.id);
});
