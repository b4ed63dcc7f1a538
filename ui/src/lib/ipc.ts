// The typed IPC layer. Result and error types come from Rust (ts-rs, in
// ../bindings); the argument shapes are declared once here, so a changed
// contract fails the build.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { tr } from './i18n.svelte';
import type { ChecklistDto } from '../bindings/ChecklistDto';
import type { DayReportDto } from '../bindings/DayReportDto';
import type { ErrorCode } from '../bindings/ErrorCode';
import type { FeeDto } from '../bindings/FeeDto';
import type { FieldCheck } from '../bindings/FieldCheck';
import type { IpcError } from '../bindings/IpcError';
import type { KeyDto } from '../bindings/KeyDto';
import type { KeyEventDto } from '../bindings/KeyEventDto';
import type { KeyRenewalDto } from '../bindings/KeyRenewalDto';
import type { KeyWorkDto } from '../bindings/KeyWorkDto';
import type { KioskConfigDto } from '../bindings/KioskConfigDto';
import type { LoginDto } from '../bindings/LoginDto';
import type { OrderDto } from '../bindings/OrderDto';
import type { OrderRowDto } from '../bindings/OrderRowDto';
import type { PrintDto } from '../bindings/PrintDto';
import type { ProgressEvent } from '../bindings/ProgressEvent';
import type { ProviderDto } from '../bindings/ProviderDto';
import type { RenewalDto } from '../bindings/RenewalDto';
import type { SyncDto } from '../bindings/SyncDto';
import type { TicketDto } from '../bindings/TicketDto';

export type {
  ChecklistDto, DayReportDto, ErrorCode, FeeDto, FieldCheck, IpcError, KeyDto, KeyEventDto,
  KeyRenewalDto, KeyWorkDto, KioskConfigDto, LoginDto, OrderDto, OrderRowDto, PrintDto,
  ProgressEvent, ProviderDto, RenewalDto, SyncDto, TicketDto,
};

type Tok = { token: string };
type Ord = Tok & { order: string };

/** Every command: [arguments, result]. */
interface Commands {
  kiosk_config: [Record<string, never>, KioskConfigDto];
  providers: [Record<string, never>, ProviderDto[]];
  checklist: [{ provider: string; operation: string }, ChecklistDto];
  fee: [{ provider: string; project?: string | null; operation: string; years?: number | null }, FeeDto];
  renewal: [{ provider: string; not_after: string; years?: number | null }, RenewalDto];
  read_key_renewal: [{ provider: string; years?: number | null }, KeyRenewalDto];
  check_field: [{ kind: string; value: string }, FieldCheck];
  submit_application: [{ application: unknown }, TicketDto];
  print_for_applicant: [{ order_id: string; document: string }, PrintDto];
  login: [{ clerk_id: string; secret: string }, LoginDto];
  logout: [Tok, null];
  queue: [Tok, OrderRowDto[]];
  open_order: [Tok & { code: string }, OrderDto];
  check_item: [Ord & { item: string; status: string; note?: string | null }, OrderDto];
  attach_scan: [Ord & { item: string; file_name: string; base64: string }, OrderDto];
  extract_seal: [Ord & { attachment: string }, OrderDto];
  decide_seal: [Ord & { seal: string; approve: boolean }, OrderDto];
  advance: [Ord & { step: string; reason?: string | null }, OrderDto];
  pay: [Ord & { method: string; amount_fen: number; receipt_no?: string | null }, OrderDto];
  present_keys: [Tok, KeyDto[]];
  supervisor_approve: [Ord & { supervisor_id: string; supervisor_secret: string }, OrderDto];
  run_key: [Ord & { key_serial?: string | null; pin?: string | null; pin_again?: string | null }, KeyWorkDto];
  print_document: [Ord & { document: string }, PrintDto];
  hand_over: [Ord, PrintDto];
  day_report: [Tok & { date?: string | null }, DayReportDto];
  export_day_report: [Tok & { date?: string | null }, string];
  sync_status: [Tok, SyncDto];
  ui_ready: [Record<string, never>, null];
}

export function isIpcError(e: unknown): e is IpcError {
  return typeof e === 'object' && e !== null && 'code' in e && 'message' in e && 'fields' in e;
}

/** Anything thrown that is not the app's own error becomes one. */
function asIpcError(e: unknown): IpcError {
  if (isIpcError(e)) return e;
  return { code: 'failed', detail: 'shell', message: String(e), message_en: String(e), fields: [] };
}

/** What went wrong, in the language shown. */
export function errorText(e: unknown): string {
  const err = asIpcError(e);
  return tr(err.message, err.message_en);
}

export async function call<K extends keyof Commands>(cmd: K, args: Commands[K][0]): Promise<Commands[K][1]> {
  try {
    return (await invoke(cmd, args as Record<string, unknown>)) as Commands[K][1];
  } catch (e) {
    throw asIpcError(e);
  }
}

export function onProgress(f: (e: ProgressEvent) => void): Promise<UnlistenFn> {
  return listen<ProgressEvent>('key-progress', (e) => f(e.payload));
}

export function onKeyEvent(f: (e: KeyEventDto) => void): Promise<UnlistenFn> {
  return listen<KeyEventDto>('key-event', (e) => f(e.payload));
}

/** Integer fen as yuan, without floating point. */
export function yuan(fen: number): string {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

let shown = false;
/** Tells the backend, once, that the first screen is drawn. */
export function firstScreenShown(): void {
  if (shown) return;
  shown = true;
  void call('ui_ready', {}).catch(() => {});
}
