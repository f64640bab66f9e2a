// The Partizipartei's livestreams (docs/STREAMS.md): /streams lists them (live, scheduled, past
// with their chat), /streams/{id} is one stream: the video, whether it is live, how many
// watch, and its chat under the video on a phone, beside it on a wide screen. Streamers and
// admins make streams here, see a new ingest key once (with the server URL for OBS), rotate
// it and end the stream.
//
// Fetched when an address under /streams is first opened (main.ts): the map's first load keeps
// its budget. The page lies over the map, which keeps running underneath, so that going back
// to it is immediate; from then on this module follows the address (its links, back, forward).
import { ApiError, api, get, germanMessage, post } from "./api";
import { copy } from "./clipboard";
import { formError, h, replace, time, when } from "./dom";
import { Player } from "./player";
import { session } from "./session";
import { StreamChat } from "./streamchat";
import "./streams";
import { toast } from "./toast";
import type { Me } from "./types";
import { closePanel, closeSlider } from "./ui";

type State = "geplant" | "live" | "unterbrochen" | "beendet";

interface Stream {
  id: string;
  title: string;
  state: State;
  scheduled_at: string | null;
  live_since: string | null;
  created_at: string;
  ended_at: string | null;
  hls_url?: string;
  ingest_key?: string;
}

const stateLabel: Record<State, string> = { geplant: "Geplant", live: "Live", unterbrochen: "Offline", beendet: "Beendet" };

const mayRun = (me: Me | null) => !!me && (me.is_admin || !!me.roles?.includes("streamer"));

const view = h("div", { class: "streams-view", id: "streams-view", hidden: true });
document.body.append(view);
// What is open: its teardown (the socket, the player, the poll) when the address changes.
let leave: (() => void) | null = null;
// A key just made or rotated, shown on the stream's page this once.
const freshKey = new Map<string, string>();

const path = () => location.pathname.match(/^\/streams(?:\/([0-9a-f-]{36}))?\/?$/i);

let mapTitle = document.title;

/** Shows what the address says: the list, a stream, or (anywhere else) the map again. */
export function route() {
  leave?.();
  leave = null;
  const m = path();
  if (view.hidden) mapTitle = document.title;
  else if (!m) document.title = mapTitle;
  document.documentElement.dataset.view = m ? "streams" : "";
  view.hidden = !m;
  if (!m) return;
  closeSlider(false);
  closePanel(false);
  window.scrollTo(0, 0);
  if (m[1]) openStream(m[1]);
  else openList();
  // A screen reader starts on the new page's heading.
  view.querySelector<HTMLElement>("h1")?.focus({ preventScroll: true });
}

/** Moves to an address of the app (the page's links; the map's link to the streams). */
export function go(to: string) {
  history.pushState(null, "", to);
  route();
}

addEventListener("popstate", route);
// The page's own links move within the app, without a reload (main.ts moves the map's link
// here with go()).
document.addEventListener("click", (e) => {
  const a = (e.target as HTMLElement).closest<HTMLAnchorElement>("a[data-nav]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(a.getAttribute("href")!);
});

const nav = (back?: boolean) =>
  h("nav", { class: "streams-nav", "aria-label": "Streams" },
    h("a", { href: "/", "data-nav": "" }, "← Zur Karte"),
    back ? h("a", { href: "/streams", "data-nav": "" }, "Alle Streams") : null);

// The list: live first, then scheduled (and interrupted), then past with their chat.
function openList() {
  const body = h("div", { class: "streams-list" }, h("p", { class: "meta" }, "Lade die Streams …"));
  replace(view, nav(), h("main", { class: "streams-page" }, h("h1", { tabindex: -1 }, "Partizipartei: Livestreams"), body));
  document.title = "Livestreams – Weltgewebe";
  let gone = false;
  leave = () => (gone = true);
  const load = async () => {
    try {
      const s = await get<{ live: Stream[]; upcoming: Stream[]; past: Stream[] }>("/api/streams");
      if (gone) return;
      const group = (title: string, list: Stream[], empty: string) =>
        h("section", { class: "streams-group" }, h("h2", {}, title),
          list.length ? h("ul", { class: "stream-cards" }, list.map(card)) : h("p", { class: "meta" }, empty));
      replace(body,
        mayRun(session.me) ? newStreamForm() : null,
        group("Jetzt live", s.live, "Gerade läuft kein Stream."),
        group("Geplant", s.upcoming, "Kein Stream geplant."),
        group("Vergangen", s.past, "Noch kein Stream beendet."));
    } catch (e) {
      if (!gone) replace(body, h("p", { class: "error" }, germanMessage(e)));
    }
  };
  void load();
  session.on(() => !gone && load());
}

// An ISO time as a datetime-local input's value, in the browser's time zone.
function localInput(iso: string | null): string {
  if (!iso) return "";
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

function card(s: Stream) {
  const sub =
    s.state === "live" ? `live seit ${when(s.live_since)}`
    : s.state === "beendet" ? `beendet ${when(s.ended_at)} · mit Chat zum Nachlesen`
    : s.state === "unterbrochen" ? "unterbrochen"
    : s.scheduled_at ? `geplant für ${when(s.scheduled_at)}` : "geplant";
  return h("li", {}, h("a", { class: "stream-card", href: `/streams/${s.id}`, "data-nav": "" },
    h("span", { class: `status state-${s.state}` }, stateLabel[s.state]), h("strong", {}, s.title), h("span", { class: "meta" }, sub)));
}

function newStreamForm() {
  const form = h("form", { class: "stack stream-new" },
    h("h2", {}, "Neuer Stream"),
    h("label", {}, "Titel ", h("input", { name: "title", required: true, maxlength: 200 })),
    h("label", {}, "Termin (optional) ", h("input", { name: "scheduled_at", type: "datetime-local" })),
    h("p", { class: "form-error", role: "alert", hidden: true }),
    h("div", { class: "actions" }, h("button", { type: "submit" }, "Stream anlegen")));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const at = String(data.get("scheduled_at") || "");
    try {
      const s = await post<Stream>("/api/streams", { title: String(data.get("title") || "").trim(), ...(at ? { scheduled_at: new Date(at).toISOString() } : {}) });
      if (s.ingest_key) freshKey.set(s.id, s.ingest_key);
      go(`/streams/${s.id}`);
    } catch (err) {
      formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
    }
  });
  return form;
}

