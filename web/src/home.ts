// Registration's home point: the resident types their address, chooses one of the instance's
// suggestions, and the point comes from it, shown on a small map where a tap or a drag of the
// marker corrects it. The point stays private (the instance draws the public one inside the
// radius); an address outside the Ortsweberei is said at once, before anything is sent.
// Loaded when the registration is first opened.
import * as L from "leaflet";
import { AddressSearch, type Adresse } from "./adressen";
import { ApiError, addMessages, germanMessage, post } from "./api";
import { login, openLogin } from "./auth";
import { addBasemap, addBounds } from "./basemap";
import { getBounds, inBounds } from "./bounds";
import { $, formError, parseDecimal } from "./dom";
import { loadCaptcha } from "./guestcaptcha";
import { toast } from "./toast";
import type { Point } from "./types";

// The password rule's refusals, met only by the registration.
addMessages({
  invalid_password: "Das Passwort muss mindestens 10 Zeichen lang sein – am einfachsten ein paar Wörter hintereinander.",
  common_password:
    "Dieses Passwort gehört zu den meistbenutzten (oder ist eine einfache Abwandlung davon) und wird zuerst ausprobiert. Nimm besser ein paar Wörter, die sonst niemand zusammenstellt.",
  personal_password: "Das Passwort darf nicht aus deinem Namen, deiner E-Mail-Adresse oder deiner Anschrift bestehen – die kennen andere.",
});

const homeMissing = "Bitte wähle deine Adresse aus den Vorschlägen oder tippe auf der Karte auf dein Zuhause.";
const homeOutside =
  "Diese Adresse liegt außerhalb der Ortsweberei. Registrieren kann sich hier nur, wer innerhalb ihrer Grenzen wohnt – schau nach der Ortsweberei deines Wohnorts.";
const pointOutside = "Dieser Punkt liegt außerhalb der Ortsweberei. Tippe auf dein Zuhause innerhalb der gestrichelten Grenze.";
const pointSet = "Dein Zuhause ist auf der Karte markiert. Stimmt der Punkt nicht genau, tippe auf die richtige Stelle oder zieh die Markierung.";
// A street or a place has no house: its point is where the index put the street or the place.
const streetSet = "Markiert ist die Mitte der Straße oder des Orts, nicht dein Haus: tippe auf der Karte auf dein Zuhause oder zieh die Markierung dorthin.";

// The instance queues a notice to the address but has no mail sender yet: promise no mail.
const alreadyRegistered =
  "Zu dieser E-Mail-Adresse gibt es schon ein Konto. Melde dich mit deinem bisherigen Passwort an; hast du es vergessen, hilft dir die Verwaltung deiner Ortsweberei weiter. (E-Mails verschickt diese Ortsweberei noch nicht.)";

const homeIcon = L.divIcon({ className: "home-marker", html: "<span></span>", iconSize: [28, 28], iconAnchor: [14, 14] });

export class HomePicker {
  private map: L.Map | null = null;
  private marker: L.Marker | null = null;
  private home: Point | null = null;
  private outside = false;
  private note = $("reg-home-note");
  private search: AddressSearch;
  private captcha = loadCaptcha($<HTMLFormElement>("register-form"));

  constructor(private o: { view: () => L.LatLngBounds; basemap?: string }) {
    this.search = new AddressSearch({
      input: $<HTMLInputElement>("reg-address"),
      list: $("reg-adressen"),
      status: $("reg-address-status"),
      none: "Keine passende Adresse gefunden. Tippe dein Zuhause auf der Karte an.",
      choose: (a) => this.chosen(a),
    });
  }

  /** The point to register, or null with the reason in problem(). */
  point(): Point | null {
    return this.home && !this.outside && inBounds(this.home) ? this.home : null;
  }

  problem(): string {
    if (this.outside) return homeOutside;
    if (this.home && !inBounds(this.home)) return pointOutside;
    return homeMissing;
  }

