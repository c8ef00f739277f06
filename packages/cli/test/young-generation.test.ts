/**
 * The young-generation cap of copy/sync/verify, in a fresh Node (a test runner's own heap has grown
 * already): under an allocation that keeps objects alive for a while, the young generation stops at
 * the cap instead of doubling on to V8's maximum.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const MODULE = fileURLToPath(new URL("../src/young-generation.ts", import.meta.url));

/** The young generation's size (MiB) after 300 rounds of allocation, with or without the cap. */
function youngAfterAllocating(capped: boolean): number {
  const script = `
    import { getHeapSpaceStatistics } from "node:v8";
    const { capYoungGeneration } = await import(${JSON.stringify(MODULE)});
    if (${capped}) capYoungGeneration();
    const alive = [];
    // A fixed amount of allocation, not a time: a loaded machine must not allocate less (uncapped,
    // the young generation reaches V8's maximum within ~50 rounds).
    for (let round = 0; round < 300; round++) {
      for (let i = 0; i < 20000; i++) alive.push({ i, s: "x" + i, list: [i, i + 1] });
      if (alive.length > 200000) alive.splice(0, 100000);
      await new Promise((resolve) => setTimeout(resolve, 1)); // lets the cap's timer run
    }
    const young = getHeapSpaceStatistics().find((s) => s.space_name === "new_space");
    console.log(young.space_size / 1048576);
  `;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  return Number(out.trim());
}

describe("capYoungGeneration", () => {
  it("stops the young generation near 8 MiB (a growth between two polls may double it), not at V8's maximum", () => {
    expect(youngAfterAllocating(false)).toBeGreaterThanOrEqual(64); // uncapped: 128 MiB here
    expect(youngAfterAllocating(true)).toBeLessThanOrEqual(32); // capped: 16 MiB here
  });
});
