/**
 * A cap on V8's young generation for the long-running commands (copy, sync, verify, collectstatic).
 *
 * Under a migration's steady allocation V8 doubles the young generation again and again, up to its
 * default maximum (64 MiB a semi-space on a large machine): that growth was most of a copy's
 * memory beyond the loaded CLI (fs → fs 100 MiB peak RSS, of which ~25 MiB young generation; fs →
 * S3 ~200 MiB). collectstatic's run keeps much of what it allocates (digests, references, plans)
 * until the manifest is written, so the young generation grew with the number of files: a 32 MiB
 * new space for the bench corpus (2,122 files), 128 MiB for four copies of it.
 * `--max-semi-space-size` can only be given when Node starts, but the growth factor
 * is read at each growth: set to 1 once the young generation reaches YOUNG_CAP, it stops there (or
at the next doubling, when one comes between two polls: 16 MiB measured).
 * Not smaller: a 2 MiB young generation cost 15–25 % more CPU per S3 upload in scavenges, 8 MiB
 * measured none.
 */
import { getHeapSpaceStatistics, setFlagsFromString } from "node:v8";

const YOUNG_CAP = 8 * 1024 * 1024;
const POLL_MS = 20;

let capped = false;

/** Starts watching (once per process); the young generation stops growing at YOUNG_CAP. */
export function capYoungGeneration(): void {
  if (capped) return;
  capped = true;
  const timer = setInterval(() => {
    const young = getHeapSpaceStatistics().find((space) => space.space_name === "new_space");
    if (young === undefined || young.space_size < YOUNG_CAP) return;
    setFlagsFromString("--semi-space-growth-factor=1");
    clearInterval(timer);
  }, POLL_MS);
  timer.unref();
}
