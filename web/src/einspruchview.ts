// Who raised an Einspruch, and what "Melden" names for it and for its Antrag: our own Anträge
// and a neighbouring Ortsweberei's (remote: true) come in two shapes (docs/API.md).
import type { Antrag, Einspruch } from "./types";

export interface EinspruchWho {
  /** The objector's id: our account id, or the neighbour resident's actor IRI. */
  id: string;
  name: string;
  /** What a report about this Einspruch names. */
  report: string;
}

export function einspruchWho(a: Antrag, e: Einspruch): EinspruchWho {
  // A neighbour's Einspruch names its author by actor: reported as that remote account (a
  // moderator can forward it to the neighbour), as "<antrag>/<account>" names only ours.
  if (e.author) return { id: e.author.id, name: e.author.name, report: e.author.id };
  return { id: e.account_id ?? "", name: e.name ?? "", report: `${a.id}/${e.account_id}` };
}

/** What a report about the Antrag names. */
export function antragReportTarget(a: Antrag): string {
  // Our id of a neighbour's Antrag names only our copy; the instance resolves its ActivityPub
  // id as a remote object, which can be forwarded to the neighbour's moderators.
  return a.remote && a.fediverse ? a.fediverse.id : a.id;
}
