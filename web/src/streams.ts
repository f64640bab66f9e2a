// The livestreams' part of the app (docs/STREAMS.md). For now only the German texts of the
// stream API's error codes: the stream page (a later slice of issue 17) imports this module,
// fetched when first opened, so that the map's first load keeps its budget.
// (TestEveryErrorCodeHasAGermanMessage reads this table; the RTMP callbacks' codes are for nginx,
// never shown in the app, and are here for that test.)
import { addMessages } from "./api";

addMessages({
  streamer_required: "Streams dürfen nur die Verwaltung und Streamer (eine Rolle, die die Verwaltung vergibt) anlegen und führen.",
  stream_not_found: "Diesen Stream gibt es nicht.",
  stream_ended: "Dieser Stream ist beendet: sein Chat bleibt lesbar. Für eine neue Übertragung lege einen neuen Stream an.",
  stream_change_empty: "Gib einen neuen Titel, einen neuen Termin oder beides an.",
  invalid_scheduled_at: "Der Termin des Streams muss in der Zukunft liegen.",
  ingest_key_refused: "Dieser Stream-Schlüssel gehört zu keinem Stream, der live gehen darf.",
  ingest_off: "Diese Instanz nimmt keine Übertragungen an (kein RTMP-Geheimnis eingerichtet).",
  rtmp_secret_refused: "Dieser Aufruf trägt nicht das RTMP-Geheimnis.",
  invalid_rtmp_call: "Der Aufruf von nginx-rtmp ist nicht lesbar.",
  invalid_relay: "Die Relay-Adresse in nginx' Aufruf muss eine IP-Adresse mit Port sein.",
  invalid_client: "Der Aufruf von nginx-rtmp nennt keine Verbindung.",
  // The stream's chat (instance/chat).
  invalid_sort: "Sortieren geht nach „Neu“ oder „Oben“.",
  invalid_vote: "Eine Bewertung ist hoch, runter oder zurückgenommen.",
  vote_own_message: "Die eigene Nachricht kannst du nicht bewerten.",
  invalid_chat_cursor: "Der Chat hat einen ungültigen Stand angefragt; er lädt neu.",
});
