// The live map feed over /ws/map (docs/MAPFEED.md): the client holds each subscribed H3
// cell's content, replaced by a `state`, changed by `delta`s, and keeps the last cursor so
// that after a reconnect it gets exactly what it missed.
import { reconnectDelay, SERVER_RESTART } from "./api";
import type { Faden, Garnrolle, Goldfaden, Knoten } from "./types";

export interface Content {
  knoten: Map<string, Knoten>;
  faeden: Map<string, Faden>;
  garnrollen: Map<string, Garnrolle>;
  /** Visible donations, held by the Ortskonto's cell. */
  goldfaeden: Map<string, Goldfaden>;
}

const empty = (): Content => ({ knoten: new Map(), faeden: new Map(), garnrollen: new Map(), goldfaeden: new Map() });

interface Lists {
  knoten?: Knoten[];
  faeden?: Faden[];
  garnrollen?: Garnrolle[];
  goldfaeden?: Goldfaden[];
}

type ServerMessage =
  | { type: "hello"; cursor: string; batch_ms: number; max_cells: number }
  | ({ type: "state"; cell: string; cursor: string } & Lists)
  | ({ type: "delta"; cell: string; cursor: string; catchup?: boolean; removed?: { knoten?: string[]; faeden?: string[]; garnrollen?: string[]; goldfaeden?: string[] } } & Lists)
  | { type: "resync"; cells?: string[]; reason: string }
  | { type: "error"; error: { code: string; message: string } };

export type FeedStatus = "connecting" | "live" | "offline";

// How long something the client wrote itself is shown before the feed has confirmed it.
const LOCAL_TTL_MS = 15000;

export class MapFeed {
  private ws: WebSocket | null = null;
  private wanted = new Set<string>();
  private held = new Map<string, Content>(); // cells whose state arrived
  private retiring: Content[] = []; // cells just left, shown until the new ones have arrived
  private retireTimer = 0;
  private local = empty(); // written by this client, not yet seen in the feed
  private localAt = new Map<string, number>();
  private cursor: string | null = null;
  private backoff = 500;
  private reconnectTimer = 0;
  private merged: Content | null = null;
  private stopped = false;

  batchMs = 2500;
  status: FeedStatus = "connecting";
  onChange: () => void = () => {};
  onStatus: (s: FeedStatus) => void = () => {};
  onError: (code: string, message: string) => void = () => {};

  constructor(private url: string) {}

