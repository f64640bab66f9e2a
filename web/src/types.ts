// The shapes the instance's API and map feed send (docs/API.md, docs/MAPFEED.md).

export const KNOTEN_TYPES = ["idee", "ereignis", "einrichtung", "werkzeug", "schlafplatz", "parkplatz"] as const;
export type KnotenType = (typeof KNOTEN_TYPES)[number];

export interface Point {
  lat: number;
  lon: number;
}

export interface Knoten extends Point {
  id: string;
  type: KnotenType;
  title: string;
  description: string;
  h3?: string;
  created_by: string;
  created_at: string;
  last_activity_at: string;
  permanent: boolean;
  garn_count: number;
  dissolves_at: string | null;
  /** Hidden by the moderators or held by the word filter: only its creator is shown it. */
  hidden?: boolean;
  faden?: Faden;
}

export interface Faden {
  id: string;
  knoten_id: string;
  account_id: string;
  account_name: string;
  account_position?: Point | null;
  type: string;
  is_twisted: boolean;
  created_at: string;
  expires_at: string | null;
  hidden?: boolean; // the viewer's own Faden, hidden by a moderator
}

export interface Garnrolle {
  id: string;
  name: string;
  verified: boolean;
  position: Point | null;
}

export interface Me {
  id: string;
  name: string;
  email: string;
  address: string;
  lat: number;
  lon: number;
  position_radius_m: number;
  on_map: boolean;
  position: Point | null;
  verified: boolean;
  is_admin: boolean;
  roles?: string[];
  created_at: string;
}

export interface Named {
  id: string;
  name: string;
}

/** Ours carry account_id and name; a neighbour's Antrag's carry author {id: actor IRI, name} instead (docs/API.md). */
export interface Einspruch {
  account_id?: string;
  name?: string;
  author?: Named;
  reason: string;
  created_at: string;
  hidden?: boolean; // the viewer's own Einspruch, held by the word filter or hidden by a moderator
}

export interface Kommentar {
  id: string; // its IRI: what a report names
  author: string;
  author_name: string;
  content_html: string;
  published: string;
}

export type AntragStatus = "offen" | "abstimmung" | "angenommen" | "abgelehnt" | "zurueckgezogen";

export interface Antrag {
  id: string;
  title: string;
  details_md: string;
  details_html: string;
  amount_cents: number | null;
  /** The payout asked of the Ortskonto, if any. */
  auszahlung?: { id: string; betrag_cents: number; status: string; gedeckt: boolean | null } | null;
  applicant: Named;
  knoten_id: string | null;
  opened_at: string;
  decision_deadline: string;
  extended: boolean;
  status: AntragStatus;
  decided_at: string | null;
  abstimmung_id: string | null;
  einspruch_count: number;
  einsprueche?: Einspruch[];
  /** Public replies from the Fediverse (content_html sanitized by the instance); left out when none. */
  comments?: Kommentar[];
  /** The applicant's own Antrag that no one else is shown: hidden by a moderator, or held by the word filter. */
  hidden?: boolean;
  held?: boolean;
  /** A neighbouring Ortsweberei's Antrag (read-only here), and its ActivityPub id. */
  remote?: boolean;
  fediverse?: { id: string; follow?: string };
}

export type Choice = "yes" | "no" | "abstain";

export interface Vote {
  account_id: string;
  name: string;
  choice: Choice;
  at: string;
  cast_at?: string;
  weight?: number;
  delegated?: { account_id: string; name: string; chain: Named[] }[];
}

export interface Abstimmung {
  id: string;
  antrag_id: string;
  status: string;
  opens_at: string;
  closes_at: string;
  closed_at: string | null;
  result: string | null;
  votes: Vote[];
  history: Vote[];
  tally: { yes: number; no: number; abstain: number; turnout: number; passing: boolean; final: boolean; as_of: string };
}

