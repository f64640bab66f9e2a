// The captcha on the guests' forms: the registration (home.ts) and the login once the instance
// asks one for it (auth.ts: after failed logins to the address). Loaded lazily with them, with
// the texts of the captcha's codes; the widget itself (captcha.ts) is built apart from the app.
import { addMessages, germanMessage } from "./api";
import type { Captcha } from "./captcha";
import { formError } from "./dom";

declare const __CAPTCHA__: string;

// The captcha's refusals, met only by the registration and the login.
addMessages({
  captcha_required: "Bitte bestätige erst, dass du kein Programm bist.",
  captcha_invalid: "Die Bestätigung ist abgelaufen oder ungültig. Bitte noch einmal.",
  captcha_expired: "Die Bestätigung ist abgelaufen oder ungültig. Bitte noch einmal.",
  captcha_replayed: "Die Bestätigung ist abgelaufen oder ungültig. Bitte noch einmal.",
  captcha_off: "Hier braucht es keine Bestätigung.",
});

/**
 * Mounts the widget in the form's .captcha slot. The widget says itself when it cannot run; a
 * module that cannot load is said here (and loaded again on the next try, by the caller).
 */
export function loadCaptcha(form: HTMLFormElement): Promise<Captcha | null> {
  const c = import(__CAPTCHA__).then((m: typeof import("./captcha")) => m.mountCaptcha(form));
  c.catch(() => formError(form, germanMessage(null)));
  return c;
}

/**
 * The login's captcha, mounted now: a function that gives the solution for the next try. While
 * there is none yet its promise stays pending — the widget solves one and sends the form again
 * itself (captcha.ts), so this try just ends.
 */
export function loginCaptcha(form: HTMLFormElement): () => Promise<string | undefined> {
  let captcha = loadCaptcha(form);
  return async () => {
    try {
      return await (await captcha)?.payload();
    } catch {
      captcha.catch(() => (captcha = loadCaptcha(form)));
      return new Promise<never>(() => {});
    }
  };
}
