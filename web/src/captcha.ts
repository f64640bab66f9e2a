// The registration's captcha: the ALTCHA widget (altcha.org), a proof of work the instance
// issues and checks itself (GET /api/captcha; docs/MODERATION.md). Loaded with the
// registration form, and with the login form once the instance asks one there (guestcaptcha.ts),
// never with the first load.
//
// The widget's "external" build: the default one puts a <style> element into the page and
// starts its workers from blob: URLs, both of which the page's policy (style-src 'self',
// worker-src 'self') refuses. Its stylesheet and its SHA-256 worker come as files of our own
// (scripts/build.mjs, "altcha-file:").
import "altcha/external";
import workerURL from "altcha-file:workers/sha.js";
import cssURL from "altcha-file:external/altcha.css";
import { formError } from "./dom";

interface AltchaGlobal {
  algorithms: Map<string, () => Worker>;
  i18n: { set(lang: string, strings: Record<string, string>): void };
}

interface AltchaWidget extends HTMLElement {
  getState(): string;
  reset(): void;
}

const altcha = (globalThis as unknown as { $altcha: AltchaGlobal }).$altcha;
altcha.algorithms.set("SHA-256", () => new Worker(workerURL));
altcha.i18n.set("de", {
  ariaLinkLabel: "ALTCHA",
  cancel: "Abbrechen",
  enterCode: "Code eingeben",
  enterCodeAria: "Gib den Code ein, den du hörst.",
  enterCodeFromImage: "Gib den Code aus dem Bild ein.",
  error: "Die Bestätigung hat nicht geklappt. Bitte versuch es noch einmal.",
  expired: "Die Bestätigung ist abgelaufen. Bitte setz das Häkchen noch einmal.",
  footer: "",
  getAudioChallenge: "Code vorlesen lassen",
  label: "Ich bin kein Programm",
  loading: "Lädt …",
  reload: "Neu laden",
  verify: "Bestätigen",
  verificationRequired: "Bitte setz zuerst das Häkchen.",
  verified: "Bestätigt",
  verifying: "Wird bestätigt … (dein Gerät rechnet kurz)",
  waitAlert: "Die Bestätigung läuft noch, einen Moment bitte.",
});

/** The message when the widget cannot run (an old browser, no Web Workers, plain http). */
const failedMessage =
  "Die Bestätigung, dass du kein Programm bist, läuft in diesem Browser nicht (sie braucht JavaScript mit Web Workers und eine sichere Verbindung). Ohne sie geht es hier nicht weiter – versuch es bitte mit einem aktuellen Browser oder lade die Seite neu.";

/** A mounted captcha. */
export interface Captcha {
  /**
   * The solution for one try (a registration, a login). Rejects while there is none: the widget (auto
   * "onsubmit") then solves it and sends the form again itself.
   */
  payload(): Promise<string>;
}

/**
 * Puts the widget into the form's .captcha slot, or nothing when the instance asks no captcha
 * (GET /api/captcha answers 404 captcha_off). The widget's own failures are said in the form.
 */
export async function mountCaptcha(form: HTMLFormElement): Promise<Captcha | null> {
  const slot = form.querySelector<HTMLElement>(".captcha")!;
  const probe = await fetch("/api/captcha", { headers: { Accept: "application/json" } });
  if (probe.status === 404) {
    slot.hidden = true;
    return null;
  }
  if (!probe.ok) throw new Error(`GET /api/captcha: ${probe.status}`);
  if (!document.querySelector(`link[href="${cssURL}"]`)) {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = cssURL;
    document.head.append(link);
  }
  const widget = document.createElement("altcha-widget") as AltchaWidget;
  widget.setAttribute("challenge", "/api/captcha");
  widget.setAttribute("name", "altcha");
  widget.setAttribute("language", "de");
  widget.setAttribute("workers", "2");
  // Solved when the box is ticked, or else when the form is sent (the box is then not a
  // required field that the browser would stop the form at).
  widget.setAttribute("auto", "onsubmit");
  // No link to altcha.org, no logo: nothing on the page that is not the Ortsweberei's.
  widget.setAttribute("configuration", JSON.stringify({ hideFooter: true, hideLogo: true }));
  slot.replaceChildren(widget);
  slot.hidden = false;
  // While it solves, the widget marks its box a required field: a form sent then is stopped by
  // the browser (an "invalid" event, no submit). It is sent again once solved.
  let resend = false;
  const sendAgain = () => {
    resend = false;
    setTimeout(() => form.requestSubmit(), 0);
  };
  widget.addEventListener(
    "invalid",
    (e) => {
      e.preventDefault(); // no browser bubble over the widget's own "Wird bestätigt"
      resend = true;
      if (widget.getState() === "verified") sendAgain();
    },
    true,
  );
  widget.addEventListener("statechange", (e) => {
    const state = (e as CustomEvent<{ state: string }>).detail?.state;
    if (state === "error") formError(form, failedMessage);
    if (state === "verified" && resend) sendAgain();
  });
  return {
    // Each solution serves one try; the next one solves a new one.
    async payload() {
      const state = widget.getState();
      if (state === "expired" || state === "error") {
        // Sent again from scratch: the widget, unverified, solves a new one first.
        widget.reset();
        form.requestSubmit();
      }
      // Verified: the hidden field "altcha" gets the solution a moment after the state.
      for (let i = 0; i < 100 && widget.getState() === "verified"; i++) {
        const p = String(new FormData(form).get("altcha") ?? "");
        if (p) {
          widget.reset();
          return p;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      throw new Error("captcha: not solved yet"); // the widget solves it and sends the form again
    },
  };
}
