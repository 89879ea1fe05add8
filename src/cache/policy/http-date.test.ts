// Tests for HTTP-date parsing (RFC 9110 §5.6.7, RFC 9111 §4.2): a table of inputs and the instants they denote.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isHttpDate, parseExactHttpDate, parseHttpDate } from './http-date.js';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const NOV_6_1994 = Date.UTC(1994, 10, 6, 8, 49, 37);
const AUG_18_2050 = Date.UTC(2050, 7, 18, 2, 1, 18);
/** Date.UTC without its mapping of years 0-99 to 1900-1999. */
const utcYear = (year: number, month: number, day: number): number => new Date(0).setUTCFullYear(year, month, day);

type Row = [input: string | undefined, expected: number | undefined, now?: number];

function check(rows: readonly Row[]): void {
  for (const [input, expected, now = T0] of rows) {
    assert.equal(parseHttpDate(input, now), expected, `${JSON.stringify(input)} at ${new Date(now).toISOString()}`);
    assert.equal(isHttpDate(input, now), expected !== undefined, `${JSON.stringify(input)} validity`);
  }
}

test('RFC 9110 §5.6.7: the three formats a recipient MUST accept denote the same instant', () => {
  check([
    ['Sun, 06 Nov 1994 08:49:37 GMT', NOV_6_1994],
    ['Sunday, 06-Nov-94 08:49:37 GMT', NOV_6_1994],
    ['Sun Nov  6 08:49:37 1994', NOV_6_1994],
    ['Sun Nov 06 08:49:37 1994', NOV_6_1994], // asctime's day: 2DIGIT or SP DIGIT
    ['Sun Nov 16 08:49:37 1994', Date.UTC(1994, 10, 16, 8, 49, 37)],
    ['  Sun, 06 Nov 1994 08:49:37 GMT\t', NOV_6_1994], // surrounding whitespace is not part of the field value
    ['Tue, 19 Jan 2038 14:14:08 GMT', Date.UTC(2038, 0, 19, 14, 14, 8)],
    ['Sun, 21 Nov 2286 04:46:39 GMT', Date.UTC(2286, 10, 21, 4, 46, 39)],
    ['Thu, 01 Jan 0050 00:00:00 GMT', utcYear(50, 0, 1)], // a four-digit year is taken as written, not as 1950
    ['Thu, 29 Feb 2024 00:00:00 GMT', Date.UTC(2024, 1, 29)],
  ]);
});

const WRONG_CASE: readonly [string, number][] = [
  ['THU, 18 Aug 2050 02:01:18 GMT', AUG_18_2050],
  ['Thu, 18 AUG 2050 02:01:18 GMT', AUG_18_2050],
  ['Thu, 18 Aug 2050 02:01:18 gMT', AUG_18_2050],
  ['sun, 06 Nov 1994 08:49:37 GMT', NOV_6_1994],
  ['Sun, 06 Nov 1994 08:49:37 gmt', NOV_6_1994],
  ['SUNDAY, 06-NOV-94 08:49:37 gmt', NOV_6_1994],
  ['sun nov  6 08:49:37 1994', NOV_6_1994],
];

test('RFC 9111 §4.2: response dates are matched case-insensitively, in every format (suite freshness-expires-wrong-case-*)', () => {
  check(WRONG_CASE);
});

