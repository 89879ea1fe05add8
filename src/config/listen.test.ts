// Config `listen`: one HOST:PORT or a list; TLS entries; --listen / --tls-cert / --tls-key flags; refused mistakes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, resolveConfig, validateConfig } from './load.js';

const ZONE = { id: 'z', origin: 'http://127.0.0.1:9000' };

test('listen: a single HOST:PORT (as before), a list, and TLS entries; the default stays plain 127.0.0.1:8787', () => {
  assert.deepEqual(validateConfig({ zones: [ZONE] }, 't').listen, [{ host: '127.0.0.1', port: 8787, h2c: false, http2: true }]);
  assert.deepEqual(validateConfig({ listen: '0.0.0.0:80', zones: [ZONE] }, 't').listen, [{ host: '0.0.0.0', port: 80, h2c: false, http2: true }]);
  const c = validateConfig({
    listen: ['[::1]:80', { address: '0.0.0.0:443', tls: { certificates: [{ cert: 'a.pem', key: 'a.key' }] } }, { address: '10.0.0.1:8080', h2c: true }],
    zones: [ZONE],
  }, 't');
  assert.deepEqual(c.listen, [
    { host: '::1', port: 80, h2c: false, http2: true },
    { host: '0.0.0.0', port: 443, h2c: false, http2: true, tls: { certificates: [{ cert: 'a.pem', key: 'a.key' }], ocspStapling: true } },
    { host: '10.0.0.1', port: 8080, h2c: true, http2: true },
  ]);
});

test('listen mistakes are refused with the field named', () => {
  const bad = (listen: unknown, re: RegExp, zones: unknown[] = [ZONE]): void => {
    assert.throws(() => validateConfig({ listen, zones }, 't'), (e: unknown) => e instanceof ConfigError && re.test(e.message), JSON.stringify(listen));
  };
  bad([], /listen: .*at least one listener/);
  bad(['1.2.3.4:80', '1.2.3.4:80'], /listen\[1\]: got "1\.2\.3\.4:80": each address is listened on once/);
  bad([{ address: '1.2.3.4:443', tls: { certificates: [] } }], /listen/);
  bad([{ address: '1.2.3.4:443', tls: { certificates: [{ cert: 'a' }] } }], /listen/);
  bad([{ address: '1.2.3.4:443', tls: { certificates: [{ cert: 'a', key: 'b' }], ocspStapling: 'yes' } }], /listen/);
  bad([{ address: '1.2.3.4:443', h2c: true, tls: { certificates: [{ cert: 'a', key: 'b' }] } }], /listen\[0\]\.h2c: .*plain listeners/);
  bad(['1.2.3.4:80'], /zones\[0\]\.redirectHttp: got true: no listener has tls/, [{ ...ZONE, redirectHttp: true }]);
});

test('--listen (repeatable) replaces the file\'s listeners; --tls-cert/--tls-key pairs make them TLS', () => {
  const c = resolveConfig(undefined, { origin: 'http://127.0.0.1:9000', listen: ['127.0.0.1:80', '127.0.0.1:443'], tlsCert: ['a.pem', 'b.pem'], tlsKey: ['a.key', 'b.key'] });
  const certificates = [{ cert: 'a.pem', key: 'a.key' }, { cert: 'b.pem', key: 'b.key' }];
  assert.deepEqual(c.listen.map((l) => l.tls), [{ certificates, ocspStapling: true }, { certificates, ocspStapling: true }]);
  const d = resolveConfig(undefined, { origin: 'http://127.0.0.1:9000', tlsCert: ['a.pem'], tlsKey: ['a.key'] });
  assert.deepEqual(d.listen, [{ host: '127.0.0.1', port: 8787, h2c: false, http2: true, tls: { certificates: [certificates[0]], ocspStapling: true } }], 'the default listener');
  assert.throws(() => resolveConfig(undefined, { origin: 'http://127.0.0.1:9000', tlsCert: ['a.pem'] }), /--tls-cert and --tls-key come in pairs/);
});