  /** The registration's submit: register, then log in (done closes the dialog). */
  async submit(reg: HTMLFormElement, done: () => Promise<void>) {
    const point = this.point();
    if (!point) {
      formError(reg, this.problem(), "address");
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
      altcha = await (await this.captcha)?.payload();
    } catch {
      // Not solved yet: the widget solves it and sends the form again (captcha.ts). Or the
      // module did not load (said, guestcaptcha.ts): the next try loads it again.
      this.captcha.catch(() => (this.captcha = loadCaptcha(reg)));
      return;
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
  }

  /** The dialog is showing: now the small map has a size. */
  shown() {
    if (!this.map) {
      this.map = this.makeMap();
      if (this.home) this.set(this.home);
    }
    this.map.invalidateSize();
    if (this.home) this.map.setView([this.home.lat, this.home.lon], Math.max(this.map.getZoom(), 16));
    else this.fit();
  }

  reset() {
    this.search.clear();
    this.set(null);
    this.outside = false;
    this.say("", false);
    this.fit();
  }

  private fit() {
    const b = getBounds();
    this.map?.fitBounds(b ? L.geoJSON(b).getBounds() : this.o.view(), { padding: [6, 6] });
  }

  private makeMap() {
    const map = L.map($("reg-map"), { zoomControl: false, minZoom: 3, maxZoom: 19, zoomSnap: 0.25 });
    L.control.zoom({ position: "topright", zoomInTitle: "Hineinzoomen", zoomOutTitle: "Herauszoomen" }).addTo(map);
    map.attributionControl.setPrefix(false);
    map.createPane("outline").style.zIndex = "250";
    map.createPane("bounds").style.zIndex = "300";
    this.map = map;
    this.fit();
    addBounds(map, getBounds());
    void addBasemap(map, this.o.basemap);
    map.on("click", (e: L.LeafletMouseEvent) => this.tapped({ lat: e.latlng.lat, lon: e.latlng.lng }));
    return map;
  }

  private chosen(a: Adresse) {
    if (!a.inside) {
      this.outside = true;
      this.set(null);
      this.fit();
      this.say(homeOutside, true);
      return;
    }
    this.outside = false;
    this.set({ lat: a.lat, lon: a.lon });
    // A jump, not a flight: a tap while the map still moved would land elsewhere.
    this.map?.setView([a.lat, a.lon], 17, { animate: false });
    this.say(a.kind === "address" ? pointSet : streetSet, false);
    this.settled();
  }

  private tapped(p: Point) {
    if (!inBounds(p)) {
      this.say(pointOutside, true);
      return;
    }
    this.outside = false;
    this.set(p);
    this.say(pointSet, false);
    this.settled();
  }

  private set(p: Point | null) {
    this.home = p;
    if (!p) {
      this.marker?.remove();
      this.marker = null;
      return;
    }
    if (!this.map) return;
    if (!this.marker) {
      const m = L.marker([p.lat, p.lon], { icon: homeIcon, draggable: true, keyboard: false, title: "Dein Zuhause", alt: "Dein Zuhause" });
      m.on("dragend", () => {
        const ll = m.getLatLng();
        const moved = { lat: ll.lat, lon: ll.lng };
        if (inBounds(moved)) {
          this.home = moved;
          this.say(pointSet, false);
          this.settled();
        } else {
          m.setLatLng([this.home!.lat, this.home!.lon]);
          this.say(pointOutside, true);
        }
      });
      this.marker = m.addTo(this.map);
    } else this.marker.setLatLng([p.lat, p.lon]);
  }

  /** A point is set: a refusal of the earlier one (the form's error, the marked field) is over. */
  private settled() {
    if ($("reg-address").getAttribute("aria-invalid") === "true") formError($("register-form"), null);
  }

  private say(text: string, warn: boolean) {
    this.note.textContent = text;
    this.note.classList.toggle("warn", warn);
    this.note.hidden = !text;
  }
}