export interface Delegation {
  id: string;
  from: Named;
  to: Named;
  state: string;
  requested_at: string;
  effective_at: string | null;
  ends_at: string | null;
  idle_expires_at: string | null;
  ended_at?: string | null;
  end_reason?: string | null;
  /** The delegate is banned or suspended now (the delegation stays until revoked). */
  delegate_sanction?: "banned" | "suspended";
}

export interface ChatMessage {
  id: string;
  account: Named;
  text: string;
  at: string;
  hidden?: boolean; // the viewer's own message, held by the word filter or hidden by a moderator
}

export interface Ortsweberei {
  name: string;
  bounds: GeoJSON.MultiPolygon | null;
  /** The IANA time zone the instance reads dates in (the timeline's days). */
  timezone?: string;
  limits?: Limits;
}

/** The instance's limits on residents' texts, in characters (GET /api/ortsweberei). */
export interface Limits {
  knoten_title: number;
  knoten_description: number;
  antrag_title: number;
  antrag_details: number;
  einspruch_reason: number;
  chat_text: number;
  name: number;
}

// What the page carries from the instance (web/embed.go fills it in).
export interface PageConfig {
  basemap?: string;
  dev?: boolean;
}

export type SpendeStatus = "initiated" | "pending" | "settled" | "failed" | "reversed";

/** A visible donation on the map (docs/MAPFEED.md): from the donor's Garnrolle to the Ortskonto. */
export interface Goldfaden {
  id: string;
  account_id: string;
  account_name: string;
  account_position: Point | null;
  konto_position: Point;
  status: SpendeStatus;
  amount_cents: number;
  created_at: string;
}

export interface Bank {
  empfaenger: string;
  iban: string;
  bic: string;
}

export type AuszahlungStatus = "beantragt" | "bewilligt" | "geleistet" | "abgebrochen" | "entfallen";

export interface Auszahlung {
  id: string;
  antrag_id?: string;
  antrag?: Named & { title?: string };
  title?: string;
  betrag_cents: number;
  status: AuszahlungStatus;
  gedeckt: boolean | null;
  [k: string]: unknown;
}

/** GET /api/konto. */
export interface Konto {
  balance_cents: number;
  pending_cents: number;
  reserved_cents: number;
  available_cents: number;
  settled_cents: number;
  reversed_cents: number;
  paid_cents: number;
  counts: Record<SpendeStatus, number>;
  bank: Bank | null;
  position: Point | null;
  goldfaeden: { id: string; account_id: string; account_name: string; status: SpendeStatus; amount_cents: number; message: string; created_at: string }[];
  auszahlungen: Auszahlung[];
}

export interface Spende {
  id: string;
  reference: string;
  amount_cents: number;
  currency: string;
  visible: boolean;
  status: SpendeStatus;
  message: string;
  created_at: string;
  updated_at: string;
  donor?: Named;
}

export interface Ueberweisung {
  empfaenger: string;
  iban: string;
  bic: string;
  verwendungszweck: string;
  betrag_cents: number;
}

export interface Buchung {
  seq: number;
  booked_at: string;
  kind: "spende" | "storno" | "auszahlung";
  amount_cents: number;
  donor: Named | "anonym" | null;
  antrag: { id: string; title: string } | null;
  message: string;
}

/**
 * A past day as the timeline shows it (GET /api/timeline): what the Webrat and the Ortskonto
 * show instead of the live state while the timeline is open.
 */
export interface PastDay {
  /** The banner's text: "Stand: 12.11.2026". */
  label: string;
  /** The day's Anträge (those without a Knoten and those of Knoten in the view) with their
   * status as of then; no Einsprüche, Abstimmung or payout (the answer has their count only). */
  antraege: Antrag[];
  /** The Ortskonto's balance as of then; null: it had none; undefined: the instance did not
   * say (one older than the balance in the timeline). */
  ortskonto?: { balance_cents: number } | null;
  /** Why the day could not be loaded (then the lists are empty). */
  error?: string;
}
