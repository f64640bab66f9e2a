// German names and pictures for the domain's words.
import type { KnotenType } from "./types";

export const knotenLabel: Record<KnotenType, string> = {
  idee: "Idee",
  ereignis: "Ereignis",
  einrichtung: "Einrichtung",
  werkzeug: "Werkzeug",
  schlafplatz: "Schlafplatz",
  parkplatz: "Parkplatz",
};

export const fadenLabel: Record<string, string> = {
  gespraech: "Gespräch",
  gestaltung: "Gestaltung",
  veraenderung: "Veränderung",
  antrag: "Antrag",
  abstimmung: "Abstimmung",
  gold: "Goldfaden",
  melde: "Meldung",
  delegation: "Delegation",
};

export const SPINNABLE = ["gespraech", "gestaltung", "veraenderung"];

export const antragStatusLabel: Record<string, string> = {
  offen: "offen",
  abstimmung: "in Abstimmung",
  angenommen: "angenommen",
  abgelehnt: "abgelehnt",
  zurueckgezogen: "zurückgezogen",
};

export const choiceLabel: Record<string, string> = { yes: "Ja", no: "Nein", abstain: "Enthaltung" };

// 24×24 stroke pictures, drawn white on the pin.
export const knotenIcon: Record<KnotenType, string> = {
  idee: "M9 18h6M10 21h4M12 3a6 6 0 0 0-3.5 10.9c.6.5 1 1.2 1 2.1h5c0-.9.4-1.6 1-2.1A6 6 0 0 0 12 3z",
  ereignis: "M4 6h16v14H4zM4 10h16M8 3v5M16 3v5",
  einrichtung: "M3 11l9-7 9 7M5 10v10h14V10M10 20v-6h4v6",
  werkzeug: "M14.7 6.3a4 4 0 0 0-5.4 5.4L3 18l3 3 6.3-6.3a4 4 0 0 0 5.4-5.4l-2.5 2.5-2.4-.6-.6-2.4z",
  schlafplatz: "M3 19V7M3 15h18v4M21 15v-2.5A3.5 3.5 0 0 0 17.5 9H11v6M7 12.5h.01",
  parkplatz: "M8 20V4h5a4 4 0 0 1 0 8H8",
};

// Pictures are built as DOM, never from markup: nothing the instance sends is parsed as HTML.
const SVG = "http://www.w3.org/2000/svg";

export function svg(cls: string, viewBox: string, d: string): SVGSVGElement {
  const s = document.createElementNS(SVG, "svg");
  s.setAttribute("class", cls);
  s.setAttribute("viewBox", viewBox);
  s.setAttribute("aria-hidden", "true");
  const p = document.createElementNS(SVG, "path");
  p.setAttribute("d", d);
  s.appendChild(p);
  return s;
}

/** The type's picture; an unknown type (a newer instance's) gets an empty one. */
export function icon(type: string, cls = "ico"): SVGSVGElement {
  return svg(cls, "0 0 24 24", Object.hasOwn(knotenIcon, type) ? knotenIcon[type as KnotenType] : "");
}
