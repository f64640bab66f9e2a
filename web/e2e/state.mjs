// What the app showed when a step failed, as text for the test's output: screenshots of a CI
// run are not always at hand, and a failure that does not come back needs its state told.
// Only the DOM is read, so it works whatever the app's modules keep to themselves.
export async function describeApp(page) {
  if (!page) return "no page";
  try {
    return await page.evaluate(() => {
      const out = [];
      const shown = (el) => el && !el.hidden && el.getClientRects().length > 0;
      out.push(`url ${location.href}; ready=${document.documentElement.dataset.ready ?? "-"}; focus ${document.activeElement?.id || document.activeElement?.tagName}`);
      const open = [...document.querySelectorAll(".panel, .slider, dialog")].filter((el) => shown(el) || el.open).map((el) => `#${el.id}`);
      out.push(`open: ${open.join(", ") || "none"}`);
      const list = document.getElementById("knoten-list");
      if (list && shown(list)) out.push(`list: ${JSON.stringify(list.innerText.slice(0, 500))}`);
      const map = document.getElementById("map")?.getBoundingClientRect();
      if (map) {
        const pins = [...document.querySelectorAll(".leaflet-marker-icon")].map((el) => {
          const r = el.getBoundingClientRect();
          const inside = r.right > map.left && r.left < map.right && r.bottom > map.top && r.top < map.bottom;
          return `${el.dataset.knoten ? "pin " + el.dataset.knoten.slice(0, 8) : el.className.split(" ")[0]}@${Math.round(r.left)},${Math.round(r.top)}${inside ? "" : " (outside)"}`;
        });
        out.push(`map ${Math.round(map.width)}×${Math.round(map.height)}; pane ${document.querySelector(".leaflet-map-pane")?.style.transform || "-"}; markers: ${pins.join(" ") || "none"}`);
      }
      const notes = [...document.querySelectorAll(".toast, .map-hint")].filter(shown).map((el) => el.innerText);
      if (notes.length) out.push(`notes: ${JSON.stringify(notes)}`);
      return out.join("\n");
    });
  } catch (e) {
    return `state unreadable: ${e}`;
  }
}
