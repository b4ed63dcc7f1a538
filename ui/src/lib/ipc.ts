// The typed IPC layer. Argument, result and error types all come from
// Rust (ts-rs, in ../bindings): each command's arguments are the struct its
// handler deserializes, so a changed contract fails the build.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { tr } from './i18n.svelte';
import type { AdvanceArgs } from '../bindings/AdvanceArgs';
import type { AttachScanArgs } from '../bindings/AttachScanArgs';
import type { CheckFieldArgs } from '../bindings/CheckFieldArgs';
import type { CompanyPrefill } from '../bindings/CompanyPrefill';
import type { CheckItemArgs } from '../bindings/CheckItemArgs';
import type { ChecklistArgs } from '../bindings/ChecklistArgs';
import type { ChecklistDto } from '../bindings/ChecklistDto';
import type { DayArgs } from '../bindings/DayArgs';
import type { DayReportDto } from '../bindings/DayReportDto';
import type { DecideSealArgs } from '../bindings/DecideSealArgs';
import type { ErrorCode } from '../bindings/ErrorCode';
import type { ExtractSealArgs } from '../bindings/ExtractSealArgs';
import type { FeeArgs } from '../bindings/FeeArgs';
import type { FeeDto } from '../bindings/FeeDto';
import type { FieldCheck } from '../bindings/FieldCheck';
import type { IpcError } from '../bindings/IpcError';
import type { KeyDto } from '../bindings/KeyDto';
import type { KeyEventDto } from '../bindings/KeyEventDto';
import type { KeyRenewalDto } from '../bindings/KeyRenewalDto';
import type { KeyWorkDto } from '../bindings/KeyWorkDto';
import type { KeypadsDto } from '../bindings/KeypadsDto';
import type { KioskConfigDto } from '../bindings/KioskConfigDto';
import type { LoginArgs } from '../bindings/LoginArgs';
import type { LoginDto } from '../bindings/LoginDto';
import type { OpenOrderArgs } from '../bindings/OpenOrderArgs';
import type { OrderArgs } from '../bindings/OrderArgs';
import type { OrderDto } from '../bindings/OrderDto';
import type { OrderRowDto } from '../bindings/OrderRowDto';
import type { PayArgs } from '../bindings/PayArgs';
import type { PrintDocumentArgs } from '../bindings/PrintDocumentArgs';
import type { PrintDto } from '../bindings/PrintDto';
import type { PrintForApplicantArgs } from '../bindings/PrintForApplicantArgs';
import type { ProgressEvent } from '../bindings/ProgressEvent';
import type { ProviderDto } from '../bindings/ProviderDto';
import type { ReadKeyRenewalArgs } from '../bindings/ReadKeyRenewalArgs';
import type { RenewalArgs } from '../bindings/RenewalArgs';
import type { RenewalDto } from '../bindings/RenewalDto';
import type { ReturningCompanyArgs } from '../bindings/ReturningCompanyArgs';
import type { LicenceCodeArgs } from '../bindings/LicenceCodeArgs';
import type { LicencePhotoArgs } from '../bindings/LicencePhotoArgs';
import type { RunKeyArgs } from '../bindings/RunKeyArgs';
import type { SubmitApplicationArgs } from '../bindings/SubmitApplicationArgs';
import type { SupervisorApproveArgs } from '../bindings/SupervisorApproveArgs';
import type { SyncDto } from '../bindings/SyncDto';
import type { TicketDto } from '../bindings/TicketDto';
import type { TokenArgs } from '../bindings/TokenArgs';

export type {
  ChecklistDto, CompanyPrefill, DayReportDto, ErrorCode, FeeDto, FieldCheck, IpcError, KeyDto, KeyEventDto,
  KeyRenewalDto, KeypadsDto, KeyWorkDto, KioskConfigDto, LoginDto, OrderDto, OrderRowDto, PrintDto,
  ProgressEvent, ProviderDto, RenewalDto, SyncDto, TicketDto,
};

type None = Record<string, never>;

/** Every command: [arguments, result]. */
interface Commands {
  kiosk_config: [None, KioskConfigDto];
  providers: [None, ProviderDto[]];
  checklist: [ChecklistArgs, ChecklistDto];
  fee: [FeeArgs, FeeDto];
  renewal: [RenewalArgs, RenewalDto];
  read_key_renewal: [ReadKeyRenewalArgs, KeyRenewalDto];
  check_field: [CheckFieldArgs, FieldCheck];
  returning_company: [ReturningCompanyArgs, CompanyPrefill | null];
  licence_code: [LicenceCodeArgs, string];
  licence_photo: [LicencePhotoArgs, string];
  submit_application: [SubmitApplicationArgs, TicketDto];
  print_for_applicant: [PrintForApplicantArgs, PrintDto];
  login: [LoginArgs, LoginDto];
  logout: [TokenArgs, null];
  queue: [TokenArgs, OrderRowDto[]];
  open_order: [OpenOrderArgs, OrderDto];
  check_item: [CheckItemArgs, OrderDto];
  attach_scan: [AttachScanArgs, OrderDto];
  extract_seal: [ExtractSealArgs, OrderDto];
  decide_seal: [DecideSealArgs, OrderDto];
  advance: [AdvanceArgs, OrderDto];
  pay: [PayArgs, OrderDto];
  present_keys: [TokenArgs, KeyDto[]];
  supervisor_approve: [SupervisorApproveArgs, OrderDto];
  run_key: [RunKeyArgs, KeyWorkDto];
  print_document: [PrintDocumentArgs, PrintDto];
  hand_over: [OrderArgs, PrintDto];
  day_report: [DayArgs, DayReportDto];
  export_day_report: [DayArgs, string];
  sync_status: [TokenArgs, SyncDto];
  ui_ready: [None, null];
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
    return (await invoke(cmd, { args })) as Commands[K][1];
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

/** A chosen file's bytes, base64, as the commands take them: the browser
 * encodes the file itself (no byte-by-byte string). */
export async function fileBase64(file: File): Promise<string> {
  const dataUrl = await new Promise<string>((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
  return dataUrl.slice(dataUrl.indexOf(',') + 1);
}
