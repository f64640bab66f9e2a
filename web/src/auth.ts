// Login, registration, the account dialog and logout.
import { ApiError, germanMessage, post } from "./api";
import { $, formError, parseDecimal } from "./dom";
import { session } from "./session";
import { toast } from "./toast";
import type { Me } from "./types";
import { openDialog } from "./ui";

export interface PickPoint {
  center(): { lat: number; lon: number };
  pick(done: (p: { lat: number; lon: number } | null) => void): void;
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

export function initAuth(points: PickPoint) {
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
  $("to-register").addEventListener("click", () => {
    $<HTMLDialogElement>("dlg-login").close();
    openDialog($<HTMLDialogElement>("dlg-register"));
  });

  const reg = $<HTMLFormElement>("register-form");
  const regDialog = $<HTMLDialogElement>("dlg-register");
  const setPoint = (p: { lat: number; lon: number }) => {
    (reg.elements.namedItem("lat") as HTMLInputElement).value = p.lat.toFixed(6);
    (reg.elements.namedItem("lon") as HTMLInputElement).value = p.lon.toFixed(6);
  };
  $("reg-center").addEventListener("click", () => setPoint(points.center()));
  $("reg-pick").addEventListener("click", () => {
    regDialog.close();
    points.pick((p) => {
      if (p) setPoint(p);
      openDialog(regDialog);
      (reg.elements.namedItem("lat") as HTMLInputElement).focus();
    });
  });
  reg.addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(reg);
    const body = {
      name: String(f.get("name")).trim(),
      address: String(f.get("address")).trim(),
      lat: parseDecimal(String(f.get("lat"))),
      lon: parseDecimal(String(f.get("lon"))),
      email: String(f.get("email")).trim(),
      password: String(f.get("password")),
      position_radius_m: Math.round(parseDecimal(String(f.get("position_radius_m") || "250"))),
      on_map: f.get("on_map") === "on",
    };
    try {
      await post("/api/auth/register", body);
    } catch (err) {
      formError(reg, germanMessage(err), err instanceof ApiError ? err.field : undefined);
      return;
    }
    // The instance answers a registration the same whether or not the address had an account
    // (so that nobody can find out who is registered); logging in tells the two apart for the
    // one who knows the password.
    try {
      const me = await login(body.email, body.password);
      regDialog.close();
      reg.reset();
      toast(`Willkommen, ${me.name}! Dein Konto wird noch von einer Verwalterin bestätigt; bis dahin kannst du Knoten knüpfen und Fäden spinnen.`);
    } catch (err) {
      if (err instanceof ApiError && err.code === "invalid_credentials") {
        regDialog.close();
        reg.reset();
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
