// The instance's limits on residents' texts (GET /api/ortsweberei says them): a field marked
// data-limit="knoten_title" takes its maxlength from there, and a counter under it says how
// much is used as one types. The numbers live in the instance's rules only, so the app cannot
// offer 200 characters where the instance takes 140.
import { h } from "./dom";
import type { Limits } from "./types";

type Field = HTMLInputElement | HTMLTextAreaElement;

let known: Partial<Limits> = {};

/** Takes the instance's limits and applies them to every marked field of the page. */
export function setLimits(l: Partial<Limits> | undefined) {
  known = l ?? {};
  document.querySelectorAll<Field>("[data-limit]").forEach(apply);
}

/** A label holding a marked field, followed by the field's counter (for fields made later). */
export function counted(label: HTMLElement): HTMLElement[] {
  const field = label.querySelector<Field>("[data-limit]");
  const counter = h("p", { class: "count", "aria-live": "off" });
  if (field) {
    counters.set(field, counter);
    apply(field);
  }
  return [label, counter];
}

const counters = new WeakMap<Field, HTMLElement>();

function apply(field: Field) {
  const n = known[field.dataset.limit as keyof Limits];
  if (!n) return;
  field.maxLength = n;
  let c = counters.get(field);
  if (!c) {
    c = h("p", { class: "count", "aria-live": "off" });
    (field.closest("label") ?? field).after(c);
    counters.set(field, c);
  }
  if (!c.id) c.id = `count-${Math.random().toString(36).slice(2, 8)}`;
  field.setAttribute("aria-describedby", c.id);
  const counter = c;
  const show = () => {
    const used = field.value.length;
    // Long texts (a chat message) show the count only near the end.
    counter.hidden = field.dataset.count === "near" && used < n * 0.8;
    counter.textContent = `${used} / ${n}`;
    counter.classList.toggle("full", used >= n);
  };
  if (!field.dataset.counted) {
    field.dataset.counted = "1";
    field.addEventListener("input", show);
    field.form?.addEventListener("reset", () => setTimeout(show));
  }
  show();
}

/** Updates a field's counter after its value was set by the app. */
export function recount(field: Field) {
  field.dispatchEvent(new Event("input"));
}
