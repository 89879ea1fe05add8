// HTTP-date parsing (RFC 9110 §5.6.7): the three formats a recipient must accept, read into ms since the epoch.
//
// Decisions (one parser for freshness, validation, conditionals and ranges; before, two parsers disagreed on all three):
// - Case: the field decides. Fields the cache received from an origin (Date, Expires, Last-Modified) are matched
//   case-insensitively: "Although all date formats are specified to be case-sensitive, a cache recipient SHOULD match
//   the field value case-insensitively" (RFC 9111 §4.2), and "Recipients of timestamp values are encouraged to be
//   robust in parsing timestamps unless otherwise restricted by the field definition" (RFC 9110 §5.6.7). A client's
//   precondition fields (If-Modified-Since, If-Unmodified-Since, If-Range) are so restricted: "A recipient MUST
//   ignore ... if the received field value is not a valid HTTP-date" (RFC 9110 §13.1.3, §13.1.4), so they are read
//   with the exact case of the grammar (parseExactHttpDate). Wrong case there means "ignored", which costs a full
//   response at worst; read leniently, a value the RFC says to ignore could produce a 304 or a 412.
//   https://www.rfc-editor.org/rfc/rfc9111#section-4.2 and https://www.rfc-editor.org/rfc/rfc9110#section-13.1.3
// - Leap second: second 60 is accepted (IMF-fixdate is a subset of RFC 5322 §3.3, which allows 23:59:60) and read as
//   second 59 of the same minute: epoch milliseconds cannot hold a leap second, and "the recipient MUST internally
//   represent a parsed Expires date as the nearest time equal to or earlier than the received value" (RFC 9111
//   §4.2). Rejecting it would make a valid Expires "already expired" (RFC 9111 §5.3); rolling it into the next
//   minute would read it later than it is.
// - Two-digit years (rfc850-date): "Recipients of a timestamp value in rfc850-date format, which uses a two-digit
//   year, MUST interpret a timestamp that appears to be more than 50 years in the future as representing the most
//   recent year in the past that had the same last two digits" (RFC 9110 §5.6.7). The timestamp, not just its year,
//   is compared with `now` plus 50 years, so the reading is exact at the boundary; `now` is always the caller's
//   clock (no hidden Date.now()).
//   https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
// - Anything else is invalid (undefined): other zones than GMT, missing or extra spaces and commas, one-digit days in
//   IMF-fixdate, days that do not exist (31 Feb), hours over 23, minutes over 59, trailing text. Callers decide what
//   invalid means (an invalid Expires is "already expired", RFC 9111 §5.3; an invalid If-Modified-Since is ignored,
//   RFC 9110 §13.1.3).

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const LOWER_MONTHS = MONTHS.map((m) => m.toLowerCase());

interface Formats {
  imf: RegExp;
  rfc850: RegExp;
  asctime: RegExp;
}

/** The three grammars, written with the exact case of RFC 9110 §5.6.7; `flags` 'i' makes them case-insensitive. */
function formats(flags: string): Formats {
  const month = `(${MONTHS.join('|')})`;
  const time = '([0-9]{2}):([0-9]{2}):([0-9]{2})';
  return {
    // IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT; date1 = day SP month SP year (2DIGIT, 4DIGIT)
    imf: new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), ([0-9]{2}) ${month} ([0-9]{4}) ${time} GMT$`, flags),
    // rfc850-date = day-name-l "," SP date2 SP time-of-day SP GMT; date2 = day "-" month "-" 2DIGIT
    rfc850: new RegExp(`^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), ([0-9]{2})-${month}-([0-9]{2}) ${time} GMT$`, flags),
    // asctime-date = day-name SP date3 SP time-of-day SP year; date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
    asctime: new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${month} ([0-9]{2}| [0-9]) ${time} ([0-9]{4})$`, flags),
  };
}

const ANY_CASE = formats('i');
const EXACT_CASE = formats('');

/**
 * Parses an HTTP-date a cache received in a response (Date, Expires, Last-Modified): IMF-fixdate, rfc850-date or
 * asctime-date, names in any case, into ms since the epoch; undefined when invalid.
 * `now` (ms since the epoch, the recipient's clock) is used only to place an rfc850 two-digit year.
 * https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7 and https://www.rfc-editor.org/rfc/rfc9111#section-4.2
 */
