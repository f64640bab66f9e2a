// The Nähstübchen (right slider): one public chat room, listed over HTTP, live over /ws/chat.
import { ApiError, get, germanMessage, post, reconnectDelay, SERVER_RESTART } from "./api";
import { requireLogin } from "./auth";
import { $, formError, h, time } from "./dom";
import { reportButton } from "./melden";
import { session } from "./session";
import type { ChatMessage } from "./types";
import { isOpen, onSliderOpen } from "./ui";

export class Chat {
  private log = $("chat-log");
  private older = $("chat-older");
  private seen = new Set<string>();
  private at = new Map<string, string>(); // id → time, for the order
  private oldest: string | null = null;
  private started = false;
  private loaded = false;
  private ws: WebSocket | null = null;
  private backoff = 1000;
  private unread = 0;
  private ready = false; // the socket's "ready" came: history loaded now misses nothing

  constructor(private wsURL: string) {
    onSliderOpen("chat", () => {
      this.unread = 0;
      this.badge();
      if (!this.started) this.start();
      requestAnimationFrame(() => this.scrollDown());
    });
    // The room is followed from the start (after the page has loaded), so that the badge
    // counts what arrives before the Nähstübchen was ever opened; the history waits until then.
    const follow = () => this.ws || this.connect();
    if (document.readyState === "complete") setTimeout(follow);
    else window.addEventListener("load", () => setTimeout(follow), { once: true });
    this.older.addEventListener("click", () => this.loadOlder());
    const form = $<HTMLFormElement>("chat-form");
    const text = $<HTMLTextAreaElement>("chat-text");
    text.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      if (!requireLogin("Zum Schreiben im Nähstübchen bitte anmelden.")) return;
      const value = text.value.trim();
      if (!value) return;
      try {
        const m = await post<ChatMessage>("/api/chat", { text: value });
        text.value = "";
        formError(form, null);
        this.add(m, "live");
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    session.on((me) => (text.placeholder = me ? "Schreib etwas ins Nähstübchen …" : "Zum Schreiben bitte anmelden"));
  }

  // The socket first: its "ready" says every message from then on will reach us, and only
  // then is the history loaded, the first time and after each reconnect, so nothing written
  // in between is missed.
  private start() {
    this.started = true;
    this.log.querySelectorAll("li:not([data-id])").forEach((li) => li.remove());
    this.log.prepend(h("li", { class: "meta" }, "Lade Nachrichten …"));
    if (!this.ws) this.connect();
    else if (this.ready) void this.loadLatest();
  }

  private async loadLatest() {
    const first = !this.loaded;
    try {
      const { messages } = await get<{ messages: ChatMessage[] }>("/api/chat?limit=50");
      if (first) this.log.querySelectorAll("li:not([data-id])").forEach((li) => li.remove());
      for (const m of messages) this.add(m, "history");
      if (first) {
        this.loaded = true;
        this.oldest = messages[messages.length - 1]?.id ?? null;
        this.older.hidden = messages.length < 50;
        if (!this.log.querySelector("li[data-id]")) this.log.append(h("li", { class: "meta empty" }, "Noch ist es still im Nähstübchen."));
        this.scrollDown();
      }
    } catch (e) {
      if (first) this.log.replaceChildren(h("li", { class: "error" }, germanMessage(e)));
    }
  }

  private async loadOlder() {
    if (!this.oldest) return;
    try {
      const { messages } = await get<{ messages: ChatMessage[] }>(`/api/chat?limit=50&before=${this.oldest}`);
      for (const m of messages) this.add(m, "older");
      if (messages.length) this.oldest = messages[messages.length - 1].id;
      this.older.hidden = messages.length < 50;
    } catch (e) {
      this.older.textContent = germanMessage(e);
    }
  }

  private connect() {
    const ws = new WebSocket(this.wsURL);
    this.ws = ws;
    ws.onopen = () => (this.backoff = 1000);
    ws.onmessage = (ev) => {
      try {
        const msg = JSON.parse(ev.data);
        if (msg.type === "ready") {
          this.ready = true;
          if (this.started) void this.loadLatest();
        }
        else if (msg.type === "message" && msg.message) this.add(msg.message, "live");
        else if (msg.type === "removed" && msg.id) {
          // Hidden by a moderator: gone from every screen; shown again, it comes as a message.
          this.log.querySelector(`li[data-id="${CSS.escape(msg.id)}"]`)?.remove();
          this.seen.delete(msg.id);
        }
      } catch {
        // not ours
      }
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.ready = false;
      if (this.started && !this.loaded) {
        this.log.querySelectorAll("li:not([data-id])").forEach((li) => li.remove());
        this.log.prepend(h("li", { class: "error" }, "Das Nähstübchen ist gerade nicht erreichbar. Neuer Versuch gleich …"));
      }
      // Once the new socket is ready, what was written meanwhile is loaded (loadLatest).
      setTimeout(() => this.connect(), reconnectDelay(ev.code, this.backoff));
      if (ev.code !== SERVER_RESTART) this.backoff = Math.min(this.backoff * 2, 30000);
    };
  }

  private item(m: ChatMessage) {
    const mine = session.me?.id === m.account.id;
    // Only its author is shown a hidden message, marked: no one else sees it.
    const note = m.hidden ? h("p", { class: "hidden-note" }, "Nur für dich sichtbar: wartet auf die Moderation oder wurde ausgeblendet.") : null;
    return h("li", { class: [mine ? "mine" : "", m.hidden ? "moderated" : ""].join(" ").trim(), "data-id": m.id },
      h("p", { class: "who" }, h("strong", {}, m.account.name), " ", time(m.at)), h("p", { class: "text" }, m.text), note);
  }

  // add puts a message in its place, oldest first (as the server orders them: by time, then
  // id): live ones arrive at the end, a reloaded history may fill a gap before them.
  private add(m: ChatMessage, how: "live" | "history" | "older") {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    this.log.querySelector(".empty")?.remove();
    const box = this.scroller();
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    this.at.set(m.id, m.at);
    const items = this.log.querySelectorAll<HTMLElement>("li[data-id]");
    const last = items[items.length - 1];
    const later = last && this.after(last.dataset.id!, m) ? Array.from(items).find((li) => this.after(li.dataset.id!, m)) : undefined;
    this.log.insertBefore(this.withReport(this.item(m), m), later ?? null);
    const live = how === "live";
    if (live && !isOpen("chat")) {
      this.unread++;
      this.badge();
    }
    if (how === "history" ? nearBottom || !this.loaded : live && nearBottom) this.scrollDown();
  }

  // Another's message can be reported to the moderators (a hidden one is the author's own).
  private withReport(li: HTMLElement, m: ChatMessage) {
    if (session.me?.id !== m.account.id) li.querySelector(".who")?.append(" ", reportButton({ id: m.id, what: `die Nachricht von ${m.account.name}` }));
    return li;
  }

  private after(id: string, m: ChatMessage) {
    const at = this.at.get(id)!;
    return at > m.at || (at === m.at && id > m.id);
  }

  private scroller() {
    return this.log.closest<HTMLElement>(".slider-body")!;
  }

  private scrollDown() {
    const box = this.scroller();
    box.scrollTop = box.scrollHeight;
  }

  private badge() {
    const b = $("chat-badge");
    b.hidden = this.unread === 0;
    b.textContent = this.unread ? String(this.unread) : "";
    $("open-chat").setAttribute("aria-label", this.unread ? `Nähstübchen, ${this.unread} neue Nachrichten` : "Nähstübchen");
  }
}
