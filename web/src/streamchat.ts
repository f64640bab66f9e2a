// A stream's chat (docs/STREAMS.md): the history over HTTP, then the socket from the history's
// cursor, so nothing written in between is missed; on a reconnect the socket starts from the
// last cursor seen. Two orders: "Neu" (newest first) and "Oben" (by the votes, as the instance
// ranks them). Votes only move messages: the buttons show one's own choice and no number is
// ever on the screen (the instance sends none).
import { ApiError, api, get, germanMessage, post, reconnectDelay, SERVER_RESTART } from "./api";
import { openLogin } from "./auth";
import { formError, h, replace, time } from "./dom";
import { svg } from "./labels";
import { reportButton } from "./melden";
import { session } from "./session";
import { toast } from "./toast";
import type { ChatMessage } from "./types";

export type Sort = "neu" | "oben";

interface Message extends ChatMessage {
  my_vote?: 1 | -1;
}

interface Page {
  messages: Message[];
  next: string | null;
  cursor: string;
}

const PAGE = 50;

export class StreamChat {
  readonly el: HTMLElement;
  /** The stream's state and its viewers, as the socket tells them. */
  onState: (state: string) => void = () => {};
  onViewers: (count: number) => void = () => {};
  /** The stream's new title and time (a streamer edited them). */
  onChanged: (title: string, scheduledAt: string | null) => void = () => {};
  /** The socket's open or shut: while shut, the page asks for the stream's state itself. */
  onLink: (open: boolean) => void = () => {};

  private list = h("ol", { class: "chat-log stream-log" });
  private older = h("button", { type: "button", class: "link", hidden: true }, "Ältere Nachrichten laden");
  private form = h("form", { class: "chat-form stream-form" });
  private sortButtons: Record<Sort, HTMLButtonElement>;
  private sort: Sort = "neu";
  private messages = new Map<string, Message>();
  private items = new Map<string, HTMLLIElement>();
  private rank: string[] = []; // "oben": the instance's order, top first
  private next: string | null = null;
  private cursor: string | null = null;
  private ws: WebSocket | null = null;
  private backoff = 1000;
  private closed = false;
  private loading = 0;

  constructor(
    private id: string,
    private ended: boolean,
  ) {
    const sorts = (s: Sort, label: string) =>
      h("button", { type: "button", class: "sort-btn", "aria-pressed": String(s === this.sort), onclick: () => this.setSort(s) }, label);
    this.sortButtons = { neu: sorts("neu", "Neu"), oben: sorts("oben", "Oben") };
    this.older.addEventListener("click", () => this.loadOlder());
    this.el = h(
      "section",
      { class: "stream-chat", "aria-labelledby": `chat-${id}` },
      h("div", { class: "stream-chat-head" }, h("h2", { id: `chat-${id}` }, "Chat"),
        h("div", { class: "sorts", role: "group", "aria-label": "Reihenfolge" }, this.sortButtons.neu, this.sortButtons.oben)),
      this.form,
      h("div", { role: "log", "aria-label": "Nachrichten im Chat" }, this.list),
      this.older,
    );
    this.renderForm();
    session.on(() => {
      if (this.closed) return;
      this.renderForm();
      void this.load(); // one's own votes and hidden messages come with the session
    });
  }

  start() {
    void this.load();
  }

  close() {
    this.closed = true;
    this.ws?.close();
    this.ws = null;
  }

  /** The stream ended while the page was open: its chat stays readable, no longer writable. */
  end() {
    if (this.ended) return;
    this.ended = true;
    this.renderForm();
  }

  private setSort(s: Sort) {
    if (s === this.sort) return;
    this.sort = s;
    for (const [k, b] of Object.entries(this.sortButtons)) b.setAttribute("aria-pressed", String(k === s));
    void this.load();
  }

  // The first page in the current order; then the socket from its cursor (again, if it was
  // open: its cursor and order are the new page's).
  private async load() {
    const seq = ++this.loading;
    try {
      const page = await get<Page>(`/api/streams/${this.id}/chat?sort=${this.sort}&limit=${PAGE}`);
      if (seq !== this.loading || this.closed) return;
      this.messages.clear();
      this.items.clear();
      this.list.replaceChildren();
      for (const m of page.messages) this.messages.set(m.id, m);
      this.rank = page.messages.map((m) => m.id);
      this.next = page.next;
      this.older.hidden = !page.next;
      this.cursor = page.cursor;
      this.render();
      this.connect();
    } catch (e) {
      if (seq !== this.loading || this.closed) return;
      replace(this.list, h("li", { class: "error" }, germanMessage(e)));
      if (!this.ws) setTimeout(() => !this.closed && seq === this.loading && this.load(), this.retry());
    }
  }

