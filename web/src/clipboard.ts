// Copying a value the resident needs elsewhere (an IBAN, a stream key): to the clipboard, or,
// where the browser refuses (no permission, no secure context), shown to copy by hand.
import { toast } from "./toast";

export async function copy(text: string, label: string) {
  try {
    await navigator.clipboard.writeText(text);
    toast(`${label} kopiert.`);
  } catch {
    toast(`${label}: ${text}`);
  }
}
