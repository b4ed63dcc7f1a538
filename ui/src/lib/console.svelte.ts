// The clerk console's state, shared by its panels: the login session, the
// view shown, the open order and its key work, the busy flag and the
// message line, and what is typed into the forms (which stays while its
// panel is hidden). One instance per visit to the console: Clerk.svelte
// makes it while mounting, so its effects and event listeners start with
// the console and its state is gone once the console closes.
import { getContext, setContext } from 'svelte';
import {
  call, errorText, isIpcError, onKeyEvent, onProgress,
  type DayReportDto, type IpcError, type KeyDto, type KeyEventDto, type LoginDto, type OrderDto,
  type OrderRowDto, type PrintDto, type ProgressEvent, type SyncDto,
} from './ipc';

export type ConsoleView = 'queue' | 'order' | 'report';

export class ConsoleSession {
  session = $state<LoginDto | null>(null);
  view = $state<ConsoleView>('queue');
  order = $state<OrderDto | null>(null);
  busy = $state(false);
  message = $state('');
  rows = $state<OrderRowDto[]>([]);
  sync = $state<SyncDto | null>(null);
  report = $state<DayReportDto | null>(null);
  csvPath = $state('');
  // Key work on the open order
  keys = $state<KeyDto[]>([]);
  steps = $state<ProgressEvent[]>([]);
  keyEvents = $state<KeyEventDto[]>([]);
  printed = $state<PrintDto | null>(null);
  // Form fields
  clerkId = $state('');
  code = $state('');
  method = $state('cash');
  receipt = $state('');
  keySerial = $state('');
  pin = $state('');
  pinAgain = $state('');
  supId = $state('');
  supSecret = $state('');
  sealScan = $state('');

  // The scans the seal can be cut out of: the seal sample sheet's, and
  // those of items that bear the company seal.
  sealScans = $derived(this.order ? this.order.attachments.filter((a) => a.seal_found !== false && (a.item === 'seal-sample-sheet' || this.order!.checklist.some((i) => i.id === a.item && i.sealed))) : []);

  // The station's date for the day report ('' for the clock's).
  readonly #today: () => string;

  constructor(today: () => string) {
    this.#today = today;

    // Leaving the console (back to the touchscreen) ends the session.
    $effect(() => () => {
      if (this.session) void call('logout', { token: this.session.token });
    });

    // One line per step, showing its latest phase.
    onProgress((e) => {
      if (!this.order || e.order_id !== this.order.id) return;
      const at = this.steps.findIndex((s) => s.step === e.step);
      this.steps = at < 0 ? [...this.steps, e] : this.steps.map((s, i) => (i === at ? e : s));
    });
    onKeyEvent((e) => (this.keyEvents = [e, ...this.keyEvents].slice(0, 5)));

    // Keeps a scan picked: the latest seal sample sheet's, else the latest.
    $effect(() => {
      if (!this.sealScans.some((a) => a.id === this.sealScan)) {
        const sheet = this.sealScans.filter((a) => a.item === 'seal-sample-sheet');
        const pick = sheet.length ? sheet : this.sealScans;
        this.sealScan = pick[pick.length - 1]?.id ?? '';
      }
    });
  }

  /** Shows the error; a lost session logs out, a stale order is reloaded. */
  fail(e: unknown) {
    const err: IpcError | null = isIpcError(e) ? e : null;
    this.message = errorText(e);
    if (err?.code === 'not_logged_in') { this.session = null; }
    if (err?.code === 'conflict' && this.order) void this.openOrder(this.order.id);
  }

  /** Runs a command with the console busy; undefined if it failed. */
  async run<T>(f: () => Promise<T>): Promise<T | undefined> {
    this.busy = true;
    this.message = '';
    try { return await f(); } catch (e) { this.fail(e); return undefined; } finally { this.busy = false; }
  }

  async logout() {
    if (this.session) await call('logout', { token: this.session.token });
    this.session = null; this.order = null; this.view = 'queue'; this.message = '';
  }

  /** Reloads the queue and the sync line. */
  async refresh() {
    if (!this.session) return;
    const token = this.session.token;
    await this.run(async () => {
      this.rows = await call('queue', { token });
      this.sync = await call('sync_status', { token });
    });
  }

  /** Opens an order by id, number or scanned code, with fresh key work. */
  async openOrder(c: string) {
    if (!this.session) return;
    const token = this.session.token;
    const o = await this.run(() => call('open_order', { token, code: c }));
    if (o) { this.order = o; this.view = 'order'; this.steps = []; this.printed = null; this.code = ''; await this.loadKeys(); }
  }

  /** The keys in the readers, preselecting the one the order writes. */
  async loadKeys() {
    if (!this.session) return;
    const token = this.session.token;
    try { this.keys = await call('present_keys', { token }); } catch { this.keys = []; }
    const blank = this.keys.find((k) => k.blank_in_stock);
    const withCert = this.keys.find((k) => k.certificate_serial);
    const wanted = this.order?.writes_blank_key ? blank : withCert;
    this.keySerial = wanted?.key_serial ?? this.keys[0]?.key_serial ?? '';
  }

  async loadReport() {
    if (!this.session) return;
    const token = this.session.token;
    const r = await this.run(() => call('day_report', { token, date: this.#today() || null }));
    if (r) { this.report = r; this.view = 'report'; this.csvPath = ''; }
  }

  async exportCsv() {
    if (!this.session) return;
    const token = this.session.token;
    const p = await this.run(() => call('export_day_report', { token, date: this.#today() || null }));
    if (p) this.csvPath = p;
  }
}

const key = Symbol('console');

/** Starts a console session for this component and the panels below it. */
export function startConsole(today: () => string): ConsoleSession {
  return setContext(key, new ConsoleSession(today));
}

/** The console session of the enclosing console. */
export function useConsole(): ConsoleSession {
  return getContext<ConsoleSession>(key);
}
