'use strict';

// Amounts arrive in integer fen; format without floating point so that
// 0.1 + 0.2 never shows up on a bill.
function yuan(fen) {
  const sign = fen < 0 ? '-' : '';
  const abs = Math.abs(fen);
  const whole = Math.floor(abs / 100);
  const cents = abs % 100;
  return sign + whole + '.' + String(cents).padStart(2, '0');
}

function show(el, on) {
  el.hidden = !on;
}

function cell(text) {
  const td = document.createElement('td');
  td.textContent = text;
  return td;
}

function render(quote) {
  document.getElementById('total').textContent = yuan(quote.total_fen);
  const body = document.getElementById('lines');
  body.replaceChildren();
  for (const line of quote.lines) {
    const tr = document.createElement('tr');
    tr.append(cell(line.label), cell(yuan(line.amount_fen)), cell(line.reason));
    body.append(tr);
  }
  show(document.getElementById('error'), false);
  show(document.getElementById('result'), true);
}

function renderError(err) {
  // Commands reject with {code, message, message_en}; anything else is a
  // failure of the shell itself and is shown as is.
  const message = err && typeof err === 'object' && err.message ? err.message : String(err);
  const el = document.getElementById('error');
  el.textContent = message;
  show(document.getElementById('result'), false);
  show(el, true);
}

async function lookUp(event) {
  event.preventDefault();
  const form = event.target;
  const operation = form.operation.value;
  const args = {
    provider: form.provider.value,
    operation,
    years: Number(form.years.value),
  };
  if (operation === 'replace-damaged') {
    if (form.fault.value) args.fault = form.fault.value;
    if (form.first_issued.value) args.first_issued = form.first_issued.value;
  }
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    render(await window.__TAURI__.core.invoke('fee', args));
  } catch (err) {
    renderError(err);
  } finally {
    button.disabled = false;
  }
}

function option(value, text) {
  const o = document.createElement('option');
  o.value = value;
  o.textContent = text;
  return o;
}

// Providers, their operations and how many years a renewal may buy come
// from the station's catalog, never from this page.
function fillOperations(form, provider) {
  form.operation.replaceChildren(...provider.operations.map((op) => option(op.operation, op.label)));
  const years = [];
  for (let y = 1; y <= provider.max_years; y += 1) years.push(option(String(y), y + ' 年'));
  form.years.replaceChildren(...years);
  form.operation.dispatchEvent(new Event('change'));
}

async function loadProviders(form) {
  const providers = await window.__TAURI__.core.invoke('providers');
  form.provider.replaceChildren(...providers.map((p) => option(p.id, p.name)));
  const byId = new Map(providers.map((p) => [p.id, p]));
  form.provider.addEventListener('change', () => fillOperations(form, byId.get(form.provider.value)));
  if (providers.length > 0) fillOperations(form, providers[0]);
}

document.addEventListener('DOMContentLoaded', () => {
  const form = document.getElementById('fee-form');
  const damage = document.getElementById('damage');
  form.addEventListener('submit', lookUp);
  form.operation.addEventListener('change', () => show(damage, form.operation.value === 'replace-damaged'));
  if (!window.__TAURI__) {
    renderError('本页面需在工作站应用中打开。');
    return;
  }
  loadProviders(form).catch(renderError);
});
