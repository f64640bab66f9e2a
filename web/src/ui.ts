// Sliders (Webrat left, Nähstübchen right, Ortskonto top), the bottom panels, and dialogs:
// one slider at a time, Escape closes the innermost thing, focus returns to where it was.
import { $ } from "./dom";

export type SliderName = "webrat" | "chat" | "ortskonto";

const openers: Record<SliderName, string> = { webrat: "open-webrat", chat: "open-chat", ortskonto: "open-ortskonto" };
const openHooks: Partial<Record<SliderName, () => void>> = {};
let openSliderName: SliderName | null = null;
let returnFocus: HTMLElement | null = null;

export function onSliderOpen(name: SliderName, fn: () => void) {
  openHooks[name] = fn;
}

export function isOpen(name: SliderName) {
  return openSliderName === name;
}

export function openSlider(name: SliderName) {
  if (openSliderName === name) return;
  if (openSliderName) closeSlider(false);
  const el = $(name);
  returnFocus = (document.activeElement as HTMLElement) ?? null;
  el.hidden = false;
  requestAnimationFrame(() => el.classList.add("open"));
  $(openers[name]).setAttribute("aria-expanded", "true");
  openSliderName = name;
  openHooks[name]?.();
  el.focus();
}

export function closeSlider(restore = true) {
  const name = openSliderName;
  if (!name) return;
  const el = $(name);
  el.classList.remove("open");
  $(openers[name]).setAttribute("aria-expanded", "false");
  openSliderName = null;
  window.setTimeout(() => {
    if (openSliderName !== name) el.hidden = true;
  }, 220);
  if (restore) (returnFocus && document.contains(returnFocus) ? returnFocus : $(openers[name])).focus();
}

export function toggleSlider(name: SliderName) {
  if (openSliderName === name) closeSlider();
  else openSlider(name);
}

// Bottom panels: the Knoten panel and the list. One at a time.
let openPanelEl: HTMLElement | null = null;
let panelReturn: HTMLElement | null = null;
const panelClosers = new Map<HTMLElement, () => void>();

export function openPanel(el: HTMLElement, onClose?: () => void, focus = true) {
  if (openPanelEl && openPanelEl !== el) closePanel(false);
  if (openPanelEl !== el) panelReturn = document.activeElement as HTMLElement;
  if (onClose) panelClosers.set(el, onClose);
  el.hidden = false;
  openPanelEl = el;
  if (focus) el.focus();
}

export function closePanel(restore = true) {
  const el = openPanelEl;
  if (!el) return;
  el.hidden = true;
  openPanelEl = null;
  panelClosers.get(el)?.();
  panelClosers.delete(el);
  if (restore && panelReturn && document.contains(panelReturn)) panelReturn.focus();
}

export function panelOpen(el: HTMLElement) {
  return openPanelEl === el;
}

export function openDialog(d: HTMLDialogElement) {
  const back = document.activeElement as HTMLElement | null;
  if (!d.open) d.showModal();
  d.addEventListener(
    "close",
    () => {
      if (back && document.contains(back) && !document.querySelector("dialog[open]")) back.focus();
    },
    { once: true },
  );
}

export function initUI() {
  for (const name of Object.keys(openers) as SliderName[]) {
    $(openers[name]).addEventListener("click", () => toggleSlider(name));
  }
  document.addEventListener("click", (e) => {
    const t = (e.target as HTMLElement).closest("[data-close]");
    if (!t) return;
    const dlg = t.closest("dialog");
    if (dlg) return dlg.close();
    if (t.closest(".slider")) return closeSlider();
    if (t.closest(".panel")) return closePanel();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || e.defaultPrevented) return;
    if (document.querySelector("dialog[open]")) return; // the dialog closes itself
    if (openSliderName) {
      e.preventDefault();
      closeSlider();
    } else if (openPanelEl) {
      e.preventDefault();
      closePanel();
    }
  });
  // Tabs (Webrat): arrow keys move between them.
  document.querySelectorAll<HTMLElement>("[role=tablist]").forEach((list) => {
    list.addEventListener("keydown", (e) => {
      if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
      const tabs = [...list.querySelectorAll<HTMLElement>("[role=tab]")];
      const i = tabs.indexOf(document.activeElement as HTMLElement);
      if (i < 0) return;
      const next = tabs[(i + (e.key === "ArrowRight" ? 1 : tabs.length - 1)) % tabs.length];
      next.click();
      next.focus();
    });
  });
}

export function selectTab(tab: HTMLElement) {
  const list = tab.closest("[role=tablist]")!;
  list.querySelectorAll<HTMLElement>("[role=tab]").forEach((t) => {
    const on = t === tab;
    t.setAttribute("aria-selected", String(on));
    t.tabIndex = on ? 0 : -1;
    $(t.getAttribute("aria-controls")!).hidden = !on;
  });
}
