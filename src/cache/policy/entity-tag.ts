// Entity-tags (RFC 9110 §8.8.3): parsing one tag or a list of them, the lenient reading of an origin's ETag, comparison.

/** An entity-tag (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3); `opaque` keeps its double quotes. */
export interface EntityTag {
  weak: boolean;
  opaque: string;
}

const ETAGC = /^[\x21\x23-\x7e\x80-\uffff]*$/; // etagc = %x21 / %x23-7E / obs-text (and any non-ASCII a JS string holds)

/** Parses exactly one entity-tag, strictly (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3); undefined when invalid. */
export function parseEntityTag(value: string | undefined): EntityTag | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  const weak = v.startsWith('W/');
  const opaque = weak ? v.slice(2) : v;
  if (opaque.length < 2 || opaque[0] !== '"' || opaque[opaque.length - 1] !== '"') return undefined;
  if (!ETAGC.test(opaque.slice(1, -1))) return undefined;
  return { weak, opaque };
}

/**
 * Reads an ETag as origins really send it, for revalidation and weak comparison: a valid entity-tag as it is; a
 * quoted tag holding characters etagc forbids (a space, say) as that tag; an unquoted value (a common origin
 * mistake: `ETag: abc`) as the strong tag `"abc"`; anything else with a quote kept verbatim as a strong tag, so it is
 * compared byte for byte. Undefined only when absent or empty. The http-tests/cache-tests "check" cases
 * conditional-etag-*-unquoted-* probe this. https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3
 */
export function readOriginEntityTag(value: string | undefined): EntityTag | undefined {
  if (value === undefined) return undefined;
  const text = value.trim();
  if (text === '') return undefined;
  if (/^W\/"[^"]*"$/.test(text)) return { weak: true, opaque: text.slice(2) };
  if (/^"[^"]*"$/.test(text)) return { weak: false, opaque: text };
  if (!text.includes('"')) return { weak: false, opaque: `"${text}"` };
  return { weak: false, opaque: text }; // malformed: compared verbatim
}

/** The field value of an entity-tag: `W/"x"` or `"x"`. */
export function formatEntityTag(tag: EntityTag): string {
  return tag.weak ? `W/${tag.opaque}` : tag.opaque;
}

/** Strong comparison: both strong and the opaque-tags equal (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2). */
export function isStrongMatch(a: EntityTag, b: EntityTag): boolean {
  return !a.weak && !b.weak && a.opaque === b.opaque;
}

/** Weak comparison: opaque-tags equal, weakness ignored (https://www.rfc-editor.org/rfc/rfc9110#section-8.8.3.2). */
export function isWeakMatch(a: EntityTag, b: EntityTag): boolean {
  return a.opaque === b.opaque;
}

/** One member of an `#entity-tag` list: its raw text and, when it is a valid entity-tag, the tag. */
export interface EntityTagListMember {
  raw: string;
  tag: EntityTag | undefined;
}

/**
 * Splits an `#entity-tag` list (If-Match, If-None-Match). Commas are legal inside an opaque-tag, so this scans quotes
 * rather than splitting on ","; empty members are skipped (https://www.rfc-editor.org/rfc/rfc9110#section-5.6.1.2).
 * A malformed member keeps its raw text and has no tag.
 */
export function parseEntityTagList(value: string): EntityTagListMember[] {
  const out: EntityTagListMember[] = [];
  let i = 0;
  const n = value.length;
  while (i < n) {
    const c = value[i];
    if (c === ' ' || c === '\t' || c === ',') {
      i++;
      continue;
    }
    const start = i;
    const quoteAt = value.startsWith('W/"', i) ? i + 2 : c === '"' ? i : -1;
    let end = -1;
    if (quoteAt >= 0) {
      const close = value.indexOf('"', quoteAt + 1);
      if (close >= 0) {
        let j = close + 1;
        while (j < n && (value[j] === ' ' || value[j] === '\t')) j++;
        if (j === n || value[j] === ',') end = close + 1;
      }
    }
    if (end < 0) {
      // Not a well-formed entity-tag: the member runs to the next comma.
      const comma = value.indexOf(',', i);
      end = comma < 0 ? n : comma;
    }
    const raw = value.slice(start, end).trim();
    out.push({ raw, tag: parseEntityTag(raw) });
    i = end;
  }
  return out;
}
