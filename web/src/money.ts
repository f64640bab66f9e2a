// Money as residents type and read it: German amounts to whole cents (never through a
// floating-point number, which cannot hold 0,10 € exactly), IBANs in groups of four.

/** The most one donation may be (docs/API.md): 1,000,000 €. */
export const MAX_CENTS = 100_000_000;

/**
 * The cents of an amount in German notation: "12,50", "12", "1.000,00", "1.000", "0,5" (50
 * cents), with or without "€"; "12.50" too (a dot before one or two digits is no thousands
 * separator, so it is the decimal point of someone used to it). null for anything else:
 * negative, more than two decimals, thousands groups that are not of three, letters, empty.
 */
export function parseCents(text: string): number | null {
  const s = text.replace(/[\s\u00a0\u202f]/g, "").replace(/^€|€$|^EUR|EUR$/gi, "");
  const m = /^(\d{1,3}(?:\.\d{3})+|\d+)(?:,(\d{1,2}))?$/.exec(s) ?? /^(\d+)\.(\d{1,2})$/.exec(s);
  if (!m) return null;
  const euros = m[1].replace(/\./g, "").replace(/^0+(?=\d)/, "");
  // Past 9 digits the amount is far over any limit; Number stays exact up to 15.
  if (euros.length > 9) return null;
  return Number(euros) * 100 + Number((m[2] ?? "").padEnd(2, "0"));
}

/** An IBAN as it is printed, in groups of four: "DE02 1203 0000 0000 2020 51". */
export function ibanGroups(iban: string): string {
  return iban.replace(/\s/g, "").replace(/(.{4})(?=.)/g, "$1 ");
}

/** A fresh Idempotency-Key: a random UUID (crypto.randomUUID needs a secure context). */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

/**
 * One donation attempt and its Idempotency-Key: the same key as long as the same donation is
 * tried again (after a network error or an answer that says nothing about it), a new one when
 * the resident changed what they give or the instance answered it.
 */
export class Attempt {
  private body = "";
  private key = "";

  keyFor(body: unknown): string {
    const b = JSON.stringify(body);
    if (b !== this.body || !this.key) {
      this.body = b;
      this.key = newKey();
    }
    return this.key;
  }

  /** The instance answered (a donation or a refusal): the next submission is a new attempt. */
  done() {
    this.key = "";
  }
}
