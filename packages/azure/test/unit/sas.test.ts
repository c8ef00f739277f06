import { StorageSharedKeyCredential, type UserDelegationKey } from "@azure/storage-blob";
import { describe, expect, it } from "vitest";
import {
  DELEGATION_KEY_RENEW_MARGIN_MS,
  DelegationKeyCache,
  MAX_DELEGATION_KEY_LIFETIME_MS,
  signBlobSas,
} from "../../src/sas.js";

const HOUR = 3600_000;
const DAY = 24 * HOUR;

function fakeKey(startsOn: Date, expiresOn: Date, n: number): UserDelegationKey {
  return {
    signedObjectId: "11111111-1111-1111-1111-111111111111",
    signedTenantId: "22222222-2222-2222-2222-222222222222",
    signedStartsOn: startsOn,
    signedExpiresOn: expiresOn,
    signedService: "b",
    signedVersion: "2025-01-05",
    value: Buffer.alloc(32, n).toString("base64"),
  };
}

function fakeClockCache(lifetimeMs?: number) {
  let now = Date.parse("2025-06-01T00:00:00Z");
  const requests: Array<{ startsOn: Date; expiresOn: Date }> = [];
  const cache = new DelegationKeyCache(
    async (startsOn, expiresOn) => {
      requests.push({ startsOn, expiresOn });
      await new Promise((r) => setTimeout(r, 1));
      return fakeKey(startsOn, expiresOn, requests.length);
    },
    { lifetimeMs, now: () => now },
  );
  return {
    cache,
    requests,
    advance: (ms: number) => {
      now += ms;
    },
    at: (ms: number) => new Date(now + ms),
  };
}

describe("user delegation key cache", () => {
  it("concurrent signers share one key request", async () => {
    const { cache, requests, at } = fakeClockCache();
    const keys = await Promise.all(Array.from({ length: 20 }, () => cache.get(at(HOUR))));
    expect(requests).toHaveLength(1);
    expect(new Set(keys).size).toBe(1);
  });

  it("reuses the key while it outlives the SAS, renews before a SAS could outlive it", async () => {
    const { cache, requests, advance, at } = fakeClockCache(DAY);
    const first = await cache.get(at(HOUR));
    expect(requests[0]?.expiresOn.getTime()).toBe(at(DAY).getTime());
    advance(20 * HOUR);
    expect(await cache.get(at(HOUR))).toBe(first); // 21 h + margin < 24 h: still good
    advance(2 * HOUR + 58 * 60_000); // key expires in 62 min: a 1 h SAS + the 5 min margin would outlive it
    const renewed = await cache.get(at(HOUR));
    expect(renewed).not.toBe(first);
    expect(requests).toHaveLength(2);
  });

  it("a SAS longer than the cached key's lifetime gets a key that covers it (plus the margin)", async () => {
    const { cache, requests, at } = fakeClockCache(HOUR);
    await cache.get(at(30 * 60_000));
    await cache.get(at(3 * DAY));
    expect(requests).toHaveLength(2);
    expect(requests[1]?.expiresOn.getTime()).toBe(at(3 * DAY + DELEGATION_KEY_RENEW_MARGIN_MS).getTime());
  });

  it("never asks for a key valid longer than 7 days, and refuses a SAS that would need one", async () => {
    const { cache, requests, at } = fakeClockCache(30 * DAY);
    await cache.get(at(HOUR));
    expect(requests[0]!.expiresOn.getTime() - requests[0]!.startsOn.getTime()).toBeLessThanOrEqual(
      MAX_DELEGATION_KEY_LIFETIME_MS,
    );
    await expect(cache.get(at(7 * DAY))).rejects.toThrow(/at most 7 days/);
  });

  it("a failed request is not cached: the next call asks again", async () => {
    let calls = 0;
    const cache = new DelegationKeyCache(async (startsOn, expiresOn) => {
      calls++;
      if (calls === 1) throw new Error("token endpoint down");
      return fakeKey(startsOn, expiresOn, calls);
    });
    await expect(cache.get(new Date(Date.now() + HOUR))).rejects.toThrow("token endpoint down");
    await expect(cache.get(new Date(Date.now() + HOUR))).resolves.toBeDefined();
    expect(calls).toBe(2);
  });

  it("one caller's abort does not fail the shared request for the others", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const cache = new DelegationKeyCache(async (s, e) => {
      await gate;
      return fakeKey(s, e, 1);
    });
    const controller = new AbortController();
    const aborted = cache.get(new Date(Date.now() + HOUR), controller.signal);
    const patient = cache.get(new Date(Date.now() + HOUR));
    controller.abort();
    await expect(aborted).rejects.toMatchObject({ code: "E_ABORTED" });
    release();
    await expect(patient).resolves.toMatchObject({ signedService: "b" });
  });
});

describe("SAS query strings", () => {
  const credential = new StorageSharedKeyCredential("acct", Buffer.alloc(64, 3).toString("base64"));
  const expiresOn = new Date("2030-01-01T00:00:00Z");

  it("a read SAS with response overrides carries rscd/rsct, sp=r, no start time, https only", async () => {
    const sas = new URLSearchParams(
      await signBlobSas(
        { kind: "sharedKey", credential },
        "media",
        {
          blobName: "p/a b.pdf",
          permissions: "r",
          expiresOn,
          contentDisposition: 'attachment; filename="a b.pdf"',
          contentType: "application/pdf",
        },
        { httpsOnly: true },
      ),
    );
    expect(sas.get("sp")).toBe("r");
    expect(sas.get("sr")).toBe("b");
    expect(sas.get("spr")).toBe("https");
    expect(sas.get("st")).toBeNull();
    expect(sas.get("se")).toBe("2030-01-01T00:00:00Z");
    expect(sas.get("rscd")).toBe('attachment; filename="a b.pdf"');
    expect(sas.get("rsct")).toBe("application/pdf");
    expect(sas.get("sig")).toMatch(/^[A-Za-z0-9+/]+=*$/);
  });

  it("an upload SAS has create+write only; http allowed only for an http endpoint (Azurite)", async () => {
    const sas = new URLSearchParams(
      await signBlobSas(
        { kind: "sharedKey", credential },
        "media",
        { blobName: "u", permissions: "cw", expiresOn },
        { httpsOnly: false },
      ),
    );
    expect(sas.get("sp")).toBe("cw");
    expect(sas.get("spr")).toBe("https,http");
  });

  it("a user delegation SAS names the key (skoid, sktid, ske) and is signed with it", async () => {
    const cache = new DelegationKeyCache(async (s, e) => fakeKey(s, e, 9));
    const sas = new URLSearchParams(
      await signBlobSas(
        { kind: "userDelegation", cache, accountName: "acct" },
        "media",
        { blobName: "x", permissions: "r", expiresOn: new Date(Date.now() + HOUR) },
        { httpsOnly: true },
      ),
    );
    expect(sas.get("skoid")).toBe("11111111-1111-1111-1111-111111111111");
    expect(sas.get("sktid")).toBe("22222222-2222-2222-2222-222222222222");
    expect(sas.get("sks")).toBe("b");
    expect(sas.get("ske")).not.toBeNull();
    expect(sas.get("sig")).not.toBeNull();
  });
});
