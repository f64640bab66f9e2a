// Address search over the instance's own index of the region (GET /api/adressen, docs/API.md):
// a combobox after the ARIA pattern (a text field, a list of suggestions below it). Typing asks
// the instance once the typing pauses; the arrow keys, Enter and Escape work the list, and a tap
// or click chooses. Loaded only when a form that searches is first used.
import { get, germanMessage } from "./api";
import { h, replace } from "./dom";

export interface Adresse {
  label: string;
  kind: "address" | "street" | "place";
  street?: string;
  housenumber?: string;
  postcode?: string;
  city?: string;
  name?: string;
  lat: number;
  lon: number;
  /** Whether the point lies within the Ortsweberei's bounds (true when it has none). */
  inside: boolean;
}

export interface SearchOptions {
  input: HTMLInputElement;
  list: HTMLElement;
  /** Says what the search found or why it found nothing (a polite live region). */
  status: HTMLElement;
  /** Said when nothing matches. */
  none: string;
  choose(a: Adresse): void;
}

// Long enough that a word typed at speed is one request, short enough to feel immediate.
const PAUSE_MS = 220;
// The instance refuses longer queries (invalid_query): no address is that long.
const MAX_QUERY = 100;
const LIMIT = 8;

const kindText: Record<Adresse["kind"], string> = { address: "Adresse", street: "Straße", place: "Ort" };

export class AddressSearch {
  private timer = 0;
  private seq = 0;
  private results: Adresse[] = [];
  private active = -1;

  constructor(private o: SearchOptions) {
    const { input, list } = o;
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("autocomplete", "off");
    list.setAttribute("role", "listbox");
    list.hidden = true;

    input.addEventListener("input", () => this.schedule());
    input.addEventListener("keydown", (e) => this.key(e));
    input.addEventListener("focusout", (e) => {
      if (!list.contains(e.relatedTarget as Node)) this.close();
    });
    // A press on a suggestion must not take the focus from the field (that would close the
    // list before the click arrives).
    list.addEventListener("mousedown", (e) => e.preventDefault());
    list.addEventListener("click", (e) => {
      const li = (e.target as HTMLElement).closest<HTMLElement>("[role=option]");
      if (li) this.pick(Number(li.dataset.i));
    });
    if (input.value.trim()) this.schedule();
  }

  /** Whether the suggestions are showing (Escape then closes them, not what holds the field). */
  get open() {
    return !this.o.list.hidden;
  }

  clear() {
    this.seq++;
    clearTimeout(this.timer);
    this.close();
    this.o.status.textContent = "";
  }

  private schedule() {
    clearTimeout(this.timer);
    // What the list shows belongs to the text before this change: an Enter or ArrowDown now
    // must not choose it (the next answer brings the new list), nor an answer still on its way.
    this.seq++;
    this.results = [];
    this.close();
    const q = this.o.input.value.trim();
    if (!q) {
      this.clear();
      return;
    }
    // By code points, as the instance counts (a cut through a surrogate pair would not encode).
    this.timer = window.setTimeout(() => this.search(Array.from(q).slice(0, MAX_QUERY).join("").trim()), PAUSE_MS);
  }

  private async search(q: string) {
    const seq = ++this.seq;
    let found: Adresse[];
    try {
      found = (await get<{ adressen: Adresse[] }>(`/api/adressen?q=${encodeURIComponent(q)}&limit=${LIMIT}`)).adressen ?? [];
    } catch (e) {
      if (seq !== this.seq) return;
      this.close();
      this.o.status.textContent = germanMessage(e);
      return;
    }
    // An answer to an older query is not what the field says any more.
    if (seq !== this.seq) return;
    this.results = found;
    this.active = -1;
    if (!found.length) {
      this.close();
      this.o.status.textContent = this.o.none;
      return;
    }
    this.render();
    this.o.list.hidden = false;
    this.o.input.setAttribute("aria-expanded", "true");
    this.o.status.textContent = found.length === 1 ? "Ein Vorschlag." : `${found.length} Vorschläge.`;
  }

  private render() {
    const id = this.o.list.id;
    replace(
      this.o.list,
      this.results.map((a, i) =>
        h(
          "li",
          { role: "option", id: `${id}-${i}`, "data-i": i, "aria-selected": String(i === this.active), class: a.inside ? "" : "outside" },
          h("span", { class: "s-label" }, a.label),
          h("span", { class: "meta" }, kindText[a.kind] ?? "", a.inside ? "" : " · außerhalb der Ortsweberei"),
        ),
      ),
    );
    if (this.active >= 0) {
      this.o.input.setAttribute("aria-activedescendant", `${id}-${this.active}`);
      document.getElementById(`${id}-${this.active}`)?.scrollIntoView({ block: "nearest" });
    } else this.o.input.removeAttribute("aria-activedescendant");
  }

  private key(e: KeyboardEvent) {
    const n = this.results.length;
    switch (e.key) {
      case "ArrowDown":
      case "ArrowUp":
        if (!n) return;
        e.preventDefault();
        if (!this.open) {
          this.o.list.hidden = false;
          this.o.input.setAttribute("aria-expanded", "true");
        }
        this.active = e.key === "ArrowDown" ? (this.active + 1) % n : (this.active + n - 1) % n;
        this.render();
        return;
      case "Enter":
        // In the open list Enter chooses (the highlighted suggestion, else the first); it
        // never sends the form the field is in.
        if (!this.open) return;
        e.preventDefault();
        this.pick(Math.max(0, this.active));
        return;
      case "Escape":
        if (!this.open) return;
        e.preventDefault();
        e.stopPropagation();
        this.close();
        return;
    }
  }

  private pick(i: number) {
    const a = this.results[i];
    if (!a) return;
    this.seq++;
    clearTimeout(this.timer);
    this.o.input.value = a.label;
    this.close();
    this.o.status.textContent = "";
    this.o.choose(a);
  }

  private close() {
    this.o.list.hidden = true;
    this.o.input.setAttribute("aria-expanded", "false");
    this.o.input.removeAttribute("aria-activedescendant");
    this.active = -1;
  }
}
