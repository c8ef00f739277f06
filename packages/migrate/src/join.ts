/**
 * The comparison of two trees: a streaming merge-join of their listings, so comparing a million
 * files costs two listings and memory that does not grow with the number of files.
 *
 * Both listings are read side by side, the one that is behind first. An entry is matched by name
 * with the other side's unmatched entries; an entry is declared present on one side only once the
 * other side's listing has passed its name — in the order that side actually lists in.
 *
 * Which order that is, is observed, not assumed. Core's drivers list in Unicode code point order
 * (`compareNames`), but some servers (Azurite, the GCS emulator) list in UTF-16 code unit order,
 * and a third-party driver may list in any order. Each side keeps the set of known orders its
 * listing has been consistent with so far; a name counts as passed only when it is behind the
 * listing's last name in every order still possible. So an order mismatch only makes entries wait
 * a little longer (memory: the names in the window where the orders disagree), never makes a
 * present file look missing. A listing consistent with no known order cannot be joined in bounded
 * memory, and what was concluded before that showed may be wrong: the join stops with an
 * UnsupportedError (E_UNSUPPORTED) rather than report a file missing that is not.
 */
import { compareNames, UnsupportedError } from "@storages/core";

/** One file of a listing, with its name relative to the compared folder. */
export interface ListedFile {
  name: string;
  size: number;
  lastModified: Date;
  etag?: string | undefined;
  checksums?: Partial<Record<"md5" | "sha256" | "crc32c", string>> | undefined;
}

/** A name found on either side, with what each side has under it. */
export interface JoinedFile {
  name: string;
  source: ListedFile | undefined;
  destination: ListedFile | undefined;
}

/** The orders a listing may come in; a listing is matched against each. */
export type ListingOrder = "code-point" | "utf-16";

const ORDERS: ReadonlyArray<{ order: ListingOrder; compare: (a: string, b: string) => number }> = [
  { order: "code-point", compare: compareNames },
  { order: "utf-16", compare: (a, b) => (a < b ? -1 : a > b ? 1 : 0) },
];

class Side {
  done = false;
  last: string | undefined;
  /** The orders this listing has been consistent with so far. */
  orders = [...ORDERS];
  /** Entries not matched yet, in listing order (the oldest, normally the smallest, first). */
  readonly pending = new Map<string, ListedFile>();
  readonly iterator: AsyncIterator<readonly ListedFile[]>;

  constructor(
    listing: AsyncIterable<readonly ListedFile[]>,
    readonly role: string,
  ) {
    this.iterator = listing[Symbol.asyncIterator]();
  }

  observe(name: string): void {
    const last = this.last;
    if (last !== undefined) this.orders = this.orders.filter(({ compare }) => compare(last, name) <= 0);
    if (this.orders.length === 0) {
      throw new UnsupportedError(
        `The ${this.role} lists "${name.slice(0, 100)}" after "${(last ?? "").slice(0, 100)}": in neither code point nor UTF-16 order, so two listings cannot be compared side by side. Nothing was concluded from it; report this backend's listing order (a driver must list in code point order, see compareNames).`,
      );
    }
    this.last = name;
  }

  /** Whether this listing can no longer yield `name`. */
  passed(name: string): boolean {
    if (this.done) return true;
    const last = this.last;
    if (last === undefined) return false;
    return this.orders.every(({ compare }) => compare(name, last) < 0);
  }

  /** The order the listing turned out to be in. */
  get order(): ListingOrder | "either" {
    if (this.orders.length > 1) return "either";
    return this.orders[0]!.order;
  }
}

export interface JoinStats {
  /** What each listing's order turned out to be ("either": no name told them apart). */
  sourceOrder: ListingOrder | "either";
  destinationOrder: ListingOrder | "either";
  /** Most entries held unmatched at once, both sides together (the join's memory). */
  peakPending: number;
}

/**
 * Every name of either listing exactly once, with the entry of each side, in batches (one per page
 * read: an await per page, not per file, keeps a million-file comparison cheap). Names are compared
 * as given (make them relative to the compared folders first). `stats` is filled in as it goes.
 */
export async function* joinListings(
  sourceListing: AsyncIterable<readonly ListedFile[]>,
  destinationListing: AsyncIterable<readonly ListedFile[]>,
  stats?: JoinStats,
): AsyncGenerator<JoinedFile[]> {
  const source = new Side(sourceListing, "source");
  const destination = new Side(destinationListing, "destination");
  const unmatched = (side: Side, other: Side, out: JoinedFile[]) => {
    for (const [name, entry] of side.pending) {
      if (!other.passed(name)) break;
      side.pending.delete(name);
      out.push(
        side === source
          ? { name, source: entry, destination: undefined }
          : { name, source: undefined, destination: entry },
      );
    }
  };
  try {
    while (!(source.done && destination.done)) {
      const side = nextSide(source, destination);
      const other = side === source ? destination : source;
      const result = await side.iterator.next();
      const out: JoinedFile[] = [];
      if (result.done) side.done = true;
      else {
        for (const entry of result.value) {
          side.observe(entry.name);
          const match = other.pending.get(entry.name);
          if (match !== undefined) {
            other.pending.delete(entry.name);
            out.push(
              side === source
                ? { name: entry.name, source: entry, destination: match }
                : { name: entry.name, source: match, destination: entry },
            );
          } else side.pending.set(entry.name, entry);
          // Entries of the other side this one has now passed have no match: out, as early as
          // possible, so the window stays the skew between the listings.
          if (other.pending.size > 0) unmatched(other, side, out);
        }
      }
      if (stats) {
        stats.sourceOrder = source.order;
        stats.destinationOrder = destination.order;
        stats.peakPending = Math.max(stats.peakPending, source.pending.size + destination.pending.size);
      }
      unmatched(other, side, out);
      unmatched(side, other, out);
      if (out.length > 0) yield out;
    }
  } finally {
    // Stopped early (an abort, a listing error): let both listings release what they hold.
    await Promise.allSettled([source.iterator.return?.(), destination.iterator.return?.()]);
  }
}
/** The side to read next: the one that is behind (an unstarted one first), or the one not done. */
function nextSide(a: Side, b: Side): Side {
  if (a.done) return b;
  if (b.done) return a;
  if (a.last === undefined) return a;
  if (b.last === undefined) return b;
  return compareNames(a.last, b.last) <= 0 ? a : b;
}