// One stream. Its state and viewers come from the chat's socket; while that is shut (or when
// the video stops on its own) the page asks the instance.
function openStream(id: string) {
  const video = h("video", { controls: true, "aria-label": "Video des Streams" });
  const note = h("p", { class: "video-note", role: "status" });
  const title = h("h1", { tabindex: -1 }, "Stream");
  const badge = h("span", { class: "status stream-state", "data-state": "" });
  const viewers = h("span", { class: "meta viewers", hidden: true });
  const facts = h("p", { class: "meta" });
  const tools = h("div", { class: "stream-tools" });
  const chat = new StreamChat(id, false);
  replace(view, nav(true),
    h("main", { class: "stream-page" },
      h("div", { class: "stream-main" },
        h("div", { class: "video-box" }, video, note),
        h("div", { class: "stream-head" }, title, h("p", { class: "stream-status" }, badge, " ", viewers), facts),
        tools),
      chat.el));

  let stream: Stream | null = null;
  let gone = false;
  let poll = 0;
  let linked = false;
  // The video stopped on its own: the stream's state says whether to play again, asked after
  // a moment (a playlist that is not there yet must not make a loop of requests).
  const player = new Player(video, () => window.setTimeout(() => !gone && refresh(), 2000));

  const show = (s: Stream) => {
    stream = s;
    title.textContent = s.title;
    document.title = `${s.title} – Weltgewebe`;
    badge.textContent = stateLabel[s.state];
    badge.dataset.state = s.state;
    badge.className = `status stream-state state-${s.state}`;
    replace(facts,
      s.state === "live" && s.live_since ? ["live seit ", time(s.live_since)]
      : s.state === "beendet" && s.ended_at ? ["beendet ", time(s.ended_at)]
      : s.scheduled_at ? ["geplant für ", time(s.scheduled_at)] : null);
    const live = s.state === "live" && !!s.hls_url;
    video.hidden = !live;
    note.hidden = live;
    note.textContent =
      s.state === "geplant" ? "Der Stream hat noch nicht begonnen."
      : s.state === "unterbrochen" ? "Offline: die Übertragung ist unterbrochen. Sobald sie weitergeht, läuft das Video hier wieder."
      : s.state === "beendet" ? "Dieser Stream ist beendet. Sein Chat bleibt zum Nachlesen."
      : "Das Video startet …";
    if (live) player.play(s.hls_url!).catch(() => (note.hidden = false, note.textContent = "Dieser Browser kann den Stream nicht abspielen."));
    else player.stop();
    if (s.state === "beendet") {
      chat.end();
      viewers.hidden = true; // who still reads an ended stream's chat is not its audience
    }
    renderTools();
  };

  const refresh = async () => {
    try {
      const s = await get<Stream>(`/api/streams/${id}`);
      if (!gone) show(s);
    } catch (e) {
      if (gone) return;
      if (e instanceof ApiError && e.status === 404) {
        player.stop();
        replace(view, nav(true), h("main", { class: "streams-page" }, h("h1", {}, "Stream"), h("p", { class: "error" }, germanMessage(e))));
        return leave?.();
      }
      note.hidden = false;
      note.textContent = germanMessage(e);
    }
  };

  // Without the socket, the state is asked for every 10 s (a thousand viewers with their
  // sockets open ask nothing).
  const schedule = () => {
    clearTimeout(poll);
    if (!linked && !gone) poll = window.setTimeout(() => void refresh().then(schedule), 10000);
  };
  chat.onLink = (open) => {
    linked = open;
    if (open) void refresh(); // what changed while the socket was shut
    schedule();
  };
  chat.onState = (state) => {
    if (state !== stream?.state) void refresh(); // the playlist's address comes with the stream
  };
  // A streamer changed the title or time: every open screen shows it at once.
  chat.onChanged = (title, at) => {
    if (stream) show({ ...stream, title, scheduled_at: at });
  };
  chat.onViewers = (n) => {
    viewers.hidden = stream?.state === "beendet";
    viewers.textContent = n === 1 ? "1 Person schaut zu" : `${n} Personen schauen zu`;
  };

  // The streamer's tools: the title and time, the key (shown once), rotating it, ending the
  // stream. The boxes are kept across re-renders: a frame that arrives while the form is open
  // must not throw away what is being typed.
  const keyBox = h("div", { class: "stream-key" });
  const editBox = h("div", { class: "stream-edit" });
  const renderTools = () => {
    if (!stream || !mayRun(session.me) || stream.state === "beendet") return replace(tools);
    const key = freshKey.get(id);
    freshKey.delete(id);
    if (key) showKey(key);
    replace(tools, h("h2", {}, "Für Streamer"), keyBox, editBox,
      h("div", { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: edit }, "Bearbeiten"),
        h("button", { type: "button", class: "secondary", onclick: rotate }, "Neuen Schlüssel erzeugen"),
        h("button", { type: "button", class: "secondary danger", onclick: end }, "Stream beenden")));
  };
  const showKey = (key: string) => {
    const server = `rtmp://${location.hostname}/live`;
    const field = (label: string, value: string) =>
      h("div", { class: "key-field" }, h("label", {}, label, h("input", { readonly: true, value, class: "mono", onfocus: (e: Event) => (e.target as HTMLInputElement).select() })),
        h("button", { type: "button", class: "secondary small", onclick: () => copy(value, label) }, "Kopieren"));
    replace(keyBox,
      h("p", { class: "hint" }, "In OBS unter Einstellungen → Stream: Dienst „Benutzerdefiniert“, dann Server und Stream-Schlüssel von hier. ",
        h("strong", {}, "Der Schlüssel wird nur jetzt angezeigt"), "; wer ihn hat, kann auf diesem Stream senden."),
      field("Server", server), field("Stream-Schlüssel", key));
  };
  // Title and time: only what was changed is sent (a time that has passed since it was set
  // stays as it is unless it is changed); an empty time takes it away.
  const edit = () => {
    if (!stream || editBox.firstChild) return;
    const was = { title: stream.title, at: localInput(stream.scheduled_at) };
    const form = h("form", { class: "stack" },
      h("label", {}, "Titel ", h("input", { name: "title", required: true, maxlength: 200, value: was.title })),
      h("label", {}, "Termin (leer: keiner) ", h("input", { name: "scheduled_at", type: "datetime-local", value: was.at })),
      h("p", { class: "form-error", role: "alert", hidden: true }),
      h("div", { class: "actions" },
        h("button", { type: "submit" }, "Speichern"),
        h("button", { type: "button", class: "secondary", onclick: () => replace(editBox) }, "Abbrechen")));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const data = new FormData(form);
      const title = String(data.get("title") || "").trim();
      const at = String(data.get("scheduled_at") || "");
      const change: { title?: string; scheduled_at?: string | null } = {};
      if (title !== was.title) change.title = title;
      if (at !== was.at) change.scheduled_at = at ? new Date(at).toISOString() : null;
      if (!Object.keys(change).length) return replace(editBox);
      try {
        const s = await api<Stream>("PATCH", `/api/streams/${id}`, change);
        replace(editBox);
        show(s);
      } catch (err) {
        formError(form, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      }
    });
    replace(editBox, form);
    form.querySelector("input")?.focus();
  };
  const rotate = async () => {
    if (!confirm("Einen neuen Schlüssel erzeugen? Der alte gilt dann nicht mehr, und eine laufende Übertragung mit ihm bricht ab.")) return;
    try {
      const s = await post<Stream>(`/api/streams/${id}/key`);
      if (s.ingest_key) freshKey.set(id, s.ingest_key);
      show(s);
    } catch (e) {
      toast(germanMessage(e), "error");
    }
  };
  const end = async () => {
    if (!confirm("Den Stream für immer beenden? Er kann danach nicht mehr live gehen; sein Chat bleibt zu lesen.")) return;
    try {
      show(await post<Stream>(`/api/streams/${id}/end`));
    } catch (e) {
      toast(germanMessage(e), "error");
    }
  };

  const onSession = () => !gone && stream && renderTools();
  session.on(onSession);
  leave = () => {
    gone = true;
    clearTimeout(poll);
    player.stop();
    chat.close();
  };
  void refresh();
  chat.start();
  schedule();
}
