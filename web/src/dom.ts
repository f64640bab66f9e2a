// A few DOM helpers. Text from the instance always goes in as text (never as HTML), except
// an Antrag's details_html, which the instance has sanitized.

type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (k === "class") el.className = String(v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Node, children: (Child | Child[])[]) {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c !== null && c !== undefined && c !== false) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  }
}

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error("missing #" + id);
  return el as T;
}

export function replace(el: Element, ...children: (Child | Child[])[]) {
  el.replaceChildren();
  append(el, children);
}

const dateTime = new Intl.DateTimeFormat("de-DE", { dateStyle: "medium", timeStyle: "short" });

export function when(iso: string | null | undefined): string {
  if (!iso) return "";
  return dateTime.format(new Date(iso));
}

export function time(iso: string): HTMLTimeElement {
  return h("time", { datetime: iso }, when(iso));
}

/**
 * A number as a resident types it: "12,50" as well as "12.50"; with both separators the last
 * one is the decimal one ("1.250,50", "1,250.50"), and one repeated groups ("1.250.000"). A
 * single separator is always the decimal one: "51.340" is a coordinate, not 51340. NaN for
 * anything else (where Number("") would be 0).
 */
export function parseDecimal(text: string): number {
  let s = text.trim().replace(/[\s\u00a0\u202f']/g, "");
  if (!/^[+-]?(\d[\d.,]*)?\d$|^[+-]?\d+[.,]$|^[+-]?[.,]\d+$/.test(s)) return NaN;
  const comma = s.lastIndexOf(","), dot = s.lastIndexOf(".");
  const dec = comma > dot ? "," : ".";
  const group = dec === "," ? "." : ",";
  const parts = s.split(dec);
  if (parts.length > 2) {
    if (s.includes(group)) return NaN;
    s = parts.join("");
  } else {
    s = parts[0].split(group).join("") + (parts.length === 2 ? "." + parts[1] : "");
  }
  const n = Number(s);
  return Number.isFinite(n) ? n : NaN;
}

export function euro(cents: number): string {
  return new Intl.NumberFormat("de-DE", { style: "currency", currency: "EUR" }).format(cents / 100);
}

export function formError(form: HTMLElement, message: string | null, field?: string) {
  const p = form.querySelector<HTMLElement>(".form-error");
  form.querySelectorAll("[aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  if (!p) return;
  p.textContent = message ?? "";
  p.hidden = !message;
  if (field) {
    const input = form.querySelector<HTMLElement>(`[name="${CSS.escape(field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
  }
}
