// The Ortskonto's states in words, for the slider, the Kasse and the Webrat.
import type { Me, SpendeStatus } from "./types";

export const spendeStatusLabel: Record<SpendeStatus, string> = {
  initiated: "ausstehend",
  pending: "ausstehend, eingegangen",
  settled: "gebucht",
  failed: "fehlgeschlagen",
  reversed: "storniert",
};

export const auszahlungStatusLabel: Record<string, string> = {
  beantragt: "beantragt",
  bewilligt: "bewilligt",
  geleistet: "ausgezahlt",
  abgebrochen: "abgebrochen",
  entfallen: "entfallen",
};

/** May this account act as treasurer (admins always may)? */
export const isTreasurer = (me: Me | null) => !!me && (me.is_admin || !!me.roles?.includes("kassenwart"));