  private async loadOlder() {
    if (!this.next) return;
    try {
      const page = await get<Page>(`/api/streams/${this.id}/chat?sort=${this.sort}&limit=${PAGE}&before=${encodeURIComponent(this.next)}`);
      for (const m of page.messages) {
        if (!this.messages.has(m.id)) this.rank.push(m.id);
        this.messages.set(m.id, m);
      }
      this.next = page.next;
      this.older.hidden = !page.next;
      this.render();
    } catch (e) {
      toast(germanMessage(e), "error");
    }
  }

  private retry() {
    const wait = this.backoff * (0.75 + Math.random() * 0.5);
    this.backoff = Math.min(this.backoff * 2, 30000);
    return wait;
  }

  private connect() {
    const old = this.ws;
    this.ws = null;
    old?.close();
    const q = new URLSearchParams({ sort: this.sort });
    if (this.cursor) q.set("cursor", this.cursor);
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/streams/${this.id}/chat?${q}`);
    this.ws = ws;
    ws.onopen = () => {
      this.backoff = 1000;
      this.onLink(true);
    };
    ws.onmessage = (ev) => {
      let f: any;
      try {
        f = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (typeof f.cursor === "string") this.cursor = f.cursor;
      switch (f.type) {
        case "message":
          if (f.message) this.add(f.message);
          break;
        case "removed":
          this.remove(f.id);
          break;
        case "order":
          if (Array.isArray(f.ids)) this.reorder(f.ids);
          break;
        case "state":
          this.onState(f.state);
          break;
        case "viewers":
          this.onViewers(f.count);
          break;
        case "changed":
          if (typeof f.title === "string") this.onChanged(f.title, f.scheduled_at ?? null);
          break;
        case "reset": // the cursor is older than the instance keeps: start afresh
          this.cursor = null;
          void this.load();
          break;
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.onLink(false);
      // A server restart: at once, from the last cursor seen.
      const wait = ev.code === SERVER_RESTART ? reconnectDelay(ev.code, this.backoff) : this.retry();
      if (!this.closed) setTimeout(() => !this.closed && !this.ws && this.connect(), wait);
    };
  }

  // A message once: one's own comes in the POST's answer and again from the socket. (A hidden
  // message shown again comes as a message after its removal, so it is new again.)
  private add(m: Message) {
    if (!m.id || !m.account || this.messages.has(m.id)) return;
    this.messages.set(m.id, m);
    this.rank.push(m.id); // unvoted: after the ranked ones until the next order
    this.render();
  }

  private remove(id: string) {
    this.messages.delete(id);
    this.items.get(id)?.remove();
    this.items.delete(id);
    this.rank = this.rank.filter((r) => r !== id);
    if (!this.messages.size) this.render();
  }

  // The instance's top of "Oben" (up to 100): those first, in its order; the rest after them
  // as they were.
  private reorder(ids: string[]) {
    const top = ids.filter((id) => this.messages.has(id));
    const inTop = new Set(top);
    this.rank = [...top, ...this.rank.filter((id) => !inTop.has(id))];
    if (this.sort === "oben") this.render();
  }

  private ordered(): Message[] {
    const all = [...this.messages.values()];
    if (this.sort === "neu") return all.sort((a, b) => (a.at === b.at ? (a.id < b.id ? 1 : -1) : a.at < b.at ? 1 : -1));
    const pos = new Map(this.rank.map((id, i) => [id, i]));
    // Not ranked yet (written since the last order): new messages have no votes, so after
    // the ranked ones, newest first.
    return all.sort((a, b) => (pos.get(a.id) ?? Infinity) - (pos.get(b.id) ?? Infinity) || (a.at < b.at ? 1 : -1));
  }

  private render() {
    const msgs = this.ordered();
    if (!msgs.length) {
      replace(this.list, h("li", { class: "meta empty" }, "Noch keine Nachrichten."));
      return;
    }
    this.list.querySelector(".empty, .error")?.remove();
    // Moving the items that are there keeps focus on a vote button that was just pressed.
    let at: ChildNode | null = this.list.firstChild;
    for (const m of msgs) {
      let li = this.items.get(m.id);
      if (!li) {
        li = this.item(m);
        this.items.set(m.id, li);
      }
      if (li !== at) this.list.insertBefore(li, at);
      else at = at.nextSibling;
    }
    for (const li of this.list.querySelectorAll("li[data-id]")) if (!this.messages.has((li as HTMLElement).dataset.id!)) li.remove();
  }

  private item(m: Message): HTMLLIElement {
    const mine = session.me?.id === m.account.id;
    const li = h("li", { class: [mine ? "mine" : "", m.hidden ? "moderated" : ""].join(" ").trim(), "data-id": m.id },
      h("p", { class: "who" }, h("strong", {}, m.account.name), " ", time(m.at),
        mine ? null : [" ", reportButton({ id: m.id, what: `die Nachricht von ${m.account.name}` })]),
      h("p", { class: "text" }, m.text),
      m.hidden ? h("p", { class: "hidden-note" }, "Nur für dich sichtbar: wartet auf die Moderation oder wurde ausgeblendet.") : null,
    );
    if (!mine) li.append(this.votes(m));
    return li;
  }

  // Up and down: pressed shows one's own vote, a second press takes it back. No count.
  private votes(m: Message) {
    const button = (v: 1 | -1, label: string, path: string) =>
      h("button", { type: "button", class: "vote-btn", "data-vote": String(v), "aria-pressed": String(m.my_vote === v), "aria-label": `${label}: Nachricht von ${m.account.name}`, title: label,
        onclick: () => this.vote(m.id, v, up, down) }, svg("", "0 0 24 24", path));
    const up = button(1, "Nach oben", "M6 15l6-6 6 6");
    const down = button(-1, "Nach unten", "M6 9l6 6 6-6");
    return h("div", { class: "votes", role: "group", "aria-label": "Bewerten" }, up, down);
  }

  private async vote(id: string, v: 1 | -1, up: HTMLButtonElement, down: HTMLButtonElement) {
    if (!session.me) return openLogin("Zum Bewerten bitte anmelden.");
    const m = this.messages.get(id);
    if (!m) return;
    const want = m.my_vote === v ? 0 : v;
    try {
      const r = await api<{ my_vote: 1 | -1 | 0 }>("PUT", `/api/streams/${this.id}/chat/${id}/vote`, { vote: want });
      const now = this.messages.get(id);
      if (now) now.my_vote = r.my_vote || undefined;
      up.setAttribute("aria-pressed", String(r.my_vote === 1));
      down.setAttribute("aria-pressed", String(r.my_vote === -1));
    } catch (e) {
      toast(germanMessage(e), "error");
    }
  }

  // Writing: verified residents; guests and the not yet verified read, and are told why.
  private renderForm() {
    const me = session.me;
    this.form.onsubmit = null;
    if (this.ended) return replace(this.form, h("p", { class: "hint" }, "Der Stream ist beendet; sein Chat bleibt zum Nachlesen."));
    if (!me)
      return replace(this.form, h("p", { class: "hint" }, "Mitlesen kann jede und jeder. Zum Schreiben und Bewerten bitte ",
        h("button", { type: "button", class: "link", onclick: () => openLogin("Zum Schreiben im Chat bitte anmelden.") }, "anmelden"), "."));
    if (!me.verified) return replace(this.form, h("p", { class: "hint" }, "Schreiben und bewerten können bestätigte Bewohnerinnen und Bewohner. Dein Konto wird von der Verwaltung bestätigt."));
    const text = h("textarea", { name: "text", rows: 2, maxlength: 500, "aria-label": "Nachricht an den Chat", placeholder: "Schreib etwas in den Chat …", required: true });
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.form.requestSubmit();
      }
    });
    replace(this.form, text, h("button", { type: "submit" }, "Senden"), h("p", { class: "form-error", role: "alert", hidden: true }));
    this.form.onsubmit = async (e) => {
      e.preventDefault();
      const value = text.value.trim();
      if (!value) return;
      try {
        const m = await post<Message>(`/api/streams/${this.id}/chat`, { text: value });
        text.value = "";
        formError(this.form, null);
        this.add(m);
      } catch (err) {
        if (err instanceof ApiError && err.code === "stream_ended") this.end();
        formError(this.form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    };
  }
}
