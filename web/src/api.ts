// Talking to the instance: JSON over fetch, and its errors in German.

export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public field?: string,
    public retryAfter?: number, // seconds, from the Retry-After header of a 429 or 503
  ) {
    super(message);
  }
}

// German texts for the error codes of docs/API.md and docs/MAPFEED.md; anything not listed
// shows the instance's own message.
const messages: Record<string, string> = {
  malformed_json: "Die Anfrage war nicht lesbar.",
  unknown_field: "Die Anfrage enthielt ein unbekanntes Feld.",
  invalid_field_type: "Ein Feld hatte den falschen Typ.",
  malformed_bbox: "Der Kartenausschnitt war nicht lesbar.",
  timeline_before_start: "Für diesen Tag gibt es noch keinen Stand der Karte.",
  timeline_in_future: "Dieser Tag liegt in der Zukunft.",
  timeline_too_many: "Zu großer Ausschnitt für die Zeitleiste: zoom näher heran.",
  timeline_off: "Diese Ortsweberei führt keine Zeitleiste.",
  malformed_date: "Das Datum war nicht lesbar.",
  malformed_time: "Die Uhrzeit war nicht lesbar.",
  snapshot_not_found: "Diesen Snapshot gibt es hier nicht.",
  unauthenticated: "Bitte melde dich an.",
  invalid_credentials: "E-Mail oder Passwort stimmen nicht.",
  not_your_faden: "Das ist nicht dein Faden.",
  admin_required: "Das darf nur eine Verwalterin oder ein Verwalter.",
  verified_resident_required:
    "Das dürfen nur bestätigte Bewohnerinnen und Bewohner. Dein Konto wird von einer Verwalterin bestätigt.",
  own_antrag: "Gegen deinen eigenen Antrag kannst du keinen Einspruch erheben.",
  not_your_antrag: "Das ist nicht dein Antrag.",
  not_your_delegation: "Das ist nicht deine Delegation.",
  knoten_not_found: "Diesen Knoten gibt es nicht.",
  faden_not_found: "Diesen Faden gibt es nicht.",
  account_not_found: "Dieses Konto gibt es nicht.",
  antrag_not_found: "Diesen Antrag gibt es nicht.",
  abstimmung_not_found: "Diese Abstimmung gibt es nicht.",
  delegation_not_found: "Diese Delegation gibt es nicht.",
  no_such_route: "Diese Funktion kennt die Instanz nicht.",
  method_not_allowed: "Diese Funktion kennt die Instanz nicht.",
  already_twisted: "Dieser Faden ist schon verzwirnt.",
  not_twisted: "Dieser Faden ist nicht verzwirnt.",
  already_verified: "Das Konto ist schon bestätigt.",
  already_objected: "Du hast schon Einspruch erhoben.",
  deadline_passed: "Die Frist ist abgelaufen.",
  antrag_not_open: "Der Antrag ist nicht mehr offen.",
  antrag_hidden: "Dieser Antrag ist von der Moderation ausgeblendet (siehe Moderationsprotokoll).",
  antrag_held: "Dieser Antrag wartet auf die Prüfung durch die Moderation; bis dahin kannst du ihn nicht zurückziehen.",
  abstimmung_not_open: "Die Abstimmung ist noch nicht offen.",
  abstimmung_closed: "Die Abstimmung ist geschlossen.",
  already_delegated: "Du hast deine Stimme schon delegiert. Widerrufe die Delegation zuerst.",
  already_revoked: "Diese Delegation ist schon widerrufen.",
  knoten_dissolved: "Dieser Knoten hat sich aufgelöst.",
  knoten_hidden: "Dieser Knoten wurde von der Moderation ausgeblendet.",
  faden_expired: "Dieser Faden ist abgelaufen.",
  faden_hidden: "Dieser Faden wurde von der Moderation ausgeblendet.",
  delegation_ended: "Diese Delegation ist beendet.",
  body_too_large: "Das ist zu lang.",
  unsupported_media_type: "Die Anfrage hatte das falsche Format.",
  missing_field: "Bitte fülle alle Pflichtfelder aus.",
  invalid_coordinates: "Diese Koordinaten gibt es nicht.",
  outside_ortsweberei: "Dieser Ort liegt außerhalb der Ortsweberei.",
  empty_title: "Bitte gib einen Titel ein.",
  invalid_title: "Der Titel ist zu lang oder enthält ungültige Zeichen.",
  invalid_description: "Die Beschreibung ist zu lang oder enthält ungültige Zeichen.",
  unknown_knoten_type: "Diese Knotenart gibt es nicht.",
  unknown_faden_type: "Diese Fadenart gibt es nicht.",
  reserved_faden_type: "Diese Fadenart entsteht nur von selbst.",
  invalid_bbox: "Der Kartenausschnitt ist ungültig.",
  invalid_limit: "Ungültige Anzahl.",
  invalid_fields: "Ungültige Form der Liste.",
  invalid_name: "Bitte gib einen Namen ein (höchstens 100 Zeichen).",
  empty_reason: "Bitte gib eine Begründung ein.",
  invalid_reason: "Die Begründung ist zu lang oder enthält ungültige Zeichen.",
  invalid_details: "Die Beschreibung ist zu lang oder enthält ungültige Zeichen.",
  invalid_amount: "Der Betrag ist ungültig.",
  invalid_status: "Diesen Stand gibt es nicht.",
  invalid_note: "Die Notiz ist zu lang (höchstens 280 Zeichen) oder enthält ungültige Zeichen.",
  invalid_bic: "Diese BIC ist ungültig (8 oder 11 Buchstaben und Ziffern).",
  invalid_empfaenger: "Bitte gib den Namen des Kontoinhabers an (höchstens 70 Zeichen).",
  auszahlung_not_found: "Diese Auszahlung gibt es nicht.",
  unknown_status: "Diesen Status gibt es nicht.",
  invalid_choice: "Ungültige Wahl.",
  self_delegation: "Du kannst deine Stimme nicht an dich selbst delegieren.",
  delegation_cycle: "Das ergäbe einen Kreis von Delegationen.",
  delegate_not_eligible: "Diese Person kann keine Stimme annehmen (nicht bestätigt).",
  invalid_account_id: "Ungültiges Konto.",
  invalid_address: "Bitte gib eine Adresse ein.",
  invalid_email: "Diese E-Mail-Adresse ist ungültig.",
  rate_limited: "Zu viele Anfragen auf einmal. Bitte warte {wait} und versuch es dann noch einmal.",
  ip_blocked: "Von diesem Netz aus sind Änderungen gesperrt; lesen geht.",
  login_locked: "Zu viele fehlgeschlagene Anmeldungen für diese Adresse; die Anmeldung ist vorübergehend gesperrt. Bitte versuch es in {wait} noch einmal.",
  busy: "Die Instanz ist gerade sehr beschäftigt. Bitte versuch es gleich noch einmal.",
  invalid_position_radius: "Der Umkreis muss zwischen 50 und 5000 Metern liegen.",
  too_many_cells: "Zu großer Ausschnitt: bitte näher heranzoomen.",
  text_too_long: "Die Nachricht ist zu lang (höchstens 500 Zeichen).",
  empty_text: "Die Nachricht ist leer.",
  invalid_text: "Der Text ist zu lang oder enthält Zeichen, die nicht erlaubt sind (etwa Steuerzeichen).",
  duplicate_field: "Die Anfrage enthielt ein Feld doppelt.",
  cross_origin_request: "Diese Anfrage kam von einer anderen Seite und wurde abgewiesen.",
  email_taken: "Zu dieser E-Mail-Adresse gibt es schon ein Konto.",
  not_restored: "Dieses Konto hat schon eine eigene Anmeldung.",
  nachricht_not_found: "Diese Nachricht gibt es nicht.",
  invalid_before: "Ungültiger Verweis auf ältere Nachrichten.",
  invalid_zoom: "Die Zoomstufe ist ungültig.",
  invalid_bounds: "Die Grenzen der Ortsweberei sind ungültig.",
  search_too_long: "Die Suche ist zu lang.",
  too_many_search_words: "Die Suche hat zu viele Wörter.",
  invalid_query: "Bitte gib eine Suche ein (höchstens 100 Zeichen).",
  not_a_resident: "Abstimmen und Einspruch erheben können nur bestätigte Bewohnerinnen und Bewohner der Ortsweberei des Antrags.",
  outside_voting_window: "Diese Stimme wurde nicht abgegeben, während die Abstimmung offen war.",
  poll_closed: "Die Abstimmung war schon beendet, als die Stimme abgegeben wurde.",
  stale: "Hier ist schon ein neuerer Stand gespeichert.",
  clock_backwards: "Die Uhr läuft nur vorwärts.",
  clock_jump_too_large: "Die Uhr springt höchstens 366 Tage auf einmal.",
  invalid_duration: "Diese Zeitspanne ist ungültig (etwa „168h“).",
  federation_failed: "Die Verbindung zur anderen Ortsweberei kam nicht zustande.",
  unreadable_body: "Die Anfrage war nicht lesbar.",
  invalid_filter: "Dieser Filter ist ungültig.",
  too_large: "Das ist zu groß.",
  not_found: "Das gibt es hier nicht.",
  gone: "Das gibt es nicht mehr.",
  request_timeout: "Die Instanz hat zu lange gebraucht. Bitte versuch es gleich noch einmal.",
  database_unavailable: "Die Instanz kommt gerade nicht an ihre Daten. Bitte versuch es gleich noch einmal.",
  malformed_message: "Die Karte hat eine unlesbare Nachricht geschickt.",
  unknown_type: "Die Karte hat eine unbekannte Nachricht geschickt.",
  invalid_cell: "Die Karte hat einen ungültigen Ausschnitt angefragt.",
  invalid_resolution: "Die Karte hat einen ungültigen Ausschnitt angefragt.",
  invalid_cursor: "Die Karte hat einen ungültigen Stand angefragt.",
  unavailable: "Die Karte konnte gerade nicht geladen werden; sie versucht es gleich noch einmal.",
  internal: "Auf der Seite der Instanz ist etwas schiefgegangen.",
  network: "Die Instanz ist gerade nicht erreichbar. Bitte versuch es gleich noch einmal.",
  // The Ortskonto (docs/ORTSKONTO.md)
  invalid_currency: "Spenden gehen nur in Euro.",
  invalid_visible: "Bitte wähle: sichtbar oder anonym.",
  invalid_message: "Die Nachricht ist zu lang (höchstens 280 Zeichen) oder enthält ungültige Zeichen.",
  idempotency_key_missing: "Die Spende kam ohne gültige Kennung an. Bitte lade die Seite neu.",
  invalid_idempotency_key: "Die Spende kam ohne gültige Kennung an. Bitte lade die Seite neu.",
  idempotency_key_reused: "Diese Kennung gehört schon zu einer anderen Spende. Bitte lade die Seite neu.",
  konto_not_configured: "Das Ortskonto hat noch keine Bankverbindung.",
  illegal_transition: "Dieser Schritt passt nicht zum Stand der Spende; nichts wurde geändert.",
  spende_not_found: "Diese Spende gibt es nicht.",
  treasurer_required: "Das darf nur die Kasse (Kassenwart oder Verwaltung).",
  invalid_iban: "Diese IBAN ist ungültig.",
  // Moderation (docs/MODERATION.md); what only the moderation panel and the report dialog meet comes with them
  account_banned: "Dein Konto ist gesperrt: du kannst lesen und Widerspruch einlegen, aber nichts mehr schreiben.",
  account_suspended: "Dein Konto ist vorübergehend gesperrt: bis dahin kannst du lesen und Widerspruch einlegen, aber nichts schreiben.",
  wortfilter_blocked: "Dieser Text enthält ein Wort, das diese Ortsweberei nicht zulässt.",
};

