// The tutorial on first visit: a few steps, dismissable, remembered in localStorage.
import { $, h, replace } from "./dom";
import { openDialog } from "./ui";

const KEY = "wg.onboarded";

const steps: [string, string][] = [
  ["Willkommen im Weltgewebe", "Die Karte zeigt deine Ortsweberei, wie sie gerade lebt. Jede Nadel ist ein Knoten: eine Idee, ein Ereignis, eine Einrichtung, ein Werkzeug, ein Schlafplatz oder ein Parkplatz."],
  ["Fäden und Garn", "Wer sich für einen Knoten einsetzt, spinnt einen Faden zu ihm; er hält sieben Tage und verblasst, je näher sein Ende kommt. Verzwirnt wird er zu Garn und hält den Knoten dauerhaft. Ein Knoten ohne Faden und Garn löst sich auf."],
  ["Webrat, Nähstübchen, Ortskonto", "Links im Webrat stellst du Anträge, erhebst Einspruch, stimmst öffentlich ab und kannst deine Stimme delegieren. Rechts im Nähstübchen plaudert die Ortsweberei. Oben kommt bald das Ortskonto für Spenden."],
  ["Mitmachen", "Registriere dich mit Name und Adresse. Auf der Karte erscheinst du als Garnrolle an einem zufälligen Punkt nahe deinem Zuhause, nie an deiner Adresse."],
];

export function initOnboarding(force = false) {
  let seen = false;
  try {
    seen = localStorage.getItem(KEY) === "1";
  } catch {
    // private mode: show it, remember nothing
  }
  if (seen && !force) return;
  const dlg = $<HTMLDialogElement>("dlg-onboarding");
  let i = 0;
  const next = $("ob-next"), back = $("ob-back");
  const show = () => {
    $("ob-title").textContent = steps[i][0];
    replace($("ob-steps"), h("p", {}, steps[i][1]));
    $("ob-count").textContent = `Schritt ${i + 1} von ${steps.length}`;
    next.textContent = i === steps.length - 1 ? "Los geht’s" : "Weiter";
    back.hidden = i === 0;
  };
  next.onclick = () => (i < steps.length - 1 ? (i++, show(), next.focus()) : dlg.close());
  back.onclick = () => (i > 0 ? (i--, show()) : undefined);
  $("ob-skip").onclick = () => dlg.close();
  dlg.addEventListener(
    "close",
    () => {
      try {
        localStorage.setItem(KEY, "1");
      } catch {
        // nothing to remember it in
      }
    },
    { once: true },
  );
  show();
  openDialog(dlg);
  next.focus();
}
