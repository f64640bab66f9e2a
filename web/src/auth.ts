// Login, registration, the account dialog and logout.
import type L from "leaflet";
import { ApiError, germanMessage, post } from "./api";
import { $, formError, parseDecimal } from "./dom";
import type { Captcha } from "./captcha";
import type { HomePicker } from "./home";
import { session } from "./session";
import { toast } from "./toast";
import type { Me } from "./types";
import { openDialog } from "./ui";

declare const __CAPTCHA__: string;


export interface RegisterOptions {
  /** What the small map shows first when the Ortsweberei has no bounds. */
  view(): L.LatLngBounds;
  basemap?: string;
}

// The instance queues a notice to the address but has no mail sender yet: promise no mail.
const alreadyRegistered =
  "Zu dieser E-Mail-Adresse gibt es schon ein Konto. Melde dich mit deinem bisherigen Passwort an; hast du es vergessen, hilft dir die Verwaltung deiner Ortsweberei weiter. (E-Mails verschickt diese Ortsweberei noch nicht.)";

export function requireLogin(note: string): boolean {
  if (session.me) return true;
  openLogin(note);
  return false;
}

export function openLogin(note?: string) {
  const n = $("login-note");
  n.textContent = note ?? "";
  n.hidden = !note;
  formError($("login-form"), null);
  openDialog($<HTMLDialogElement>("dlg-login"));
}

async function login(email: string, password: string) {
  const me = await post<Me>("/api/auth/login", { email, password });
  session.set(me);
  return me;
}

export function initAuth(options: RegisterOptions) {
  const loginForm = $<HTMLFormElement>("login-form");
  loginForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(loginForm);
    try {
      const me = await login(String(f.get("email")), String(f.get("password")));
      $<HTMLDialogElement>("dlg-login").close();
      loginForm.reset();
      toast(`Angemeldet als ${me.name}.`);
    } catch (err) {
      formError(loginForm, germanMessage(err), err instanceof ApiError ? err.field : undefined);
    }
  });

  const reg = $<HTMLFormElement>("register-form");
  const regDialog = $<HTMLDialogElement>("dlg-register");
  // The address search, the small map and the captcha come with the registration, not with
  // the first load; the captcha is built apart (scripts/build.mjs).
  let home: Promise<HomePicker> | null = null;
  let captcha: Promise<Captcha | null> | undefined;
  $("to-register").addEventListener("click", async () => {
    $<HTMLDialogElement>("dlg-login").close();
    home ??= import("./home").then((m) => new m.HomePicker(options));
    captcha ??= import(__CAPTCHA__).then((m: typeof import("./captcha")) => m.mountCaptcha(reg));
    // Not silent: a captcha that cannot load is said (one that cannot run says so itself).
    captcha.catch(() => {
      captcha = undefined;
      formError(reg, germanMessage(null));
    });
    openDialog(regDialog);
    try {
      (await home).shown();
    } catch (err) {
      home = null;
      formError(reg, germanMessage(err));
    }
  });
  const done = async () => {
    regDialog.close();
    reg.reset();
    (await home)?.reset();
  };
  reg.addEventListener("submit", async (e) => {
    e.preventDefault();
    const picker = await home;
    const point = picker?.point();
    if (!picker || !point) {
      formError(reg, picker?.problem() ?? germanMessage(null), "address");
      return;
    }
    const f = new FormData(reg);
    const body = {
      name: String(f.get("name")).trim(),
      address: String(f.get("address")).trim(),
      lat: point.lat,
      lon: point.lon,
      email: String(f.get("email")).trim(),
      password: String(f.get("password")),
      position_radius_m: Math.round(parseDecimal(String(f.get("position_radius_m") || "250"))),
      on_map: f.get("on_map") === "on",
    };
    let altcha: string | undefined; // none without the captcha (the instance says if it wants one)
    try {
      altcha = await (await captcha)?.payload();
    } catch {
      return; // not solved yet: the widget solves it and sends the form again (captcha.ts)
    }
    try {
      await post("/api/auth/register", { ...body, altcha });
    } catch (err) {
      // The point has no field of its own: it comes from the address.
      const field = err instanceof ApiError ? (err.field === "lat" || err.field === "lon" ? "address" : err.field) : undefined;
      formError(reg, germanMessage(err), field);
      return;
    }
    // The instance answers a registration the same whether or not the address had an account
    // (so that nobody can find out who is registered); logging in tells the two apart for the
    // one who knows the password.
    try {
      const me = await login(body.email, body.password);
      await done();
      toast(`Willkommen, ${me.name}! Dein Konto wird noch von einer Verwalterin bestätigt; bis dahin kannst du Knoten knüpfen und Fäden spinnen.`);
    } catch (err) {
      if (err instanceof ApiError && err.code === "invalid_credentials") {
        await done();
        openLogin(alreadyRegistered);
        return;
      }
      formError(reg, germanMessage(err), err instanceof ApiError ? err.field : undefined);
    }
  });

  const btn = $("account-btn");
  btn.addEventListener("click", () => {
    const me = session.me;
    if (!me) return openLogin();
    $("account-info").textContent =
      `${me.name} · ${me.email} · ` + (me.verified ? "bestätigte Bewohnerin / bestätigter Bewohner" : "noch nicht bestätigt") + (me.is_admin ? " · Verwaltung" : "");
    openDialog($<HTMLDialogElement>("dlg-account"));
  });
  $("logout-btn").addEventListener("click", async () => {
    try {
      await post("/api/auth/logout");
    } catch {
      // the cookie is gone either way once the instance answers; offline it stays
    }
    session.set(null);
    $<HTMLDialogElement>("dlg-account").close();
    toast("Abgemeldet.");
  });
  session.on((me) => {
    btn.textContent = me ? me.name.split(/\s+/)[0] : "Anmelden";
    btn.setAttribute("aria-label", me ? `Konto von ${me.name}` : "Anmelden oder registrieren");
  });
}
