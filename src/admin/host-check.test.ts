// Tests for the admin listener's Host check: IP literals and localhost always, admin.hosts names, nothing else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHostCheck, hostOfField } from './host-check.js';
import { configSchema } from '../config/schema.js';

test('hostOfField: the host without port or brackets, lowercased; undefined when it is not host[:port]', () => {
  assert.equal(hostOfField('LocalHost:8788'), 'localhost');
  assert.equal(hostOfField('[::1]:8788'), '::1');
  assert.equal(hostOfField('127.0.0.1'), '127.0.0.1');
  assert.equal(hostOfField('a:b:c'), undefined);
  assert.equal(hostOfField('[::1'), undefined);
});

test('by default only IP literals and localhost reach the admin API; no Host (HTTP/1.0, never a browser) is let through', () => {
  const ok = createHostCheck();
  for (const h of ['127.0.0.1:8788', '127.0.0.1', '10.1.2.3:80', '[::1]:8788', '[2001:db8::1]', 'localhost', 'LOCALHOST:8788', undefined]) {
    assert.equal(ok(h), true, String(h));
  }
  for (const h of ['attacker.example', 'attacker.example:8788', '127.0.0.1.nip.io', 'localhost.attacker.example', 'x.localhost',
    '', ' ', 'localhost:8788:1', '::1', '[localhost]', '127.0.0.1@attacker.example']) {
    assert.equal(ok(h), false, JSON.stringify(h));
  }
});

test('admin.hosts adds exact names and *.suffix wildcards, case-insensitively, on any port', () => {
  const ok = createHostCheck(['Admin.Example.internal', '*.edge.internal']);
  for (const h of ['admin.example.internal', 'ADMIN.example.internal:8788', 'node-1.edge.internal:8788', 'a.b.edge.internal', '127.0.0.1']) {
    assert.equal(ok(h), true, h);
  }
  for (const h of ['edge.internal', 'xedge.internal', 'admin.example.internal.attacker.example', 'other.example.internal']) {
    assert.equal(ok(h), false, h);
  }
});

test('admin.hosts in the config: names and *.suffix are accepted; a bare *, a scheme, a port or a path are refused', () => {
  const parse = (hosts: unknown) => configSchema.safeParse({ admin: { hosts } });
  assert.equal(parse(['admin.example.internal', '*.edge.internal', 'node_1.lan']).success, true);
  assert.equal(configSchema.parse({}).admin.hosts, undefined, 'default: IP literals and localhost only');
  for (const bad of ['*', 'http://admin.example', 'admin.example:8788', 'admin.example/x', '', '*.', 'a..b']) {
    assert.equal(parse([bad]).success, false, bad);
  }
});
