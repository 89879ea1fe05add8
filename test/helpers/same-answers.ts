// Test helper: the fast path's answers against node:http's for the same raw request heads, byte for byte apart from Date, Age, ttl and request ids.
import assert from 'node:assert/strict';
import { exchange } from './raw-http.js';

/** Date and Age vary with time; the ttl in Cache-Status with Age; each request has its own id. */
const normalize = (s: string): string => s.replace(/^date: .*$/gim, 'date: X').replace(/^age: \d+$/gim, 'age: X').replace(/ttl=\d+/g, 'ttl=X')
  .replace(/^x-request-id: [0-9a-z]+-[0-9a-z]+$/gim, 'x-request-id: X');

/** Sends each of `heads` (one or more pipelined requests) to both edges and asserts the answers and closes are alike. */
export async function assertSameAnswers(fastPort: number, slowPort: number, heads: readonly string[], waitMs: number): Promise<void> {
  for (const head of heads) {
    const isHead = (i: number): boolean => head.split(/\r\n\r\n/).filter((x) => x.length > 0)[i]?.startsWith('HEAD') === true;
    const opts = { waitMs, endWhenIdleMs: 300, headAt: isHead };
    const [a, b] = [await exchange(fastPort, head, opts), await exchange(slowPort, head, opts)];
    assert.ok(a.bytes.length > 0, `an answer to ${JSON.stringify(head)}`);
    assert.equal(normalize(a.text), normalize(b.text), `fast and node:http answers differ for ${JSON.stringify(head)}`);
    assert.equal(a.closed, b.closed, `the connection is closed alike after ${JSON.stringify(head)}`);
  }
}