export function parseHttpDate(value: string | undefined, now: number): number | undefined {
  return parse(value, now, ANY_CASE);
}

/**
 * Parses an HTTP-date from a client's precondition field (If-Modified-Since, If-Unmodified-Since, If-Range) with the
 * exact case of the grammar; undefined when invalid, and the field is then ignored (RFC 9110 §13.1.3, §13.1.4).
 * https://www.rfc-editor.org/rfc/rfc9110#section-5.6.7
 */
export function parseExactHttpDate(value: string | undefined, now: number): number | undefined {
  return parse(value, now, EXACT_CASE);
}

/** Is `value` an HTTP-date (names in any case)? `now` matters only for 29 February of an rfc850 two-digit year. */
export function isHttpDate(value: string | undefined, now: number): boolean {
  return parse(value, now, ANY_CASE) !== undefined;
}

/**
 * IMF-fixdates parsed lately (response fields, any case): a second's Date and an origin's Last-Modified repeat on
 * response after response, and each is read more than once per response. Their value does not depend on `now`.
 */
const RECENT_IMF = new Map<string, number | undefined>();
const RECENT_IMF_MAX = 16;

function parse(value: string | undefined, now: number, f: Formats): number | undefined {
  if (value === undefined) return undefined;
  if (f === ANY_CASE && RECENT_IMF.has(value)) return RECENT_IMF.get(value);
  const text = value.trim();
  let m = f.imf.exec(text);
  if (m !== null) {
    const at = toEpoch(Number(m[3]), monthIndex(m[2]!), Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6]));
    if (f === ANY_CASE) {
      if (RECENT_IMF.size >= RECENT_IMF_MAX) RECENT_IMF.clear();
      RECENT_IMF.set(value, at);
    }
    return at;
  }
  m = f.rfc850.exec(text);
  if (m !== null) {
    const month = monthIndex(m[2]!);
    const [day, h, min, s] = [Number(m[1]), Number(m[4]), Number(m[5]), Number(m[6])];
    return toEpoch(rfc850Year(Number(m[3]), month, day, h, min, s, now), month, day, h, min, s);
  }
  m = f.asctime.exec(text);
  if (m !== null) return toEpoch(Number(m[6]), monthIndex(m[1]!), Number(m[2]!.trim()), Number(m[3]), Number(m[4]), Number(m[5]));
  return undefined;
}

function monthIndex(name: string): number {
  return LOWER_MONTHS.indexOf(name.toLowerCase());
}

/**
 * The full year of an rfc850 two-digit year: the latest year ending in `yy` whose timestamp is not more than 50 years
 * after `now` (RFC 9110 §5.6.7). E.g. in 2025 "75" is 2075 until the date is past 50 years from now, then 1975; in
 * 2099 "01" is 2101 (2 years ahead), not 2001.
 */
function rfc850Year(yy: number, month: number, day: number, h: number, min: number, s: number, now: number): number {
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 50);
  let year = Math.floor(new Date(now).getUTCFullYear() / 100) * 100 + 100 + yy;
  // Compared without validating the day (a 29 February that does not exist rolls into March, which is later).
  while (utc(year, month, day, h, min, Math.min(s, 59)) > limit.getTime()) year -= 100;
  return year;
}

/** Date.UTC without its mapping of years 0-99 to 1900-1999. */
function utc(year: number, month: number, day: number, h: number, min: number, s: number): number {
  const d = new Date(0);
  d.setUTCFullYear(year, month, day);
  d.setUTCHours(h, min, s, 0);
  return d.getTime();
}

function toEpoch(year: number, month: number, day: number, h: number, min: number, s: number): number | undefined {
  if (month < 0 || day < 1 || h > 23 || min > 59 || s > 60) return undefined;
  const lastDay = new Date(0);
  lastDay.setUTCFullYear(year, month + 1, 0); // the last day of `month`
  if (day > lastDay.getUTCDate()) return undefined; // e.g. 31 Feb
  return utc(year, month, day, h, min, Math.min(s, 59)); // second 60 (a leap second) is read as 59, see above
}
