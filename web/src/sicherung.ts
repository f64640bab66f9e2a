// The admin panel's tab "Sicherung" (docs/OPERATIONS.md, "Backup and restore"): what the backup
// repository holds, whether the WAL reaches it (the archive and the synchronous stream), and
// the range a restore can reach, read from GET /api/admin/backup.
import { addMessages, germanMessage, get } from "./api";
import { h, replace, time } from "./dom";

addMessages({
  // The public drill log (GET /api/betrieb/drills/{name}) and `restore --to` on the command line.
  drill_not_found: "Diesen Bericht einer Wiederherstellungsprobe gibt es nicht.",
  restore_target_invalid: "Das Ziel der Wiederherstellung ist ungültig: „latest“, ein Zeitpunkt (RFC 3339) oder „name:NAME“.",
  restore_target_not_empty: "Das Datenverzeichnis ist nicht leer: wiederhergestellt wird nur in ein leeres Verzeichnis.",
});

interface Backup {
  label: string;
  type: "full" | "diff" | "incr";
  start: string;
  stop: string;
  size: number;
  repo_size: number;
  repo_delta: number;
}

interface BackupReport {
  configured: boolean;
  repo?: string;
  wal?: "sync" | "archive";
  last: Partial<Record<Backup["type"], Backup>>;
  backups: number;
  repo_bytes: number;
  archive: { mode: string; last_wal?: string; last_at: string | null; failed: number; last_failed_wal?: string; last_failed_at: string | null; lag_bytes: number };
  stream: { state: "ok" | "down" | "off"; sync_state?: string; lag_bytes: number; slot_bytes: number };
  oldest_restore_point: string | null;
  newest_restore_point: string | null;
  error?: string;
}

const typeLabel: Record<Backup["type"], string> = { full: "Vollsicherung", diff: "Differenziell", incr: "Inkrementell" };
const streamLabel = { ok: "läuft", down: "unterbrochen – Schreibzugriffe warten", off: "aus" };

/** Bytes as people read them: 1,2 MB. */
export function bytes(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i ? n.toLocaleString("de-DE", { maximumFractionDigits: 1 }) : n} ${units[i]}`;
}

function seconds(b: Backup): string {
  const s = Math.max(0, Math.round((Date.parse(b.stop) - Date.parse(b.start)) / 1000));
  return s < 120 ? `${s} s` : `${Math.round(s / 60)} min`;
}

const row = (label: string, ...value: (string | Node)[]) => [h("dt", {}, label), h("dd", {}, ...value)];

/** Fills box with the backup status. */
export async function renderBackup(box: HTMLElement) {
  replace(box, h("p", { class: "meta", "aria-busy": "true" }, "Lade den Stand der Sicherung …"));
  let r: BackupReport;
  try {
    r = await get<BackupReport>("/api/admin/backup");
  } catch (e) {
    replace(box, h("p", { class: "error" }, germanMessage(e)));
    return;
  }
  const parts: Node[] = [];
  if (!r.configured) {
    parts.push(h("p", { class: "field-note warn" }, "Keine Sicherung eingerichtet: Ohne --backup-repo (WG_BACKUP_REPO) sichert diese Instanz ihre Datenbank nicht. Siehe docs/OPERATIONS.md, „Backup and restore“."));
  }
  if (r.stream.state === "down") {
    parts.push(h("p", { class: "error", role: "alert" }, "Der WAL-Strom ins Sicherungsverzeichnis ist unterbrochen. Schreibzugriffe warten, bis er wieder läuft."));
  }
  if (r.error) parts.push(h("p", { class: "error" }, `Das Sicherungsverzeichnis ließ sich nicht lesen: ${r.error}`));
  if (r.archive.failed > 0 && r.archive.last_failed_at && (!r.archive.last_at || r.archive.last_failed_at > r.archive.last_at)) {
    parts.push(h("p", { class: "error" }, `Die Archivierung von ${r.archive.last_failed_wal} ist zuletzt fehlgeschlagen.`));
  }
  const list = h("dl", { class: "facts" });
  if (r.configured) {
    list.append(...row("Verzeichnis", `${r.repo} · ${bytes(r.repo_bytes)} · ${r.backups} ${r.backups === 1 ? "Sicherung" : "Sicherungen"}`));
    list.append(...row("WAL", r.wal === "sync" ? "synchron gestreamt und archiviert (kein bestätigter Schreibzugriff geht verloren)" : "archiviert (bis zu 60 s können verloren gehen)"));
    for (const t of ["full", "diff", "incr"] as const) {
      const b = r.last[t];
      list.append(...row(`Letzte ${typeLabel[t]}`, ...(b ? [time(b.stop), ` · ${seconds(b)} · Datenbank ${bytes(b.size)} · im Verzeichnis ${bytes(b.repo_size)}`] : ["keine"])));
    }
  }
  list.append(...row("Archiv", ...(r.archive.last_at ? [`${r.archive.last_wal} · `, time(r.archive.last_at)] : ["noch nichts archiviert"]), ` · ${bytes(r.archive.lag_bytes)} noch nicht archiviert · ${r.archive.failed} Fehlschläge`));
  list.append(...row("WAL-Strom", streamLabel[r.stream.state], r.stream.state === "ok" ? ` · ${bytes(r.stream.lag_bytes)} Rückstand` : ""));
  list.append(
    ...row(
      "Wiederherstellbar",
      ...(r.oldest_restore_point && r.newest_restore_point ? ["von ", time(r.oldest_restore_point), " bis ", time(r.newest_restore_point)] : ["noch nicht (keine Sicherung)"]),
    ),
  );
  parts.push(list);
  parts.push(h("div", { class: "actions" }, h("button", { type: "button", class: "secondary small", onclick: () => void renderBackup(box) }, "Aktualisieren")));
  replace(box, ...parts);
}