test('RFC 9110 §13.1.3/§13.1.4: precondition dates need the exact case of the grammar, else they are ignored', () => {
  for (const [input] of WRONG_CASE) assert.equal(parseExactHttpDate(input, T0), undefined, input);
  assert.equal(parseExactHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', T0), NOV_6_1994);
  assert.equal(parseExactHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', T0), NOV_6_1994);
  assert.equal(parseExactHttpDate('Sun Nov  6 08:49:37 1994', T0), NOV_6_1994);
  assert.equal(parseExactHttpDate('Sat, 31 Dec 2016 23:59:60 GMT', T0), Date.UTC(2016, 11, 31, 23, 59, 59));
  assert.equal(parseExactHttpDate('Thu, 31 Feb 2050 02:01:18 GMT', T0), undefined);
  assert.equal(parseExactHttpDate(undefined, T0), undefined);
});

test('RFC 9111 §4.2, RFC 5322 §3.3: second 60 (a leap second) is read as second 59, never as the next minute', () => {
  const leap = Date.UTC(2016, 11, 31, 23, 59, 59);
  check([
    ['Sat, 31 Dec 2016 23:59:60 GMT', leap],
    ['Saturday, 31-Dec-16 23:59:60 GMT', leap],
    ['Sat Dec 31 23:59:60 2016', leap],
    ['Sat, 31 Dec 2016 23:59:61 GMT', undefined],
  ]);
});

test('RFC 9110 §5.6.7: an rfc850 two-digit year more than 50 years ahead of now is the previous century', () => {
  check([
    ['Thursday, 18-Aug-50 02:01:18 GMT', AUG_18_2050],
    ['Thursday, 18-Aug-76 02:01:18 GMT', Date.UTC(1976, 7, 18, 2, 1, 18)],
    // Settled: the timestamp, not only its year, is compared with now + 50 years (before, 2075 here).
    ['Sunday, 18-Aug-75 02:01:18 GMT', Date.UTC(1975, 7, 18, 2, 1, 18)],
    ['Wednesday, 01-Jan-75 12:00:00 GMT', Date.UTC(2075, 0, 1, 12), T0], // exactly 50 years ahead: not more
    ['Wednesday, 01-Jan-75 12:00:01 GMT', Date.UTC(1975, 0, 1, 12, 0, 1), T0], // one second more
    ['Monday, 01-Jan-74 00:00:00 GMT', Date.UTC(2074, 0, 1), Date.UTC(2025, 0, 1)],
    ['Tuesday, 01-Jan-76 00:00:00 GMT', Date.UTC(1976, 0, 1), Date.UTC(2025, 0, 1)],
    ['Saturday, 01-Jan-01 00:00:00 GMT', Date.UTC(2101, 0, 1), Date.UTC(2099, 0, 1)], // 2 years ahead, not 98 back
    ['Sunday, 06-Nov-94 08:49:37 GMT', NOV_6_1994, 0], // read in 1970
    ['Wednesday, 06-Nov-24 08:49:37 GMT', Date.UTC(2024, 10, 6, 8, 49, 37), T0], // was 1924 where now was 0
    ['Tuesday, 29-Feb-00 00:00:00 GMT', Date.UTC(2000, 1, 29), T0],
    ['Monday, 29-Feb-00 00:00:00 GMT', undefined, Date.UTC(2060, 0, 1)], // 2100 is not a leap year
  ]);
});

test('RFC 9110 §5.6.7: anything else is invalid (suite freshness-expires-invalid-*)', () => {
  const rows: Row[] = [
    'Thu, 18 Aug 2050 02:01:18 UTC', 'Thu, 18 Aug 2050 02:01:18 AEST', 'Sun, 06 Nov 1994 08:49:37 +0000',
    'Thu, 18 Aug 50 02:01:18 GMT', 'Thu 18 Aug 2050 02:01:18 GMT', 'Thu, 18  Aug  2050 02:01:18 GMT',
    'Thu, 18-Aug-2050 02:01:18 GMT', 'Thu, 18 Aug 2050 02.01.18 GMT', 'Thu, 18 Aug 2050 2:01:18 GMT',
    'Sun, 6 Nov 1994 08:49:37 GMT', // IMF-fixdate's day is 2DIGIT
    'Thu, 31 Feb 2050 02:01:18 GMT', 'Sun, 31 Feb 1994 08:49:37 GMT', 'Thu, 29 Feb 2023 00:00:00 GMT', 'Thu, 00 Jan 2050 00:00:00 GMT',
    'Thu, 18 Aug 2050 24:01:18 GMT', 'Sun, 06 Nov 1994 24:00:00 GMT', 'Thu, 18 Aug 2050 02:60:18 GMT',
    'Thu, 18 Aug 2050 02:01:18 GMT junk', 'Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT',
    'Sun, 06 Foo 1994 08:49:37 GMT', 'Sund, 06 Nov 1994 08:49:37 GMT', 'Sun, 06-Nov-94 08:49:37 GMT',
    'Sunday, 06-Nov-1994 08:49:37 GMT', 'Sun Nov  6 08:49:37 94', 'Sun Nov 6 08:49:37 1994',
    '1994-11-06T08:49:37Z', '0', '-1', '', 'foo',
  ].map((input): Row => [input, undefined]);
  check([...rows, [undefined, undefined]]);
});

test('property: IMF-fixdate round-trips through Date#toUTCString', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 8_000_000_000_000 }), (ms) => {
    assert.equal(parseHttpDate(new Date(ms).toUTCString(), T0), Math.floor(ms / 1000) * 1000);
  }));
});

test('property: an rfc850 date always lands within (now - 50 years, now + 50 years] and on the written day', () => {
  const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const YEAR_MS = 366 * 86_400_000;
  fc.assert(fc.property(
    fc.integer({ min: Date.UTC(1950, 0, 1), max: Date.UTC(2200, 0, 1) }),
    fc.integer({ min: -49 * YEAR_MS, max: 49 * YEAR_MS }),
    (now, offset) => {
      const d = new Date(Math.floor((now + offset) / 1000) * 1000);
      const two = (n: number): string => String(n).padStart(2, '0');
      const text = `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ` +
        `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`;
      assert.equal(parseHttpDate(text, now), d.getTime(), text);
    },
  ));
});

test('RFC 9110 §5.6.7: a date read again gives the same time, in any case, and an invalid one stays invalid', () => {
  const now = Date.UTC(2026, 0, 1);
  for (let round = 0; round < 3; round++) {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT', now), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('sun, 06 nov 1994 08:49:37 gmt', now), Date.UTC(1994, 10, 6, 8, 49, 37));
    assert.equal(parseHttpDate('Sun, 31 Feb 1994 08:49:37 GMT', now), undefined);
    // The exact-case grammar of preconditions is not answered from what the any-case parse saw.
    assert.equal(parseExactHttpDate('sun, 06 nov 1994 08:49:37 gmt', now), undefined);
  }
  // Many distinct dates (more than are remembered) parse as the first time.
  for (let s = 0; s < 100; s++) assert.equal(parseHttpDate(new Date(now + s * 1000).toUTCString(), now), now + s * 1000);
});