// The texts of codes that only a part fetched later meets (the Kasse, the moderation panel)
// come with that part, which adds them as it loads: the first load stays within its budget.
// (TestEveryErrorCodeHasAGermanMessage reads these addMessages({…}) tables too.)
export function addMessages(more: Record<string, string>) {
  Object.assign(messages, more);
}

export function germanMessage(err: unknown): string {
  if (!(err instanceof ApiError)) return messages.network;
  const text = messages[err.code];
  if (!text) return err.message;
  return text.replace("{wait}", waitText(err.retryAfter ?? 60));
}

// waitText says a Retry-After in words: "einer Minute", "3 Minuten", "20 Sekunden".
function waitText(seconds: number): string {
  if (seconds < 60) return seconds <= 1 ? "einen Moment" : `${Math.ceil(seconds)} Sekunden`;
  const minutes = Math.ceil(seconds / 60);
  return minutes === 1 ? "einer Minute" : `${minutes} Minuten`;
}

// A Blob (a file) goes as it is, with its type; anything else as JSON.
export async function api<T = unknown>(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
  let res: Response;
  const raw = body instanceof Blob;
  try {
    res = await fetch(path, {
      method,
      headers: { Accept: "application/json", ...(body === undefined || raw ? {} : { "Content-Type": "application/json" }), ...headers },
      body: body === undefined || raw ? (body as Blob | undefined) : JSON.stringify(body),
      credentials: "same-origin",
    });
  } catch {
    throw new ApiError(0, "network", messages.network);
  }
  if (res.status === 204) return undefined as T;
  let data: any = null;
  try {
    data = await res.json();
  } catch {
    // not JSON: handled below
  }
  if (!res.ok) {
    const e = data?.error;
    const retry = Number(res.headers.get("Retry-After"));
    throw new ApiError(res.status, e?.code ?? "internal", e?.message ?? `HTTP ${res.status}`, e?.field, retry > 0 ? retry : undefined);
  }
  return data as T;
}

export const get = <T>(path: string) => api<T>("GET", path);
export const post = <T>(path: string, body?: unknown) => api<T>("POST", path, body ?? {});

// When a socket that closed opens again. A replica that shuts down (a deploy, a restart) closes
// its sockets with 4012 "server restart" (instance/wire.ServerRestart) after it has stopped
// taking connections: the app reconnects at once, through nginx to a replica that runs, and
// resumes by its cursor. The jitter spreads a replica's thousands of sockets over a quarter
// second instead of one instant. Any other close waits its backoff.

export const SERVER_RESTART = 4012;

/** Milliseconds to wait before reconnecting a socket closed with `code`: 0–250 after a server restart, else `backoff` ± 25 %. */
export function reconnectDelay(code: number, backoff: number): number {
  if (code === SERVER_RESTART) return Math.random() * 250;
  return backoff * (0.75 + Math.random() * 0.5);
}
