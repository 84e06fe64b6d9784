// Drives two clustered Pleiades servers through their AMI with asterisk-ami-client, a client
// library written for Asterisk, and prints one line per check: "ok <name>" or
// "FAIL <name>: <detail>". Exit status 0 when every check passed.
// Usage: node scenario.js <port1> <port2> <user> <secret>
'use strict';
const AmiClient = require('asterisk-ami-client');

const [port1, port2, user, secret] = process.argv.slice(2);
let failed = 0;
const ok = (name) => console.log('ok ' + name);
const fail = (name, detail) => { failed++; console.log('FAIL ' + name + ': ' + detail); };
const check = (name, cond, detail) => (cond ? ok(name) : fail(name, detail));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// get reads a field whatever case the library gives it.
const get = (obj, key) => {
  if (!obj) return undefined;
  for (const k of Object.keys(obj)) if (k.toLowerCase() === key.toLowerCase()) return obj[k];
  return undefined;
};

function client() {
  return new AmiClient({ reconnect: false, keepAlive: false, emitEventsByTypes: true, emitResponsesById: true });
}

// waitFor resolves with the first event in list (past and future) that pred accepts.
async function waitFor(list, pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const e = list.find(pred);
    if (e) return e;
    await sleep(10);
  }
  return undefined;
}

// eventList runs a list action and gathers its items until the Complete event.
async function eventList(c, events, action, complete) {
  const id = 'list' + Math.random().toString(36).slice(2);
  const resp = await c.action(Object.assign({ ActionID: id }, action), true);
  const done = await waitFor(events, (e) => get(e, 'Event') === complete && get(e, 'ActionID') === id, 5000);
  return { resp, items: events.filter((e) => get(e, 'ActionID') === id && get(e, 'Event') !== complete), done };
}

(async () => {
  const c1 = client();
  const c2 = client();
  const ev1 = [];
  const ev2 = [];
  await c1.connect(user, secret, { host: '127.0.0.1', port: Number(port1) });
  await c2.connect(user, secret, { host: '127.0.0.1', port: Number(port2) });
  ok('login on both servers');
  c1.on('event', (e) => ev1.push(e));
  c2.on('event', (e) => ev2.push(e));

  const pong = await c1.action({ Action: 'Ping' }, true);
  check('ping', get(pong, 'Ping') === 'Pong', JSON.stringify(pong));

  // A device change on server 1 reaches server 2's AMI as DeviceStateChange and ExtensionStatus.
  const set = await c1.action({ Action: 'Setvar', Variable: 'DEVICE_STATE(Custom:mystate)', Value: 'INUSE' }, true);
  check('Setvar DEVICE_STATE on server 1', get(set, 'Response') === 'Success', JSON.stringify(set));
  const dsc = await waitFor(ev2, (e) => get(e, 'Event') === 'DeviceStateChange' && get(e, 'Device') === 'Custom:mystate' && get(e, 'State') === 'INUSE', 5000);
  check('DeviceStateChange on server 2', dsc, 'none within 5 s: ' + JSON.stringify(ev2.slice(-5)));
  const ext = await waitFor(ev2, (e) => get(e, 'Event') === 'ExtensionStatus' && get(e, 'Exten') === '1234' && get(e, 'Status') === '1', 5000);
  check('ExtensionStatus InUse on server 2', ext && get(ext, 'StatusText') === 'InUse', JSON.stringify(ext || ev2.slice(-5)));

  // As Asterisk 20: a value that is not a device state (or UNKNOWN) is refused, nothing changes.
  for (const v of ['bogus', 'UNKNOWN']) {
    const bad = await c1.action({ Action: 'Setvar', Variable: 'DEVICE_STATE(Custom:mystate)', Value: v }, true);
    check('Setvar DEVICE_STATE ' + v + ' refused', get(bad, 'Response') === 'Error' && get(bad, 'Message') === 'Variable not set', JSON.stringify(bad));
  }
  const still = await c1.action({ Action: 'Getvar', Variable: 'DEVICE_STATE(Custom:mystate)' }, true);
  check('state unchanged after refused writes', get(still, 'Value') === 'INUSE', JSON.stringify(still));

  const list = await eventList(c2, ev2, { Action: 'ExtensionStateList' }, 'ExtensionStateListComplete');
  const item = list.items.find((e) => get(e, 'Exten') === '1234' && get(e, 'Context') === 'devstate_test');
  check('ExtensionStateList on server 2', list.done && item && get(item, 'StatusText') === 'InUse' && get(list.done, 'ListItems') === String(list.items.length),
    JSON.stringify({ resp: list.resp, items: list.items, done: list.done }));

  const es = await c2.action({ Action: 'ExtensionState', Exten: '1234', Context: 'devstate_test' }, true);
  check('ExtensionState on server 2', get(es, 'Status') === '1' && get(es, 'Hint') === 'Custom:mystate', JSON.stringify(es));

  // MWI is cluster-wide: counts set on server 1 are server 2's answer too.
  const upd = await c1.action({ Action: 'MWIUpdate', Mailbox: '100@default', OldMessages: '2', NewMessages: '3' }, true);
  check('MWIUpdate on server 1', get(upd, 'Response') === 'Success', JSON.stringify(upd));
  const mw = await waitFor(ev2, (e) => get(e, 'Event') === 'MessageWaiting' && get(e, 'Mailbox') === '100@default', 5000);
  check('MessageWaiting Waiting: 1 on server 2', mw && get(mw, 'Waiting') === '1' && get(mw, 'New') === '3' && get(mw, 'Old') === '2', JSON.stringify(mw || ev2.slice(-5)));
  const count = await c2.action({ Action: 'MailboxCount', Mailbox: '100@default' }, true);
  check('MailboxCount on server 2', get(count, 'NewMessages') === '3' && get(count, 'OldMessages') === '2', JSON.stringify(count));
  const status = await c2.action({ Action: 'MailboxStatus', Mailbox: '100@default' }, true);
  check('MailboxStatus on server 2', get(status, 'Waiting') === '1', JSON.stringify(status));
  const mget = await eventList(c2, ev2, { Action: 'MWIGet', Mailbox: '100@default' }, 'MWIGetComplete');
  const mi = mget.items.find((e) => get(e, 'Mailbox') === '100@default');
  check('MWIGet on server 2', mi && get(mi, 'NewMessages') === '3' && get(mi, 'OldMessages') === '2', JSON.stringify(mget));

  const rel = await c1.action({ Action: 'Reload' }, true);
  check('Reload', get(rel, 'Response') === 'Success', JSON.stringify(rel));
  // One line of output: the library keeps only the last of repeated Output: headers (with
  // Asterisk 22 too).
  const cmd = await c1.action({ Action: 'Command', Command: 'core show version' }, true);
  const out = [].concat(get(cmd, 'Output') || []).join('\n');
  check('Command core show version', get(cmd, 'Response') === 'Success' && out.startsWith('Pleiades'), JSON.stringify(cmd));

  const bad = await c1.action({ Action: 'Nope' }, true);
  check('unknown action', get(bad, 'Response') === 'Error', JSON.stringify(bad));

  c1.disconnect();
  c2.disconnect();
  process.exit(failed ? 1 : 0);
})().catch((err) => {
  console.log('FAIL scenario: ' + (err && err.stack ? err.stack : err));
  process.exit(1);
});
