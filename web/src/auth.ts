// Login, registration, the account dialog and logout.
import type L from "leaflet";
import { ApiError, germanMessage, post } from "./api";
import { $, formError } from "./dom";
import type { HomePicker } from "./home";
import { session } from "./session";
import { toast } from "./toast";
import type { Me } from "./types";
import { openDialog } from "./ui";

export interface RegisterOptions {
  /** What the small map shows first when the Ortsweberei has no bounds. */
  view(): L.LatLngBounds;
  basemap?: string;
}

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

export async function login(email: string, password: string, altcha?: string) {
  const me = await post<Me>("/api/auth/login", { email, password, altcha });
  session.set(me);
  return me;
}

export function initAuth(options: RegisterOptions) {
  const loginForm = $<HTMLFormElement>("login-form");
  // Once the instance asks a captcha for this login (failed ones before it), the widget comes.
  let captcha: (() => Promise<string | undefined>) | undefined;
  loginForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(loginForm);
    try {
      const me = await login(String(f.get("email")), String(f.get("password")), await captcha?.());
      $<HTMLDialogElement>("dlg-login").close();
      loginForm.reset();
      toast(`Angemeldet als ${me.name}.`);
    } catch (err) {
      if (err instanceof ApiError && err.field == "altcha") captcha ??= await import("./guestcaptcha").then((m) => m.loginCaptcha(loginForm), () => void (err = null)); // not loaded: said as offline
      formError(loginForm, germanMessage(err), err instanceof ApiError ? err.field : undefined);
    }
  });

  const reg = $<HTMLFormElement>("register-form");
  const regDialog = $<HTMLDialogElement>("dlg-register");
  // The address search, the small map and the captcha (home.ts) come with the registration,
  // not with the first load.
  let home: Promise<HomePicker> | null = null;
  $("to-register").addEventListener("click", async () => {
    $<HTMLDialogElement>("dlg-login").close();
    home ??= import("./home").then((m) => new m.HomePicker(options));
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
  // The registration's submit comes with the address search (home.ts), not with the first load.
  reg.addEventListener("submit", async (e) => {
    e.preventDefault();
    const picker = await home;
    if (picker) await picker.submit(reg, done);
    else formError(reg, germanMessage(null), "address");
  });

  const btn = $("account-btn");
  btn.addEventListener("click", () => {
    const me = session.me;
    if (!me) return openLogin();
    $("account-info").textContent =
      `${me.name} · ${me.email} · ` + (me.verified ? "bestätigte Bewohnerin / bestätigter Bewohner" : "noch nicht bestätigt") + (me.is_admin ? " · Verwaltung" : "");
    $("account-mod-btn").hidden = !(me.is_admin || me.roles?.includes("moderator"));
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
