// Who is logged in (the session cookie is HttpOnly: GET /api/session tells, with a 200 for
// nobody too, so that an anonymous visit logs no failed request).
import { get } from "./api";
import type { Me } from "./types";

type Listener = (me: Me | null) => void;

let current: Me | null = null;
const listeners = new Set<Listener>();

export const session = {
  get me() {
    return current;
  },
  async load() {
    try {
      current = (await get<{ account: Me | null }>("/api/session")).account;
    } catch (e) {
      console.warn("session", e);
      current = null;
    }
    listeners.forEach((l) => l(current));
  },
  set(me: Me | null) {
    current = me;
    listeners.forEach((l) => l(current));
  },
  on(l: Listener) {
    listeners.add(l);
  },
};
