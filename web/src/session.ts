// Who is logged in (the session cookie is HttpOnly: GET /api/me tells).
import { ApiError, get } from "./api";
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
      current = await get<Me>("/api/me");
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 401) console.warn("me", e);
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