  start() {
    this.stopped = false;
    this.connect();
    window.addEventListener("online", () => this.reconnectNow());
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.reconnectNow();
    });
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.reconnectTimer);
    this.ws?.close();
  }

  /** Sets the cells to follow: subscribes to the new ones, unsubscribes from the rest. */
  setCells(cells: string[]) {
    const next = new Set(cells);
    const gone = [...this.wanted].filter((c) => !next.has(c));
    const added = cells.filter((c) => !this.wanted.has(c));
    if (gone.length === 0 && added.length === 0) return;
    for (const c of gone) {
      const content = this.held.get(c);
      if (content) this.retiring.push(content);
      this.held.delete(c);
      this.wanted.delete(c);
    }
    for (const c of added) this.wanted.add(c);
    if (gone.length) this.send({ type: "unsubscribe", cells: gone });
    if (added.length) this.send({ type: "subscribe", cells: added });
    clearTimeout(this.retireTimer);
    if (this.retiring.length) this.retireTimer = window.setTimeout(() => this.retire(), 5000);
    this.changed();
  }

  /** Follows no cell any more and forgets what they held: the map empties at once. */
  clear() {
    if (this.wanted.size) this.send({ type: "unsubscribe", cells: [...this.wanted] });
    this.wanted.clear();
    this.held.clear();
    this.retiring = [];
    clearTimeout(this.retireTimer);
    this.changed();
  }

  /** What the map shows now: every held cell, with this client's own unconfirmed writes. */
  view(): Content {
    if (this.merged) return this.merged;
    const m = empty();
    const add = (c: Content) => {
      c.knoten.forEach((v, k) => m.knoten.set(k, v));
      c.faeden.forEach((v, k) => m.faeden.set(k, v));
      c.garnrollen.forEach((v, k) => m.garnrollen.set(k, v));
      c.goldfaeden.forEach((v, k) => m.goldfaeden.set(k, v));
    };
    this.retiring.forEach(add);
    this.held.forEach(add);
    const now = Date.now();
    for (const [id, at] of this.localAt) {
      if (now - at > LOCAL_TTL_MS) {
        this.localAt.delete(id);
        this.local.knoten.delete(id);
        this.local.faeden.delete(id);
      }
    }
    add(this.local);
    this.merged = m;
    return m;
  }

  /** Shows what this client just wrote until the feed brings it. */
  upsertLocal(l: { knoten?: Knoten; faeden?: Faden[] }) {
    const now = Date.now();
    if (l.knoten) {
      this.local.knoten.set(l.knoten.id, l.knoten);
      this.localAt.set(l.knoten.id, now);
    }
    for (const f of l.faeden ?? []) {
      // Keep the thread's drawing while the write's answer lacks the spinner's position.
      const known = this.view().faeden.get(f.id);
      this.local.faeden.set(f.id, { ...f, account_position: f.account_position ?? known?.account_position ?? null });
      this.localAt.set(f.id, now);
    }
    this.changed();
  }

  private connect() {
    if (this.stopped) return;
    this.setStatus("connecting");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onmessage = (ev) => {
      let msg: ServerMessage;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return;
      }
      this.handle(msg);
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.setStatus("offline");
      this.scheduleReconnect(ev.code);
    };
  }

  private reconnectNow() {
    if (this.ws || this.stopped) return;
    clearTimeout(this.reconnectTimer);
    this.backoff = 500;
    this.connect();
  }

  // A server restart (4012) is answered at once, by the cursor (resubscribe); anything else
  // waits its backoff.
  private scheduleReconnect(code = 0) {
    clearTimeout(this.reconnectTimer);
    const delay = reconnectDelay(code, this.backoff);
    if (code !== SERVER_RESTART) this.backoff = Math.min(this.backoff * 2, 30000);
    this.reconnectTimer = window.setTimeout(() => this.connect(), delay);
  }

  private setStatus(s: FeedStatus) {
    if (this.status === s) return;
    this.status = s;
    this.onStatus(s);
  }

  private send(msg: object) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN && this.status === "live") this.ws.send(JSON.stringify(msg));
    // Otherwise the hello of the next connection subscribes to everything wanted.
  }

  // Subscribes again: held cells with the cursor (only what was missed), the others afresh.
  private resubscribe(cells: string[]) {
    const withCursor = cells.filter((c) => this.held.has(c));
    const fresh = cells.filter((c) => !this.held.has(c));
    if (withCursor.length) {
      if (this.cursor) this.send({ type: "subscribe", cells: withCursor, cursor: this.cursor });
      else fresh.push(...withCursor);
    }
    if (fresh.length) this.send({ type: "subscribe", cells: fresh });
  }

  private handle(msg: ServerMessage) {
    switch (msg.type) {
      case "hello":
        this.batchMs = msg.batch_ms || this.batchMs;
        this.backoff = 500;
        this.setStatus("live");
        this.resubscribe([...this.wanted]);
        return;
      case "state": {
        if (!this.wanted.has(msg.cell)) return;
        const c = empty();
        for (const k of msg.knoten ?? []) c.knoten.set(k.id, k);
        for (const f of msg.faeden ?? []) c.faeden.set(f.id, f);
        for (const g of msg.garnrollen ?? []) c.garnrollen.set(g.id, g);
        for (const g of msg.goldfaeden ?? []) c.goldfaeden.set(g.id, g);
        this.held.set(msg.cell, c);
        this.confirm(msg);
        this.cursor = msg.cursor;
        if ([...this.wanted].every((w) => this.held.has(w))) this.retire();
        this.changed();
        return;
      }
      case "delta": {
        const c = this.held.get(msg.cell);
        this.cursor = msg.cursor ?? this.cursor;
        if (!c) return;
        for (const k of msg.knoten ?? []) c.knoten.set(k.id, k);
        for (const f of msg.faeden ?? []) c.faeden.set(f.id, f);
        for (const g of msg.garnrollen ?? []) c.garnrollen.set(g.id, g);
        for (const g of msg.goldfaeden ?? []) c.goldfaeden.set(g.id, g);
        for (const id of msg.removed?.knoten ?? []) c.knoten.delete(id);
        for (const id of msg.removed?.faeden ?? []) c.faeden.delete(id);
        for (const id of msg.removed?.garnrollen ?? []) c.garnrollen.delete(id);
        for (const id of msg.removed?.goldfaeden ?? []) c.goldfaeden.delete(id);
        this.confirm(msg);
        this.changed();
        return;
      }
      case "resync": {
        const cells = msg.cells ?? [...this.wanted];
        this.resubscribe(cells.filter((c) => this.wanted.has(c)));
        return;
      }
      case "error":
        this.onError(msg.error?.code ?? "", msg.error?.message ?? "");
        return;
    }
  }

  // The feed now carries these objects: drop this client's own copies of them.
  private confirm(l: Lists & { removed?: { knoten?: string[]; faeden?: string[] } }) {
    const drop = (id: string) => {
      this.local.knoten.delete(id);
      this.local.faeden.delete(id);
      this.localAt.delete(id);
    };
    l.knoten?.forEach((k) => drop(k.id));
    l.faeden?.forEach((f) => drop(f.id));
    l.removed?.knoten?.forEach(drop);
    l.removed?.faeden?.forEach(drop);
  }

  private retire() {
    clearTimeout(this.retireTimer);
    if (this.retiring.length === 0) return;
    this.retiring = [];
    this.changed();
  }

  private changed() {
    this.merged = null;
    this.onChange();
  }
}
