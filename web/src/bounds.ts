// The Ortsweberei's bounds as the app knows them, so that a point outside is refused as soon
// as it is chosen rather than after a round trip. The test is the instance's own (ST_Covers on
// longitude/latitude: the border counts as within), which checks again and has the last word.
import pointInPolygon from "point-in-polygon-hao";
import type { Point } from "./types";

let bounds: GeoJSON.MultiPolygon | null = null;

export const outsideText = "Dieser Ort liegt außerhalb der Ortsweberei. Wähle einen Ort innerhalb der gestrichelten Grenze.";

export function setBounds(b: GeoJSON.MultiPolygon | null) {
  bounds = b;
}

export function getBounds() {
  return bounds;
}

/** Whether p lies within the bounds (on the border counts as within); true without bounds. */
export function inBounds(p: Point): boolean {
  if (!bounds) return true;
  return bounds.coordinates.some((poly) => pointInPolygon([p.lon, p.lat], poly) !== false);
}
