// Short notices at the bottom of the screen, read out by screen readers; errors also go to an
// assertive live region.
import { $, h } from "./dom";
import { germanMessage } from "./api";

export function toast(text: string, kind: "info" | "error" = "info") {
  const box = $("toasts");
  const t = h("div", { class: "toast " + kind }, text);
  box.appendChild(t);
  while (box.childElementCount > 2) box.firstElementChild!.remove(); // the newest two
  if (kind === "error") $("alerts").textContent = text;
  setTimeout(() => t.remove(), kind === "error" ? 7000 : 3000);
}

export function showError(err: unknown) {
  toast(germanMessage(err), "error");
}
