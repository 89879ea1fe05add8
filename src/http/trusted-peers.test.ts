import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkPeerEntry, compilePeers, peerScheme } from './trusted-peers.js';

test('single addresses and CIDR ranges, IPv4 and IPv6, match the peers they name and no others', () => {
  const m = compilePeers(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1']);
  for (const a of ['10.0.0.1', '10.255.255.255', '::ffff:10.1.2.3', '192.168.1.7', 'fd12::34', '::1']) assert.equal(m.has(a), true, a);
  for (const a of ['11.0.0.1', '192.168.1.8', 'fe80::1', '127.0.0.1', '::2', '', 'not-an-ip']) assert.equal(m.has(a), false, a);
});

test('an empty list trusts nobody', () => {
  const m = compilePeers([]);
  assert.equal(m.has('127.0.0.1'), false);
  assert.equal(m.size, 0);
});

test('entries that are not an IP or a CIDR range are refused with a reason', () => {
  for (const ok of ['10.0.0.1', '10.0.0.0/8', '0.0.0.0/0', '::/0', 'fd00::/8', '2001:db8::1/128']) assert.equal(checkPeerEntry(ok), undefined, ok);
  assert.match(checkPeerEntry('proxy.internal')!, /IP address or a CIDR range/);
  assert.match(checkPeerEntry('10.0.0.0/33')!, /prefix length from 0 to 32/);
  assert.match(checkPeerEntry('fd00::/129')!, /prefix length from 0 to 128/);
  assert.match(checkPeerEntry('10.0.0.0/')!, /prefix length/);
  assert.match(checkPeerEntry('10.0.0.0/8x')!, /prefix length/);
  assert.match(checkPeerEntry('10.0.0/8')!, /IP address or a CIDR range/);
});

test('peerScheme: X-Forwarded-Proto first, then the first Forwarded element; anything but http/https is ignored', () => {
  assert.deepEqual(peerScheme('https', undefined), { proto: 'https', forwarded: undefined });
  assert.equal(peerScheme('HTTPS, http', undefined).proto, 'https', 'the first member (the client-facing hop)');
  assert.equal(peerScheme(undefined, 'for=192.0.2.1;proto=https, for=10.0.0.1;proto=http').proto, 'https');
  assert.equal(peerScheme(undefined, 'for="[2001:db8::1]:443";Proto="HTTPS"').proto, 'https');
  assert.equal(peerScheme('http', 'for=x;proto=https').proto, 'http', 'X-Forwarded-Proto wins');
  for (const bad of ['gopher', 'https;', '', 'javascript']) assert.equal(peerScheme(bad, undefined).proto, undefined, bad);
  assert.equal(peerScheme(undefined, 'for=x;proto=ftp').proto, undefined);
  // A Forwarded value that does not parse is neither believed nor kept.
  for (const bad of ['for=x;proto', 'for="unterminated;proto=https', 'proto=https,,', 'for=a b']) {
    assert.deepEqual(peerScheme(undefined, bad), { proto: undefined, forwarded: undefined }, bad);
  }
  assert.equal(peerScheme(undefined, ['for=a;proto=https', 'for=b']).forwarded, 'for=a;proto=https, for=b');
  assert.equal(peerScheme(undefined, `for=a;x="${'a'.repeat(5000)}"`).forwarded, undefined, 'over 4 KiB: ignored');
});
