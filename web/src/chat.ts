// The Nähstübchen (right slider): one public chat room, listed over HTTP, live over /ws/chat.
import { ApiError, get, germanMessage, post } from "./api";
import { requireLogin } from "./auth";
import { $, formError, h, time } from "./dom";
import { session } from "./session";
import type { ChatMessage } from "./types";
import { isOpen, onSliderOpen } from "./ui";

export class Chat {
  private log = $("chat-log");
  private older = $("chat-older");
  private seen = new Set<string>();
  private oldest: string | null = null;
  private started = false;
  private ws: WebSocket | null = null;
  private backoff = 1000;
  private unread = 0;

  constructor(private wsURL: string) {
    onSliderOpen("chat", () => {
      this.unread = 0;
      this.badge();
      if (!this.started) this.start();
      requestAnimationFrame(() => this.scrollDown());
    });
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
        this.add(m, true);
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    session.on((me) => (text.placeholder = me ? "Schreib etwas ins Nähstübchen …" : "Zum Schreiben bitte anmelden"));
  }

  private async start() {
    this.started = true;
    this.log.replaceChildren(h("li", { class: "meta" }, "Lade Nachrichten …"));
    try {
      const { messages } = await get<{ messages: ChatMessage[] }>("/api/chat?limit=50");
      this.log.replaceChildren();
      for (const m of messages.reverse()) this.add(m, false);
      this.oldest = messages[0]?.id ?? null;
      this.older.hidden = messages.length < 50;
      if (!messages.length) this.log.append(h("li", { class: "meta empty" }, "Noch ist es still im Nähstübchen."));
    } catch (e) {
      this.log.replaceChildren(h("li", { class: "error" }, germanMessage(e)));
    }
    this.connect();
  }

  private async loadOlder() {
    if (!this.oldest) return;
    try {
      const { messages } = await get<{ messages: ChatMessage[] }>(`/api/chat?limit=50&before=${this.oldest}`);
      const first = this.log.firstChild;
      for (const m of messages) {
        if (this.seen.has(m.id)) continue;
        this.seen.add(m.id);
        this.log.insertBefore(this.item(m), first);
      }
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
        if (msg.type === "message" && msg.message) this.add(msg.message, true);
      } catch {
        // not ours
      }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      setTimeout(() => this.connect(), this.backoff * (0.75 + Math.random() * 0.5));
      this.backoff = Math.min(this.backoff * 2, 30000);
    };
  }

  private item(m: ChatMessage) {
    const mine = session.me?.id === m.account.id;
    return h("li", { class: mine ? "mine" : "" }, h("p", { class: "who" }, h("strong", {}, m.account.name), " ", time(m.at)), h("p", { class: "text" }, m.text));
  }

  private add(m: ChatMessage, live: boolean) {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    this.log.querySelector(".empty")?.remove();
    const box = this.scroller();
    const nearBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    this.log.append(this.item(m));
    if (live && !isOpen("chat")) {
      this.unread++;
      this.badge();
    }
    if (nearBottom || !live) this.scrollDown();
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
