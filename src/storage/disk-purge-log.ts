// The disk store's purge records: purge-everything markers (one small file, replaced atomically) and the journal of
// targeted purges (appended before they apply, replayed on open, emptied once their files are gone).
import { closeSync, fdatasync, fsyncSync, ftruncateSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import type { PurgeTarget } from './store.js';

export const MARKER_FILE = 'purged-everything.json';
const JOURNAL_FILE = 'purges.journal';

interface ZoneMarker { hard: number; soft: number; hardAt?: number; softAt?: number }
/** Purge-everything generations (per zone) and clear(): files with a seq at or below them are purged. */
export interface Markers { cleared: number; zones: Record<string, ZoneMarker> }
export interface JournalRecord { seq: number; target: PurgeTarget; soft: boolean }

export class PurgeLog {
  markers: Markers = { cleared: 0, zones: {} };
  /** A purged file may still be there (an unlink failed): the journal is kept to replay on the next open. */
  keep = false;
  #fd: number | undefined;
  #records = 0;
  /** Journalled purges whose file operations are still running. */
  #open = 0;
  #syncQueued = false;

  constructor(readonly dir: string, readonly fail: (what: 'write' | 'journal', err: unknown) => void) {}

  /** Opens the journal for appends (after open() replayed it), emptied unless it must be kept. */
  openJournal(): void {
    try {
      this.#fd = openSync(join(this.dir, JOURNAL_FILE), 'a');
      if (!this.keep) ftruncateSync(this.#fd, 0);
    } catch (err) { this.fail('journal', err); }
  }

  /** A journalled purge started file operations; `done` when they finished. */
  begin(): void { this.#open++; }

  close(): void {
    if (this.#fd === undefined) return;
    try {
      if (this.#open === 0 && !this.keep) ftruncateSync(this.#fd, 0);
      fsyncSync(this.#fd);
      closeSync(this.#fd);
    } catch (err) { this.fail('journal', err); }
    this.#fd = undefined;
  }

  /** The purge markers; undefined when the file exists but cannot be read or parsed. */
  readMarkers(): Markers | undefined {
    let text: string;
    try { text = readFileSync(join(this.dir, MARKER_FILE), 'utf8'); } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? { cleared: 0, zones: {} } : undefined;
    }
    try {
      const m = JSON.parse(text) as Markers;
      if (typeof m.cleared !== 'number' || typeof m.zones !== 'object' || m.zones === null) return undefined;
      if (Object.values(m.zones).some((z) => typeof z?.hard !== 'number' || typeof z.soft !== 'number')) return undefined;
      return { cleared: m.cleared, zones: m.zones };
    } catch { return undefined; }
  }

  saveMarkers(): void {
    const file = join(this.dir, MARKER_FILE);
    try {
      const fd = openSync(`${file}.tmp`, 'w');
      try { writeSync(fd, JSON.stringify({ version: 1, ...this.markers })); fsyncSync(fd); } finally { closeSync(fd); }
      renameSync(`${file}.tmp`, file);
    } catch (err) { this.fail('write', err); }
  }

  readJournal(): JournalRecord[] {
    let text: string;
    try { text = readFileSync(join(this.dir, JOURNAL_FILE), 'utf8'); } catch { return []; }
    const out: JournalRecord[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        const r = JSON.parse(line) as JournalRecord;
        if (typeof r.seq === 'number' && typeof r.target?.kind === 'string' && r.target.kind !== 'everything') out.push(r);
      } catch { /* a torn last line: that purge never returned */ }
    }
    return out;
  }

  append(r: JournalRecord): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    try {
      writeSync(fd, `${JSON.stringify(r)}\n`);
      this.#records++;
    } catch (err) { this.fail('journal', err); return; }
    if (this.#syncQueued) return;
    this.#syncQueued = true;
    setImmediate(() => {
      this.#syncQueued = false;
      if (this.#fd === fd) fdatasync(fd, (err) => { if (err) this.fail('journal', err); });
    });
  }

  /** Every file operation of a journalled purge has finished: once none is open, the journal can be emptied. */
  done(): void {
    if (--this.#open > 0 || this.keep) return;
    const records = this.#records;
    void fsyncDir(this.dir).then(() => {
      const fd = this.#fd;
      if (fd === undefined || this.#open > 0 || this.keep || this.#records !== records) return;
      try { ftruncateSync(fd, 0); this.#records = 0; } catch (err) { this.fail('journal', err); }
    });
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  try { const fh = await open(dir, 'r'); try { await fh.sync(); } finally { await fh.close(); } } catch { /* not supported everywhere */ }
}
